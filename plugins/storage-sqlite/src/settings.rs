//! The `[storage.settings]` keys this backend understands.

use std::path::PathBuf;
use std::time::Duration;

use ixn_plugin_api::storage::{SettingProblem, StorageError};

/// Parsed backend settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `path`: the database file; created when missing, its directory must exist.
    pub path: PathBuf,
    /// `busy-timeout-ms`: how long a statement waits for another writer's lock.
    pub busy_timeout: Duration,
    /// `max-connections`: size of the connection pool.
    pub max_connections: u32,
    /// `max-size-mb`: the most the database file may grow to, in MiB (SQLite's
    /// `max_page_count`); 0, the default, sets no limit. A full database makes
    /// submissions fail as retriable (503) until there is room again.
    pub max_size_mb: u64,
}

/// Default of `busy-timeout-ms`.
pub const DEFAULT_BUSY_TIMEOUT_MS: u64 = 5000;
/// Default of `max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 4;

impl Settings {
    /// Parses the settings pairs; unknown keys and bad values are permanent
    /// errors, and the database file's directory must exist.
    pub fn parse(pairs: &[(String, String)]) -> Result<Settings, StorageError> {
        let settings = Settings::read(pairs, &mut |_, e| Err(e))?;
        let path = &settings.path;
        // SQLite would report a bare "unable to open database file"; say why instead.
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && !parent.is_dir()
        {
            return Err(StorageError::permanent(format!(
                "sqlite database `{}`: directory `{}` does not exist",
                path.display(),
                parent.display()
            )));
        }
        Ok(settings)
    }

    /// Every problem with the pairs, each with its key, touching no file
    /// (`validate`: the data directory may not exist yet).
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
        problem: &mut dyn FnMut(&str, StorageError) -> Result<(), StorageError>,
    ) -> Result<Settings, StorageError> {
        let mut path = None;
        let mut busy_timeout_ms = DEFAULT_BUSY_TIMEOUT_MS;
        let mut max_connections = DEFAULT_MAX_CONNECTIONS;
        let mut max_size_mb = 0;
        for (key, value) in pairs {
            let read = match key.as_str() {
                "path" if value.trim().is_empty() => {
                    Err(StorageError::permanent("sqlite setting `path` is empty"))
                }
                "path" => {
                    path = Some(PathBuf::from(value));
                    Ok(())
                }
                "busy-timeout-ms" => number(key, value).map(|n| busy_timeout_ms = n),
                "max-size-mb" => number(key, value).map(|n| max_size_mb = n),
                "max-connections" => match number(key, value) {
                    Ok(0) => Err(StorageError::permanent(
                        "sqlite setting `max-connections` must be at least 1",
                    )),
                    Ok(n) => {
                        max_connections = n;
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
                other => Err(StorageError::permanent(format!(
                    "unknown sqlite setting `{other}` (known: path, busy-timeout-ms, max-connections, max-size-mb)"
                ))),
            };
            if let Err(e) = read {
                problem(key, e)?;
            }
        }
        if path.is_none() && !pairs.iter().any(|(k, _)| k == "path") {
            problem(
                "path",
                StorageError::permanent("sqlite setting `path` is required (the database file)"),
            )?;
        }
        Ok(Settings {
            path: path.unwrap_or_default(),
            busy_timeout: Duration::from_millis(busy_timeout_ms),
            max_connections,
            max_size_mb,
        })
    }
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, StorageError>
where
    T::Err: std::fmt::Display,
{
    value
        .trim()
        .parse()
        .map_err(|e| StorageError::permanent(format!("sqlite setting `{key}` = `{value}`: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_and_overrides() {
        let s = Settings::parse(&pairs(&[("path", "x.db")])).unwrap();
        assert_eq!(s.busy_timeout, Duration::from_millis(5000));
        assert_eq!(s.max_connections, 4);
        let s = Settings::parse(&pairs(&[
            ("path", "x.db"),
            ("busy-timeout-ms", "10"),
            ("max-connections", "2"),
        ]))
        .unwrap();
        assert_eq!(s.busy_timeout, Duration::from_millis(10));
        assert_eq!(s.max_connections, 2);
    }

    #[test]
    fn refusals() {
        let e = Settings::parse(&pairs(&[("path", "x.db"), ("jurnal", "wal")])).unwrap_err();
        assert!(e.message.contains("`jurnal`"), "{e}");
        assert!(Settings::parse(&[]).unwrap_err().message.contains("`path`"));
        assert!(Settings::parse(&pairs(&[("path", "x.db"), ("max-connections", "0")])).is_err());
        assert!(Settings::parse(&pairs(&[("path", "x.db"), ("busy-timeout-ms", "soon")])).is_err());
        let e = Settings::parse(&pairs(&[("path", "/no/such/dir/x.db")])).unwrap_err();
        assert!(e.message.contains("does not exist"), "{e}");
    }
}
