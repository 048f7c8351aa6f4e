//! The client, its JetStream context and the stream events go to.

use std::collections::VecDeque;
use std::time::Duration;

use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage};
use ixn_plugin_api::event_json;
use ixn_plugin_api::sink::{EventRecord, SinkError};

use crate::settings::Settings;

/// Acks awaited at most at once: a pipeline, not a publish-then-wait per message.
const IN_FLIGHT: usize = 512;

#[derive(Clone)]
pub(crate) struct Publisher {
    context: jetstream::Context,
}

fn retriable(what: &str, e: impl std::fmt::Display) -> SinkError {
    SinkError::retriable(format!("nats sink: {what}: {e}"))
}

/// A record's JSON body. Encoded just before it is sent, so the server
/// stores the first messages of a batch while the rest are encoded.
fn encode(r: &EventRecord) -> Result<bytes::Bytes, SinkError> {
    event_json::encode(r).map(Into::into).map_err(|e| {
        SinkError::permanent(format!(
            "nats sink: encoding event {} (sequence {}): {e}",
            r.event_name, r.sequence
        ))
    })
}

/// Connects to the server of `s` under `name`, requiring TLS with the CA and
/// client certificate of `tls` when it is given.
pub(crate) async fn connect(s: &Settings, name: &str) -> Result<async_nats::Client, SinkError> {
    let mut options = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_millis(s.connect_timeout))
        .name(name);
    if let Some(tls) = &s.tls {
        // Read here for a clear error naming a missing file; the client
        // reads them again itself on each (re)connection.
        let pem = tls.read("nats")?;
        options = options
            .require_tls(true)
            .add_root_certificates(tls.ca_file.clone());
        if let (Some(cert), Some(key), Some(_)) = (&tls.cert_file, &tls.key_file, pem.client) {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
    }
    options.connect(s.url.as_str()).await.map_err(|e| {
        retriable(
            &format!("connecting to {}", ixn_broker::settings::redact(&s.url)),
            e,
        )
    })
}

impl Publisher {
    /// Connects; the client then reconnects by itself whenever the server goes.
    pub(crate) async fn connect(s: &Settings) -> Result<Publisher, SinkError> {
        let client = connect(s, "ixn event logger").await?;
        let mut context = jetstream::new(client);
        context.set_timeout(Duration::from_millis(s.publish_timeout));
        Ok(Publisher { context })
    }

    /// Finds the stream, creating it when allowed.
    pub(crate) async fn ensure_stream(&self, s: &Settings) -> Result<(), SinkError> {
        let name = s.stream_name();
        if s.create_stream {
            let config = jetstream::stream::Config {
                name: name.clone(),
                subjects: vec![s.delivery_queue_name.clone()],
                storage: if s.recoverable {
                    jetstream::stream::StorageType::File
                } else {
                    jetstream::stream::StorageType::Memory
                },
                duplicate_window: Duration::from_secs(s.duplicate_window),
                max_age: Duration::from_secs(s.max_age),
                ..Default::default()
            };
            self.context
                .get_or_create_stream(config)
                .await
                .map_err(|e| retriable(&format!("creating stream `{name}`"), e))?;
        } else {
            self.context
                .get_stream(&name)
                .await
                .map_err(|e| retriable(&format!("finding stream `{name}`"), e))?;
        }
        Ok(())
    }

    /// Publishes one message per record and waits for every ack.
    pub(crate) async fn publish(
        &self,
        s: &Settings,
        batch: &[EventRecord],
    ) -> Result<(), SinkError> {
        let subject = async_nats::Subject::from(s.delivery_queue_name.as_str());
        let mut pending = VecDeque::with_capacity(IN_FLIGHT);
        for record in batch {
            let body = encode(record)?;
            if pending.len() >= IN_FLIGHT
                && let Some(ack) = pending.pop_front()
            {
                settle(ack).await?;
            }
            let message = PublishMessage::build()
                .payload(body)
                .message_id(event_json::message_id(record));
            let ack = self
                .context
                .send_publish(subject.clone(), message)
                .await
                .map_err(|e| match e.kind() {
                    // Too large for the server: no retry will change that.
                    PublishErrorKind::MaxPayloadExceeded => SinkError::permanent(format!(
                        "nats sink: event {} (sequence {}) is larger than the server's max_payload: {e}",
                        record.event_name, record.sequence
                    )),
                    _ => retriable("publishing", e),
                })?;
            pending.push_back(ack);
        }
        while let Some(ack) = pending.pop_front() {
            settle(ack).await?;
        }
        Ok(())
    }
}

async fn settle(ack: jetstream::context::PublishAckFuture) -> Result<(), SinkError> {
    ack.await
        .map(|_| ())
        .map_err(|e| retriable("waiting for the stream's ack", e))
}
