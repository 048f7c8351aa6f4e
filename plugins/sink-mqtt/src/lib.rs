//! `ixn-sink-mqtt`: reporting events as messages on an MQTT topic.
//!
//! One message per event on the topic `delivery-queue-name`, the record's
//! JSON ([`ixn_plugin_api::event_json`]) as payload. MQTT 3.1.1 has no
//! message id an application can set, so a consumer deduplicates on the
//! payload's `origin` and `sequence`.
//!
//! With `recoverable`, messages go at QoS 1 and `write` returns once the
//! broker acknowledged every one (PUBACK). A batch that fails (broker gone,
//! no ack in time) is sent again whole on a new connection by the event
//! logger, so delivery is **at least once**: copies of the messages acked
//! before the failure arrive again, with the same ids. Without
//! `recoverable`, QoS 0: `write` returns once the messages are written to
//! the socket, and a broker that drops meanwhile loses them, as MQTT says.
#![deny(missing_docs)]

use std::sync::{Mutex, MutexGuard, PoisonError};

use ixn_broker::{BrokerSettings, ClientRuntime};
use ixn_plugin_api::sink::{EventRecord, SettingProblem, Sink, SinkError};

pub mod consume;
mod session;
pub mod settings;

use session::Session;
use settings::Settings;

ixn_plugin_api::export_sink_plugin!(ixn_plugin_entry_mqtt, "mqtt", MqttSink);

/// The MQTT sink: its settings and, while the broker answers, a session.
pub struct MqttSink {
    settings: Settings,
    session: Mutex<Option<Session>>,
    // Last: dropped after the session whose event loop it runs.
    runtime: ClientRuntime,
}

impl MqttSink {
    fn session(&self) -> MutexGuard<'_, Option<Session>> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Sink for MqttSink {
    fn validate(settings: &str) -> Vec<SettingProblem> {
        Settings::problems(settings)
    }

    /// Parses the settings and connects; a broker that does not answer is
    /// not an error here (the first write tries again).
    fn open(document: String) -> Result<Self, SinkError> {
        let settings = Settings::parse(&document)?;
        let runtime = ClientRuntime::new("mqtt")?;
        let session = match runtime.block_on_within(
            settings.connect_timeout(),
            "mqtt sink: connecting",
            Session::connect(&settings),
        ) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(url = %settings.url, error = %e.message, "MQTT broker unreachable at open; the first write connects again.");
                None
            }
        };
        Ok(MqttSink {
            settings,
            session: Mutex::new(session),
            runtime,
        })
    }

    /// Publishes the batch and waits for the acks (QoS 1) or the socket (QoS 0).
    fn write(&self, batch: Vec<EventRecord>) -> Result<(), SinkError> {
        if batch.is_empty() {
            return Ok(());
        }
        let bodies = session::encode(&batch, self.settings.max_message_size)?;
        let mut slot = self.session();
        if slot.as_ref().is_none_or(Session::failed) {
            if let Some(old) = slot.take() {
                self.runtime.block_on(old.close());
            }
            *slot = Some(self.runtime.block_on_within(
                self.settings.connect_timeout(),
                "mqtt sink: connecting",
                Session::connect(&self.settings),
            )?);
        }
        let Some(session) = slot.as_ref() else {
            return Err(SinkError::retriable("mqtt sink: not connected"));
        };
        let result = self.runtime.block_on_within(
            self.settings.publish_timeout(),
            &format!("mqtt sink: publishing {} messages", batch.len()),
            session.publish(&self.settings, bodies),
        );
        if result.is_err()
            && let Some(old) = slot.take()
        {
            // The next attempt starts a clean session: nothing of this one
            // is retransmitted behind the logger's back.
            self.runtime.block_on(old.close());
        }
        result
    }

    /// Nothing to do: `write` returns only once the broker acknowledged.
    fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }

    /// A broker does not say how many of our events it holds.
    fn stored_count(&self) -> Result<Option<u64>, SinkError> {
        Ok(None)
    }
}

impl Drop for MqttSink {
    fn drop(&mut self) {
        if let Some(session) = self.session().take() {
            self.runtime.finish(CLOSE_LIMIT, session.close());
        }
    }
}

/// How long closing may take when the sink is dropped.
const CLOSE_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);
