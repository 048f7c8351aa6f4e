//! One MQTT connection: the client, its event loop on a task, and the
//! counts of what went out and what the broker acknowledged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ixn_plugin_api::event_json;
use ixn_plugin_api::sink::{EventRecord, SinkError};
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::settings::Settings;

/// Requests the client may queue before `publish` waits for the event loop.
const REQUEST_CAPACITY: usize = 1024;

/// What the event loop has seen on this connection.
#[derive(Debug, Clone, Default)]
struct Progress {
    connected: bool,
    /// PUBLISH packets written.
    sent: u64,
    /// PUBACKs received.
    acked: u64,
    /// Why the connection ended, once it has.
    failed: Option<String>,
}

pub(crate) struct Session {
    client: AsyncClient,
    progress: watch::Receiver<Progress>,
    event_loop: JoinHandle<()>,
}

/// Each record's JSON payload; one over `max` is refused as permanent.
pub(crate) fn encode(batch: &[EventRecord], max: usize) -> Result<Vec<Vec<u8>>, SinkError> {
    batch
        .iter()
        .map(|r| {
            let body = event_json::encode(r).map_err(|e| {
                SinkError::permanent(format!(
                    "mqtt sink: encoding event {} (sequence {}): {e}",
                    r.event_name, r.sequence
                ))
            })?;
            if body.len() > max {
                return Err(SinkError::permanent(format!(
                    "mqtt sink: event {} (sequence {}) is {} bytes, over max-message-size {max}",
                    r.event_name,
                    r.sequence,
                    body.len()
                )));
            }
            Ok(body)
        })
        .collect()
}

fn unique_client_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "ixn-{}-{nanos:x}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Options for a clean session to the broker of `s`.
pub(crate) fn options(s: &Settings, client_id: Option<String>) -> Result<MqttOptions, SinkError> {
    let (host, port) = s
        .host_port()
        .map_err(|e| SinkError::permanent(format!("mqtt sink: {e}")))?;
    let id = client_id
        .or_else(|| s.client_id.clone())
        .unwrap_or_else(unique_client_id);
    let mut options = MqttOptions::new(id, host, port);
    options
        .set_clean_session(true)
        .set_keep_alive(Duration::from_secs(30))
        // Room for the framing around the largest payload and its topic.
        .set_max_packet_size(
            s.max_message_size + 1024 + s.delivery_queue_name.len(),
            s.max_message_size + 1024 + s.delivery_queue_name.len(),
        );
    if let Some(user) = &s.username {
        options.set_credentials(user.clone(), s.password.clone().unwrap_or_default());
    }
    if let Some(tls) = &s.tls {
        let pem = tls.read("mqtt")?;
        options.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Simple {
                ca: pem.ca,
                alpn: None,
                client_auth: pem.client,
            },
        ));
    }
    Ok(options)
}

impl Session {
    /// Connects and waits for the broker's CONNACK.
    pub(crate) async fn connect(s: &Settings) -> Result<Session, SinkError> {
        let (client, mut event_loop) = AsyncClient::new(options(s, None)?, REQUEST_CAPACITY);
        let (tx, mut progress) = watch::channel(Progress::default());
        let event_loop = tokio::spawn(async move {
            loop {
                match event_loop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        tx.send_modify(|p| p.connected = true);
                    }
                    Ok(Event::Incoming(Packet::PubAck(_))) => tx.send_modify(|p| p.acked += 1),
                    Ok(Event::Outgoing(Outgoing::Publish(_))) => tx.send_modify(|p| p.sent += 1),
                    Ok(_) => {}
                    Err(e) => {
                        // No reconnect here: the sink starts a new session,
                        // so nothing is retransmitted that the logger will
                        // also send again.
                        tx.send_modify(|p| p.failed = Some(e.to_string()));
                        return;
                    }
                }
            }
        });
        let session = Session {
            client,
            progress: progress.clone(),
            event_loop,
        };
        let seen = progress
            .wait_for(|p| p.connected || p.failed.is_some())
            .await
            .map_err(|e| SinkError::retriable(format!("mqtt sink: connecting: {e}")))?
            .clone();
        if let Some(e) = seen.failed {
            session.event_loop.abort();
            return Err(SinkError::retriable(format!(
                "mqtt sink: connecting to {}: {e}",
                s.url
            )));
        }
        Ok(session)
    }

    /// Whether the connection has ended.
    pub(crate) fn failed(&self) -> bool {
        self.progress.borrow().failed.is_some()
    }

    /// Publishes every payload and waits until the broker acknowledged them
    /// all (QoS 1) or they were written out (QoS 0).
    pub(crate) async fn publish(
        &self,
        s: &Settings,
        bodies: Vec<Vec<u8>>,
    ) -> Result<(), SinkError> {
        let n = bodies.len() as u64;
        let qos = if s.recoverable {
            QoS::AtLeastOnce
        } else {
            QoS::AtMostOnce
        };
        let start = self.progress.borrow().clone();
        for body in bodies {
            self.client
                .publish(s.delivery_queue_name.as_str(), qos, false, body)
                .await
                .map_err(|e| SinkError::retriable(format!("mqtt sink: publishing: {e}")))?;
        }
        let mut progress = self.progress.clone();
        let end = progress
            .wait_for(|p| {
                p.failed.is_some()
                    || match qos {
                        QoS::AtMostOnce => p.sent >= start.sent + n,
                        _ => p.acked >= start.acked + n,
                    }
            })
            .await
            .map_err(|e| SinkError::retriable(format!("mqtt sink: waiting for acks: {e}")))?
            .clone();
        match end.failed {
            Some(e) => Err(SinkError::retriable(format!(
                "mqtt sink: connection to {} lost after {} of {n} acks: {e}",
                s.url,
                end.acked.saturating_sub(start.acked)
            ))),
            None => Ok(()),
        }
    }

    /// Disconnects politely and stops the event loop.
    pub(crate) async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_millis(200), self.client.disconnect()).await;
        self.event_loop.abort();
    }
}
