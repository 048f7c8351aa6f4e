//! Reading events back out of the stream: what the demo and the tests
//! count, instead of trusting the sink's own account.

use async_nats::jetstream::{self, consumer::DeliverPolicy, consumer::pull::OrderedConfig};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::settings::Settings;
use ixn_broker::settings::BrokerSettings;

/// Reads the sink's stream from the first message still held (or from now,
/// with `only_new`) and sends each body to the receiver until it is
/// dropped. Must run inside a tokio runtime.
pub async fn start(
    document: &str,
    only_new: bool,
) -> Result<mpsc::UnboundedReceiver<Vec<u8>>, String> {
    let s = Settings::parse(document).map_err(|e| e.message)?;
    let client = crate::stream::connect(&s, "ixn event consumer")
        .await
        .map_err(|e| format!("nats consumer: {}", e.message))?;
    let context = jetstream::new(client);
    let stream = context
        .get_stream(s.stream_name())
        .await
        .map_err(|e| format!("nats consumer: stream `{}`: {e}", s.stream_name()))?;
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject: s.delivery_queue_name.clone(),
            deliver_policy: if only_new {
                DeliverPolicy::New
            } else {
                DeliverPolicy::All
            },
            ..Default::default()
        })
        .await
        .map_err(|e| format!("nats consumer: creating a consumer: {e}"))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| format!("nats consumer: reading: {e}"))?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(message) = messages.next().await {
            match message {
                Ok(m) => {
                    if tx.send(m.payload.to_vec()).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "NATS consumer stopped.");
                    break;
                }
            }
        }
    });
    Ok(rx)
}
