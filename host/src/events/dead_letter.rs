//! A logger's dead-letter file: the records its sink refused for good (a
//! bad mapping, a message too large), one JSON line each with the reason,
//! instead of dropping them.
//!
//! `{"logger":..,"reason":..,"dead_lettered_at":ms,"event":{..}}`, the
//! event in the format of `wit/sink/event.schema.json`. The file is
//! `${data-dir}/dead-letter/<logger>.jsonl`; an operator fixes the cause
//! and replays the events from it.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use ixn_plugin_api::sink::EventRecord;

/// Appends refused records to a logger's dead-letter file.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    logger: String,
    path: PathBuf,
}

impl DeadLetter {
    /// The dead-letter file of `logger` in `dir`.
    pub fn new(dir: &Path, logger: &str) -> Self {
        DeadLetter {
            logger: logger.to_string(),
            path: dir.join(format!("{}.jsonl", file_name(logger))),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` with `reason` and syncs it.
    pub fn put(&self, record: &EventRecord, reason: &str) -> std::io::Result<()> {
        let event = ixn_plugin_api::event_json::encode(record).map_err(std::io::Error::other)?;
        let event: serde_json::Value =
            serde_json::from_slice(&event).map_err(std::io::Error::other)?;
        let mut line = serde_json::to_vec(&serde_json::json!({
            "logger": self.logger,
            "reason": reason,
            "dead_lettered_at": crate::time::now_ms(),
            "event": event,
        }))
        .map_err(std::io::Error::other)?;
        line.push(b'\n');
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        file.write_all(&line)?;
        file.sync_data()
    }
}

/// A logger's name as a file or directory name: anything but letters,
/// digits, `-`, `_` and `.` becomes `_`, so no name reaches outside its directory.
pub fn file_name(logger: &str) -> String {
    let name: String = logger
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.chars().all(|c| c == '.') {
        format!("_{name}")
    } else {
        name
    }
}
