//! The AMQP sink's settings.
//!
//! | key | meaning |
//! |---|---|
//! | `url` | the broker, `amqp://user:password@host:port/vhost` (required), or `amqps://…` over TLS (needs `tls`) |
//! | `tls` | `{ ca-file, cert-file, key-file }`: see [`ixn_broker::tls`]; only with an `amqps://` URL |
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
use ixn_broker::tls::TlsFiles;
use ixn_plugin_api::sink::SettingProblem;
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
    /// TLS files, for `amqps://`.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
}

fn yes() -> bool {
    true
}

impl BrokerSettings for Settings {
    const SINK: &'static str = "amqp";
    const SCHEMES: &'static [&'static str] = &["amqp", "amqps"];

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
        if self.delivery_queue_name.is_empty() {
            problems.push(SettingProblem::new(
                "delivery-queue-name",
                "is empty: name the queue events go to",
            ));
        }
        // lapin chooses TLS by the scheme alone: the two must agree.
        problems.extend(TlsFiles::check(
            self.tls.as_ref(),
            &self.url,
            "amqps",
            false,
        ));
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
            (r#"{"url": "amqps://x", "delivery-queue-name": "q"}"#, "tls"),
            (
                r#"{"url": "amqp://x", "delivery-queue-name": "q", "tls": {"ca-file": "ca.pem"}}"#,
                "tls",
            ),
            (
                r#"{"url": "amqps://x", "delivery-queue-name": "q", "tls": {"ca-file": "ca.pem", "cert-file": "c.pem"}}"#,
                "tls.key-file",
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
