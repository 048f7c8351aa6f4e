//! The MQTT sink's settings.
//!
//! | key | meaning |
//! |---|---|
//! | `url` | the broker, `mqtt://host:port` (required; port 1883 when left out), or `mqtts://host:port` over TLS (port 8883 when left out; needs `tls`) |
//! | `tls` | `{ ca-file, cert-file, key-file }`: see [`ixn_broker::tls`]; with it, `mqtt://` URLs use TLS too |
//! | `delivery-queue-name` | the topic events are published on (from `logger-settings`) |
//! | `recoverable` | `true`: QoS 1, each message acknowledged by the broker; `false`: QoS 0 (from `logger-settings`) |
//! | `client-id` | the MQTT client id (default: `ixn-` and a unique suffix); two connections with one id push each other off |
//! | `username`, `password` | credentials, when the broker wants them |
//! | `max-message-size` | bytes a message may have (1024–268435455, default 1048576); a larger event is refused as permanent |
//! | `connect-timeout`, `publish-timeout` | see [`ixn_broker::settings`] |

use ixn_broker::settings::{BrokerSettings, default_connect_timeout, default_publish_timeout};
use ixn_broker::tls::TlsFiles;
use ixn_plugin_api::sink::SettingProblem;
use serde::Deserialize;

/// Parsed settings of an MQTT sink.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    /// The broker.
    pub url: String,
    /// The topic.
    pub delivery_queue_name: String,
    /// QoS 1.
    #[serde(default)]
    pub recoverable: bool,
    /// The client id.
    #[serde(default)]
    pub client_id: Option<String>,
    /// User name.
    #[serde(default)]
    pub username: Option<String>,
    /// Password.
    #[serde(default)]
    pub password: Option<String>,
    /// Largest message.
    #[serde(default = "default_max_message")]
    pub max_message_size: usize,
    /// TLS to the broker.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
    /// Milliseconds a connection attempt may take.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: u64,
    /// Milliseconds a batch may wait for its acks.
    #[serde(default = "default_publish_timeout")]
    pub publish_timeout: u64,
}

fn default_max_message() -> usize {
    1 << 20
}

impl BrokerSettings for Settings {
    const SINK: &'static str = "mqtt";
    const SCHEMES: &'static [&'static str] = &["mqtt", "tcp", "mqtts"];

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
        // With `tls`, `mqtt://` URLs use TLS too.
        problems.extend(TlsFiles::check(self.tls.as_ref(), &self.url, "mqtts", true));
        if problems.is_empty()
            && let Err(e) = self.host_port()
        {
            problems.push(SettingProblem::new("url", e));
        }
        let topic = &self.delivery_queue_name;
        if topic.is_empty() || topic.contains(['+', '#', '\0']) {
            problems.push(SettingProblem::new(
                "delivery-queue-name",
                format!(
                    "`{topic}` is not a topic to publish on: no wildcards (`+`, `#`), not empty"
                ),
            ));
        }
        if !(1024..=268_435_455).contains(&self.max_message_size) {
            problems.push(SettingProblem::new(
                "max-message-size",
                format!(
                    "{} is out of range: want 1024..=268435455 (bytes)",
                    self.max_message_size
                ),
            ));
        }
        if self.password.is_some() && self.username.is_none() {
            problems.push(SettingProblem::new("password", "is set without `username`"));
        }
    }
}

impl Settings {
    /// Whether the URL asks for TLS (`mqtts://`).
    pub fn tls_scheme(&self) -> bool {
        self.url.starts_with("mqtts://")
    }

    /// Host and port of `url`.
    pub fn host_port(&self) -> Result<(String, u16), String> {
        let (rest, default_port) = match self.url.split_once("://") {
            Some(("mqtt" | "tcp", rest)) => (rest, 1883),
            Some(("mqtts", rest)) => (rest, 8883),
            _ => return Err(format!("`{}` is not an mqtt:// or mqtts:// URL", self.url)),
        };
        let authority = rest.split('/').next().unwrap_or_default();
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse::<u16>()
                    .map_err(|_| format!("`{port}` in `{}` is not a port", self.url))?,
            ),
            None => (authority, default_port),
        };
        if host.is_empty() {
            return Err(format!("`{}` names no host", self.url));
        }
        Ok((host.to_string(), port))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn parses_with_defaults_and_refuses_naming_the_key() {
        let s =
            Settings::parse(r#"{"url": "mqtt://127.0.0.1", "delivery-queue-name": "ixn/events"}"#)
                .unwrap();
        assert_eq!(s.host_port().unwrap(), ("127.0.0.1".to_string(), 1883));
        assert_eq!(s.max_message_size, 1 << 20);
        for (doc, key) in [
            (
                r#"{"url": "mqtt://h:x", "delivery-queue-name": "t"}"#,
                "url",
            ),
            (
                r#"{"url": "mqtt://:1883", "delivery-queue-name": "t"}"#,
                "url",
            ),
            (r#"{"url": "nats://h", "delivery-queue-name": "t"}"#, "url"),
            (
                r#"{"url": "mqtt://h", "delivery-queue-name": "ixn/+"}"#,
                "delivery-queue-name",
            ),
            (
                r#"{"url": "mqtt://h", "delivery-queue-name": "t", "max-message-size": 10}"#,
                "max-message-size",
            ),
            (
                r#"{"url": "mqtt://h", "delivery-queue-name": "t", "password": "p"}"#,
                "password",
            ),
        ] {
            let problems = Settings::problems(doc);
            assert_eq!(problems.len(), 1, "{doc}: {problems:?}");
            assert_eq!(problems[0].key, key, "{doc}");
        }
    }
}
