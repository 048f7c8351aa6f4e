//! `ixn-sink-jsonl`: the event logger's reporting events as JSON Lines in a file.
//!
//! Each record becomes one line (see [`ixn_plugin_api::event_json`] for the format); a batch is
//! appended with a single write, so it lands whole or, if the write fails, is
//! cut back off the file. `stored_count` is the number of lines in the file:
//! counted once at open, then kept up to date, so asking is O(1).
#![deny(missing_docs)]

use std::fs::File;
use std::io::Write;
use std::sync::{Mutex, MutexGuard, PoisonError};

use ixn_plugin_api::sink::{EventRecord, SettingProblem, Sink, SinkError};

pub mod file;
pub mod settings;

use file::io_error;
use settings::Settings;

ixn_plugin_api::export_sink_plugin!(ixn_plugin_entry_jsonl, "jsonl", JsonlSink);

/// The JSON Lines sink: an open file appended to.
pub struct JsonlSink {
    settings: Settings,
    state: Mutex<State>,
}

struct State {
    file: File,
    /// Lines in the file.
    lines: u64,
}

impl JsonlSink {
    /// The parsed settings this sink was opened with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The state; a panic elsewhere while holding the lock leaves it consistent
    /// (the counter only moves after a complete write), so poison is ignored.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Sink for JsonlSink {
    fn validate(settings: &str) -> Vec<SettingProblem> {
        Settings::problems(settings)
    }

    /// Parses the settings and opens the file for appending, counting its lines.
    fn open(document: String) -> Result<Self, SinkError> {
        let settings = Settings::parse(&document)?;
        let opened = file::open_append(&settings.path)?;
        Ok(JsonlSink {
            settings,
            state: Mutex::new(State {
                file: opened.file,
                lines: opened.lines,
            }),
        })
    }

    /// Encodes the batch, then appends it with one write under the lock.
    fn write(&self, batch: Vec<EventRecord>) -> Result<(), SinkError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(batch.len() * 256);
        for record in &batch {
            ixn_plugin_api::event_json::encode_into(&mut buf, record).map_err(|e| {
                SinkError::permanent(format!(
                    "jsonl sink: encoding event {} (sequence {}): {e}",
                    record.event_name, record.sequence
                ))
            })?;
            buf.push(b'\n');
        }
        let path = &self.settings.path;
        let mut state = self.state();
        let before = state
            .file
            .metadata()
            .map_err(|e| io_error("reading the size of", path, e))?
            .len();
        if let Err(e) = state.file.write_all(&buf) {
            // All or nothing: take a partly written batch back off the file.
            let _ = state.file.set_len(before);
            return Err(io_error(
                &format!("appending {} records to", batch.len()),
                path,
                e,
            ));
        }
        state.lines += batch.len() as u64;
        Ok(())
    }

    /// Flushes the file, and syncs its data to disk when `fsync` is set.
    fn flush(&self) -> Result<(), SinkError> {
        let path = &self.settings.path;
        let mut state = self.state();
        state
            .file
            .flush()
            .map_err(|e| io_error("flushing", path, e))?;
        if self.settings.fsync {
            state
                .file
                .sync_data()
                .map_err(|e| io_error("syncing", path, e))?;
        }
        Ok(())
    }

    /// The number of lines in the file.
    fn stored_count(&self) -> Result<Option<u64>, SinkError> {
        Ok(Some(self.state().lines))
    }
}
