//! Reading events back off the queue: what the demo and the tests count,
//! instead of trusting the sink's own account.

use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions};
use lapin::types::FieldTable;
use tokio::sync::mpsc;

use crate::settings::Settings;
use ixn_broker::settings::BrokerSettings;

/// Consumes the queue of the sink `document` configures and sends each
/// message body to the receiver, until the receiver is dropped. A message
/// is acknowledged (gone from the queue) once handed over; one in flight
/// when the connection drops is delivered again. Connects as the sink does,
/// over TLS for an `amqps://` URL. Must run inside a tokio runtime.
pub async fn start(document: &str) -> Result<mpsc::UnboundedReceiver<Vec<u8>>, String> {
    let s = Settings::parse(document).map_err(|e| e.message)?;
    let connection = crate::link::connect(&s)
        .await
        .map_err(|e| format!("amqp consumer: {}", e.message))?;
    let channel = connection
        .create_channel()
        .await
        .map_err(|e| format!("amqp consumer: opening a channel: {e}"))?;
    let mut consumer = channel
        .basic_consume(
            s.delivery_queue_name.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| format!("amqp consumer: consuming `{}`: {e}", s.delivery_queue_name))?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        // Owns the connection for as long as it reads.
        let _connection = connection;
        while let Some(delivery) = consumer.next().await {
            match delivery {
                Ok(d) => {
                    let acker = d.acker.clone();
                    if tx.send(d.data).is_err() {
                        break;
                    }
                    if let Err(e) = acker.ack(BasicAckOptions::default()).await {
                        tracing::warn!(error = %e, "AMQP consumer could not acknowledge.");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "AMQP consumer stopped.");
                    break;
                }
            }
        }
    });
    Ok(rx)
}
