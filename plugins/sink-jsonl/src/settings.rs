//! The sink's settings, as the host passes them (string pairs).
//!
//! | key | meaning |
//! |---|---|
//! | `path` | the file the events are appended to (required; created if missing, its directory must exist) |
//! | `fsync` | `false` (default) or `true`: `flush` also syncs the file's data to disk |
//!
//! Any other key is refused, naming it.

use std::path::PathBuf;

use ixn_plugin_api::sink::{SettingProblem, SinkError};

/// Parsed settings of a JSON Lines sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The file the lines go to.
    pub path: PathBuf,
    /// Whether `flush` calls `sync_data`.
    pub fsync: bool,
}

impl Settings {
    /// Parses the host's string pairs.
    pub fn parse(pairs: &[(String, String)]) -> Result<Settings, SinkError> {
        Settings::read(pairs, &mut |_, e| Err(e))
    }

    /// Every problem with the pairs, each with its key.
    pub fn problems(pairs: &[(String, String)]) -> Vec<SettingProblem> {
        let mut problems = Vec::new();
        let _ = Settings::read(pairs, &mut |key, e| {
            problems.push(SettingProblem::new(key, e.message));
            Ok(())
        });
        problems
    }

    /// Reads the pairs; each problem goes to `problem` (with its key), which
    /// stops the reading by answering `Err`.
    fn read(
        pairs: &[(String, String)],
        problem: &mut dyn FnMut(&str, SinkError) -> Result<(), SinkError>,
    ) -> Result<Settings, SinkError> {
        let mut path = None;
        let mut fsync = false;
        for (key, value) in pairs {
            let read = match key.as_str() {
                "path" if value.trim().is_empty() => {
                    Err(bad("`path` must name the file to append to"))
                }
                "path" => {
                    path = Some(PathBuf::from(value));
                    Ok(())
                }
                "fsync" => match value.trim().to_ascii_lowercase().as_str() {
                    "true" => {
                        fsync = true;
                        Ok(())
                    }
                    "false" => {
                        fsync = false;
                        Ok(())
                    }
                    _ => Err(bad(format!(
                        "`fsync` is `{value}`, expected `true` or `false`"
                    ))),
                },
                _ if key.contains("custom-data") || key.starts_with("custom-customdata") => {
                    Err(bad(format!(
                        "`{key}`: a jsonl sink writes every field of an event as it is; custom-data mappings are for the event-log (sql) sink"
                    )))
                }
                _ => Err(bad(format!("unknown setting `{key}`"))),
            };
            if let Err(e) = read {
                problem(key, e)?;
            }
        }
        if path.is_none() && !pairs.iter().any(|(k, _)| k == "path") {
            problem(
                "path",
                bad("the setting `path` (the file to append to) is required"),
            )?;
        }
        Ok(Settings {
            path: path.unwrap_or_default(),
            fsync,
        })
    }
}

fn bad(message: impl Into<String>) -> SinkError {
    SinkError::permanent(format!("jsonl sink settings: {}", message.into()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_and_refuses() {
        let s = Settings::parse(&pairs(&[("path", "a.jsonl")])).unwrap();
        assert_eq!(
            s,
            Settings {
                path: "a.jsonl".into(),
                fsync: false
            }
        );
        assert!(
            Settings::parse(&pairs(&[("path", "a"), ("fsync", "TRUE")]))
                .unwrap()
                .fsync
        );
        for (items, needle) in [
            (&[][..], "`path`"),
            (&[("path", "")][..], "`path`"),
            (&[("path", "a"), ("fsync", "1")][..], "`fsync`"),
            (
                &[("path", "a"), ("rotate", "daily")][..],
                "unknown setting `rotate`",
            ),
        ] {
            let e = Settings::parse(&pairs(items)).unwrap_err();
            assert_eq!(e.kind, ixn_plugin_api::sink::ErrorKind::Permanent);
            assert!(e.message.contains(needle), "{}", e.message);
        }
    }
}
