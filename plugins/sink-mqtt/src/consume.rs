//! Reading events back off the topic: what the demo and the tests count,
//! instead of trusting the sink's own account.
//!
//! An MQTT broker keeps nothing for a subscriber that is not there yet, so
//! start this before the events are published. It subscribes at QoS 1 in a
//! persistent session (`clean session` off, an id of its own), so messages
//! published while it is cut off — the broker restarting — wait for it, and
//! it reconnects by itself. When the receiver is dropped it ends the session
//! with a clean connect, so the broker keeps nothing for it afterwards.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::{mpsc, oneshot};

use crate::settings::Settings;
use ixn_broker::settings::BrokerSettings;

/// Pause between reconnection attempts.
const RECONNECT: Duration = Duration::from_millis(200);

/// Subscribes to the sink's topic (waits for the SUBACK) and sends each
/// payload to the receiver until it is dropped. Must run inside a tokio
/// runtime.
pub async fn start(document: &str) -> Result<mpsc::UnboundedReceiver<Vec<u8>>, String> {
    let s = Settings::parse(document).map_err(|e| e.message)?;
    let id = format!("ixn-consumer-{}-{}", std::process::id(), next_consumer());
    let mut options = crate::session::options(&s, Some(id.clone())).map_err(|e| e.message)?;
    options.set_clean_session(false);
    let (client, mut event_loop) = AsyncClient::new(options.clone(), 64);
    client
        .subscribe(s.delivery_queue_name.as_str(), QoS::AtLeastOnce)
        .await
        .map_err(|e| format!("mqtt consumer: subscribing: {e}"))?;
    let (tx, rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let (subscribed_tx, subscribed) = oneshot::channel();
    tokio::spawn(async move {
        let mut subscribed_tx = Some(subscribed_tx);
        loop {
            let event = tokio::select! {
                e = event_loop.poll() => e,
                _ = tx.closed() => break,
            };
            match event {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(t) = subscribed_tx.take() {
                        let _ = t.send(Ok(()));
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if tx.send(p.payload.to_vec()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => match subscribed_tx.take() {
                    Some(t) => {
                        let _ = t.send(Err(e.to_string()));
                        return;
                    }
                    None => {
                        // The broker went away: the next poll reconnects,
                        // and the session brings what was published meanwhile.
                        tracing::debug!(error = %e, "MQTT consumer reconnecting.");
                        tokio::time::sleep(RECONNECT).await;
                    }
                },
            }
        }
        drop(client);
        end_session(options).await;
    });
    match subscribed.await {
        Ok(Ok(())) => Ok(rx),
        Ok(Err(e)) => Err(format!("mqtt consumer: {e}")),
        Err(_) => Err("mqtt consumer: stopped before subscribing".into()),
    }
}

/// Connects once more with the same id and a clean session, which makes
/// the broker drop the persistent one.
async fn end_session(mut options: MqttOptions) {
    options.set_clean_session(true);
    let (client, mut event_loop) = AsyncClient::new(options, 4);
    let bye = async {
        loop {
            match event_loop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = client.disconnect().await;
                }
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), bye).await;
}

/// A suffix that makes a consumer's client id unique in this process.
fn next_consumer() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
