//! Reading events back off the topic: what the demo and the tests count,
//! instead of trusting the sink's own account. An MQTT broker keeps nothing
//! for a subscriber that is not there yet, so start this before the events
//! are published.

use rumqttc::{AsyncClient, Event, Packet, QoS};
use tokio::sync::mpsc;

use crate::settings::Settings;

/// Subscribes to the sink's topic at QoS 1 (waits for the SUBACK) and sends
/// each payload to the receiver until it is dropped. Must run inside a
/// tokio runtime.
pub async fn start(document: &str) -> Result<mpsc::UnboundedReceiver<Vec<u8>>, String> {
    let s = Settings::parse(document).map_err(|e| e.message)?;
    let options = crate::session::options(&s, Some(format!("ixn-consumer-{}", std::process::id())))
        .map_err(|e| e.message)?;
    let (client, mut event_loop) = AsyncClient::new(options, 64);
    client
        .subscribe(s.delivery_queue_name.as_str(), QoS::AtLeastOnce)
        .await
        .map_err(|e| format!("mqtt consumer: subscribing: {e}"))?;
    let (tx, rx) = mpsc::unbounded_channel();
    let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        // Owns the client for as long as it reads.
        let _client = client;
        let mut subscribed_tx = Some(subscribed_tx);
        loop {
            match event_loop.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(t) = subscribed_tx.take() {
                        let _ = t.send(Ok(()));
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if tx.send(p.payload.to_vec()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    match subscribed_tx.take() {
                        Some(t) => {
                            let _ = t.send(Err(e.to_string()));
                        }
                        None => tracing::warn!(error = %e, "MQTT consumer stopped."),
                    }
                    return;
                }
            }
        }
    });
    match subscribed.await {
        Ok(Ok(())) => Ok(rx),
        Ok(Err(e)) => Err(format!("mqtt consumer: {e}")),
        Err(_) => Err("mqtt consumer: stopped before subscribing".into()),
    }
}
