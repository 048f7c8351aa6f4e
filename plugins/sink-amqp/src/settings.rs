//! The AMQP sink's settings.
//!
//! | key | meaning |
//! |---|---|
//! | `url` | the broker, `amqp://user:password@host:port/vhost` (required) |
//! | `delivery-queue-name` | the queue events go to (from `logger-settings`) |
//! | `recoverable` | `true`: persistent messages (delivery mode 2) and a durable queue, the seed's `DeliveryMode.PERSISTENT` (from `logger-settings`) |
//! | `exchange` | the exchange to publish to, with the queue name as routing key (default `""`, the default exchange: straight to the queue) |
//! | `declare` | declare the queue on each connection (default `true`); `false` to use a queue the broker already has |
//! | `connect-timeout`, `publish-timeout` | see [`ixn_broker::settings`] |
//!
//! Every message is published `mandatory`: a message no queue takes (the
//! queue deleted on the fly, a wrong name) comes back, and the batch fails
//! with that reason instead of vanishing as it did in the original.

use ixn_broker::settings::{BrokerSettings, default_connect_timeout, default_publish_timeout};
use ixn_plugin_api::sink::{SettingProblem, SinkError};
use serde::Deserialize;

/// Parsed settings of an AMQP sink.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    /// The broker.
    pub url: String,
    /// The queue.
    pub delivery_queue_name: String,
    /// Persistent delivery.
    #[serde(default)]
    pub recoverable: bool,
    /// The exchange published to.
    #[serde(default)]
    pub exchange: String,
    /// Whether the queue is declared on connecting.
    #[serde(default = "yes")]
    pub declare: bool,
    /// Milliseconds a connection attempt may take.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: u64,
    /// Milliseconds a batch may wait for its confirms.
    #[serde(default = "default_publish_timeout")]
    pub publish_timeout: u64,
}

fn yes() -> bool {
    true
}

impl BrokerSettings for Settings {
    fn url(&self) -> &str {
        &self.url
    }
    fn connect_timeout_ms(&self) -> u64 {
        self.connect_timeout
    }
    fn publish_timeout_ms(&self) -> u64 {
        self.publish_timeout
    }
}

impl Settings {
    /// Every problem with the document, each with its key.
    pub fn problems(document: &str) -> Vec<SettingProblem> {
        Settings::read(document).err().unwrap_or_default()
    }

    /// Parses the document for `open`: the first problem as a permanent error.
    pub fn parse(document: &str) -> Result<Settings, SinkError> {
        Settings::read(document).map_err(|p| ixn_broker::first_problem("amqp", p))
    }

    fn read(document: &str) -> Result<Settings, Vec<SettingProblem>> {
        ixn_broker::read_settings(document, |s: &Settings| {
            let mut problems = s.common_problems(&["amqp", "amqps"]);
            if s.delivery_queue_name.is_empty() {
                problems.push(SettingProblem::new(
                    "delivery-queue-name",
                    "is empty: name the queue events go to",
                ));
            }
            problems
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
            r#"{"url": "amqp://127.0.0.1:5672/%2f", "delivery-queue-name": "ixn.events"}"#,
        )
        .unwrap();
        assert!(!s.recoverable && s.declare && s.exchange.is_empty());
        assert_eq!((s.connect_timeout, s.publish_timeout), (5000, 10000));
        for (doc, key) in [
            (r#"{"delivery-queue-name": "q"}"#, "url"),
            (r#"{"url": "http://x", "delivery-queue-name": "q"}"#, "url"),
            (r#"{"url": "amqp://x"}"#, "delivery-queue-name"),
            (
                r#"{"url": "amqp://x", "delivery-queue-name": ""}"#,
                "delivery-queue-name",
            ),
            (
                r#"{"url": "amqp://x", "delivery-queue-name": "q", "publish-timeout": 5}"#,
                "publish-timeout",
            ),
            (
                r#"{"url": "amqp://x", "delivery-queue-name": "q", "durable": true}"#,
                "durable",
            ),
        ] {
            let problems = Settings::problems(doc);
            assert_eq!(problems.len(), 1, "{doc}: {problems:?}");
            assert_eq!(problems[0].key, key, "{doc}");
            assert!(
                Settings::parse(doc)
                    .unwrap_err()
                    .message
                    .contains(&format!("`{key}`"))
            );
        }
    }
}
