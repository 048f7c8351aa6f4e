//! `ixn-sink-nats`: reporting events as messages in a NATS JetStream stream.
//!
//! One message per event on the subject `delivery-queue-name`: the record's
//! JSON ([`ixn_plugin_api::event_json`]) with the header
//! `Nats-Msg-Id: origin/sequence`. `write` returns once the stream has
//! acknowledged every message (stored, in files when `recoverable`).
//!
//! A failed batch (server gone, ack timeout) is sent again whole by the
//! event logger; the stream drops a message whose id it already holds
//! within its `duplicate-window` (the ack says `duplicate`). So the stream
//! holds each event **exactly once** as long as a retry comes within the
//! window (120 s by default, well above `reconnect-timeout`); past it, at
//! least once, and the id still lets a consumer drop the copy.
#![deny(missing_docs)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use ixn_broker::{BrokerSettings, ClientRuntime};
use ixn_plugin_api::sink::{EventRecord, SettingProblem, Sink, SinkError};

pub mod consume;
pub mod settings;
mod stream;

use settings::Settings;
use stream::Publisher;

ixn_plugin_api::export_sink_plugin!(ixn_plugin_entry_nats, "nats", NatsSink);

/// The NATS sink: a client that reconnects on its own, and its stream.
pub struct NatsSink {
    settings: Settings,
    publisher: Mutex<Option<Publisher>>,
    /// Whether the stream was found or made on the current client.
    stream_ready: AtomicBool,
    // Last: dropped after the client it drives.
    runtime: ClientRuntime,
}

impl Sink for NatsSink {
    fn validate(settings: &str) -> Vec<SettingProblem> {
        Settings::problems(settings)
    }

    /// Parses the settings and connects; a server that does not answer is
    /// not an error here (the first write tries again).
    fn open(document: String) -> Result<Self, SinkError> {
        let settings = Settings::parse(&document)?;
        let runtime = ClientRuntime::new("nats")?;
        let sink = NatsSink {
            settings,
            publisher: Mutex::new(None),
            stream_ready: AtomicBool::new(false),
            runtime,
        };
        if let Err(e) = sink.ready() {
            tracing::warn!(url = %sink.settings.url, error = %e.message, "NATS server unreachable at open; the first write connects again.");
        }
        Ok(sink)
    }

    /// Publishes the batch and waits for the stream's acks.
    fn write(&self, batch: Vec<EventRecord>) -> Result<(), SinkError> {
        if batch.is_empty() {
            return Ok(());
        }
        let publisher = self.ready()?;
        let settings = self.settings.clone();
        let result = self.runtime.run_within(
            self.settings.publish_timeout(),
            &format!("nats sink: publishing {} messages", batch.len()),
            async move { publisher.publish(&settings, &batch).await },
        );
        if result.is_err() {
            // The stream may have been deleted meanwhile: look for it again.
            self.stream_ready.store(false, Ordering::Relaxed);
        }
        result
    }

    /// Nothing to do: `write` returns only once the stream acknowledged.
    fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }

    /// A broker does not say how many of our events it holds.
    fn stored_count(&self) -> Result<Option<u64>, SinkError> {
        Ok(None)
    }
}

impl NatsSink {
    /// The publisher, connected and with its stream in place.
    fn ready(&self) -> Result<Publisher, SinkError> {
        let mut slot = self.publisher.lock().unwrap_or_else(|p| p.into_inner());
        let publisher = match slot.as_ref() {
            Some(p) => p.clone(),
            None => {
                let p = self.runtime.block_on_within(
                    self.settings.connect_timeout(),
                    "nats sink: connecting",
                    Publisher::connect(&self.settings),
                )?;
                *slot = Some(p.clone());
                p
            }
        };
        drop(slot);
        if !self.stream_ready.load(Ordering::Relaxed) {
            self.runtime.block_on_within(
                self.settings.connect_timeout(),
                "nats sink: finding the stream",
                publisher.ensure_stream(&self.settings),
            )?;
            self.stream_ready.store(true, Ordering::Relaxed);
        }
        Ok(publisher)
    }
}
