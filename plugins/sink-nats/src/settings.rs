//! The NATS sink's settings.
//!
//! | key | meaning |
//! |---|---|
//! | `url` | the server, `nats://host:port` (required), or `tls://host:port` over TLS (needs `tls`) |
//! | `tls` | `{ ca-file, cert-file, key-file }`: see [`ixn_broker::tls`]; with it, `nats://` URLs use TLS too |
//! | `delivery-queue-name` | the subject events are published on (from `logger-settings`) |
//! | `recoverable` | `true`: the stream keeps messages in files, `false`: in memory (from `logger-settings`) |
//! | `stream` | the JetStream stream that holds the subject (default: the subject in capitals, `.`/`*`/`>` as `_`) |
//! | `create-stream` | create the stream when it is missing (default `true`) |
//! | `duplicate-window` | seconds the stream remembers message ids to drop copies (1–86400, default 120; used when the sink creates the stream) |
//! | `max-age` | seconds the stream keeps a message, 0 for ever (default 0; used when the sink creates the stream) |
//! | `connect-timeout`, `publish-timeout` | see [`ixn_broker::settings`] |

use ixn_broker::settings::{BrokerSettings, default_connect_timeout, default_publish_timeout};
use ixn_broker::tls::TlsFiles;
use ixn_plugin_api::sink::SettingProblem;
use serde::Deserialize;

/// Parsed settings of a NATS sink.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    /// The server.
    pub url: String,
    /// The subject.
    pub delivery_queue_name: String,
    /// File storage.
    #[serde(default)]
    pub recoverable: bool,
    /// The stream.
    #[serde(default)]
    pub stream: Option<String>,
    /// Whether a missing stream is created.
    #[serde(default = "yes")]
    pub create_stream: bool,
    /// Seconds of deduplication.
    #[serde(default = "default_window")]
    pub duplicate_window: u64,
    /// Seconds a message is kept; 0: for ever.
    #[serde(default)]
    pub max_age: u64,
    /// Milliseconds a connection attempt may take.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: u64,
    /// Milliseconds a batch may wait for its acks.
    #[serde(default = "default_publish_timeout")]
    pub publish_timeout: u64,
    /// TLS files: the connection then requires TLS.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
}

fn yes() -> bool {
    true
}

fn default_window() -> u64 {
    120
}

impl BrokerSettings for Settings {
    const SINK: &'static str = "nats";
    const SCHEMES: &'static [&'static str] = &["nats", "tls"];

    fn url(&self) -> &str {
        &self.url
    }
    fn connect_timeout_ms(&self) -> u64 {
        self.connect_timeout
    }
    fn publish_timeout_ms(&self) -> u64 {
        self.publish_timeout
    }

    fn check(&self, problems: &mut Vec<SettingProblem>) {
        let subject = &self.delivery_queue_name;
        if subject.is_empty()
            || subject.contains(['*', '>', ' '])
            || subject.split('.').any(str::is_empty)
        {
            problems.push(SettingProblem::new(
                "delivery-queue-name",
                format!("`{subject}` is not a subject to publish on: want tokens separated by `.`, no wildcards or spaces"),
            ));
        }
        if let Some(stream) = &self.stream
            && (stream.is_empty() || stream.contains(['.', '*', '>', ' ', '/', '\\']))
        {
            problems.push(SettingProblem::new(
                "stream",
                format!("`{stream}` is not a stream name: no `.`, `*`, `>`, `/`, `\\` or spaces"),
            ));
        }
        if self.max_age != 0 && self.max_age < self.duplicate_window {
            problems.push(SettingProblem::new(
                "max-age",
                format!(
                    "{} s is shorter than duplicate-window ({} s): want 0 (for ever) or at least the window",
                    self.max_age, self.duplicate_window
                ),
            ));
        }
        // With `tls`, the client requires TLS whatever the scheme.
        problems.extend(TlsFiles::check(self.tls.as_ref(), &self.url, "tls", true));
        if !(1..=86_400).contains(&self.duplicate_window) {
            problems.push(SettingProblem::new(
                "duplicate-window",
                format!(
                    "{} is out of range: want 1..=86400 (seconds)",
                    self.duplicate_window
                ),
            ));
        }
    }
}

impl Settings {
    /// The stream's name.
    pub fn stream_name(&self) -> String {
        self.stream.clone().unwrap_or_else(|| {
            self.delivery_queue_name
                .chars()
                .map(|c| match c {
                    '.' | '*' | '>' | ' ' => '_',
                    c => c.to_ascii_uppercase(),
                })
                .collect()
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn parses_with_defaults_and_refuses_naming_the_key() {
        let s = Settings::parse(
            r#"{"url": "nats://127.0.0.1:4222", "delivery-queue-name": "ixn.events.demo"}"#,
        )
        .unwrap();
        assert_eq!(s.stream_name(), "IXN_EVENTS_DEMO");
        assert_eq!(s.duplicate_window, 120);
        assert!(s.create_stream && !s.recoverable);
        for (doc, key) in [
            (
                r#"{"url": "nats://x", "delivery-queue-name": "a.*"}"#,
                "delivery-queue-name",
            ),
            (
                r#"{"url": "nats://x", "delivery-queue-name": "a..b"}"#,
                "delivery-queue-name",
            ),
            (
                r#"{"url": "nats://x", "delivery-queue-name": "a", "stream": "a.b"}"#,
                "stream",
            ),
            (
                r#"{"url": "nats://x", "delivery-queue-name": "a", "duplicate-window": 0}"#,
                "duplicate-window",
            ),
            (r#"{"url": "amqp://x", "delivery-queue-name": "a"}"#, "url"),
            (r#"{"url": "tls://x", "delivery-queue-name": "a"}"#, "tls"),
            (
                r#"{"url": "nats://x", "delivery-queue-name": "a", "tls": {"key-file": "k"}}"#,
                "tls.ca-file",
            ),
            (
                r#"{"url": "nats://x", "delivery-queue-name": "a", "connect-timeout": 99}"#,
                "connect-timeout",
            ),
        ] {
            let problems = Settings::problems(doc);
            assert_eq!(problems.len(), 1, "{doc}: {problems:?}");
            assert_eq!(problems[0].key, key, "{doc}");
        }
    }
}
