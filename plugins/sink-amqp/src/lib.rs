//! `ixn-sink-amqp`: reporting events as messages on a RabbitMQ (AMQP 0-9-1) queue.
//!
//! One message per event: the record's JSON ([`ixn_plugin_api::event_json`]),
//! `content-type: application/json`, `message-id: origin/sequence`.
//! A batch is published on a channel in confirm mode, every message
//! `mandatory`, and `write` returns once the broker has confirmed each one:
//! a nack, a message returned as unroutable (no such queue) or a broken
//! connection fails the batch as retriable, and the event logger sends the
//! whole batch again after `reconnect-timeout` on a new connection.
//!
//! Delivery is therefore **at least once**: a batch that failed after some
//! of its messages were confirmed sends those again. Consumers drop the
//! copies by `message-id`; nothing confirmed is ever lost, and a message is
//! only counted written once the broker confirmed it (persisted to disk
//! first when `recoverable`, as RabbitMQ confirms persistent messages on a
//! durable queue only once stored).
#![deny(missing_docs)]

use std::sync::{Mutex, MutexGuard, PoisonError};

use ixn_broker::{BrokerSettings, ClientRuntime};
use ixn_plugin_api::sink::{EventRecord, SettingProblem, Sink, SinkError};

pub mod consume;
mod link;
pub mod settings;

use link::Link;
use settings::Settings;

ixn_plugin_api::export_sink_plugin!(ixn_plugin_entry_amqp, "amqp", AmqpSink);

/// The AMQP sink: its settings and, while the broker answers, a connection.
pub struct AmqpSink {
    settings: Settings,
    link: Mutex<Option<Link>>,
    // Last: dropped after the link, whose connection it drives.
    runtime: ClientRuntime,
}

impl AmqpSink {
    fn link(&self) -> MutexGuard<'_, Option<Link>> {
        // The slot holds a whole link or none: a panic cannot leave half of one.
        self.link.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Sink for AmqpSink {
    fn validate(settings: &str) -> Vec<SettingProblem> {
        Settings::problems(settings)
    }

    /// Parses the settings and connects. A broker that does not answer is
    /// not an error here: the first write connects again, and the logger
    /// keeps the events and retries meanwhile (the seed's `reconnect-timeout`).
    fn open(document: String) -> Result<Self, SinkError> {
        let settings = Settings::parse(&document)?;
        let runtime = ClientRuntime::new("amqp")?;
        let link = match runtime.block_on_within(
            settings.connect_timeout(),
            "amqp sink: connecting",
            Link::connect(&settings),
        ) {
            Ok(link) => Some(link),
            Err(e) => {
                tracing::warn!(url = %settings.url, error = %e.message, "AMQP broker unreachable at open; the first write connects again.");
                None
            }
        };
        Ok(AmqpSink {
            settings,
            link: Mutex::new(link),
            runtime,
        })
    }

    /// Publishes the batch and waits for every confirm.
    fn write(&self, batch: Vec<EventRecord>) -> Result<(), SinkError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut slot = self.link();
        if slot.is_none() {
            *slot = Some(self.runtime.block_on_within(
                self.settings.connect_timeout(),
                "amqp sink: connecting",
                Link::connect(&self.settings),
            )?);
        }
        let Some(link) = slot.as_ref() else {
            return Err(SinkError::retriable("amqp sink: not connected"));
        };
        let (channel, settings) = (link.channel(), self.settings.clone());
        let result = self.runtime.run_within(
            self.settings.publish_timeout(),
            &format!("amqp sink: publishing {} messages", batch.len()),
            async move { link::publish(&channel, &settings, &batch).await },
        );
        if result.is_err() {
            // Start the next attempt on a fresh connection and channel: the
            // failed one may be closed, blocked or half way through confirms.
            if let Some(old) = slot.take() {
                self.runtime.block_on(old.close());
            }
        }
        result
    }

    /// Nothing to do: `write` returns only once the broker confirmed.
    fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }

    /// A broker does not say how many of our events it holds.
    fn stored_count(&self) -> Result<Option<u64>, SinkError> {
        Ok(None)
    }
}

impl Drop for AmqpSink {
    fn drop(&mut self) {
        if let Some(link) = self.link().take() {
            self.runtime.finish(CLOSE_LIMIT, link.close());
        }
    }
}

/// How long closing may take when the sink is dropped.
const CLOSE_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);
