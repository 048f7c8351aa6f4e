//! One connection and confirm-mode channel to the broker.

use std::pin::Pin;
use std::task::Poll;

use futures_util::future::{Either, join_all};
use ixn_plugin_api::event_json;
use ixn_plugin_api::sink::{EventRecord, SinkError};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};

use crate::settings::Settings;

/// AMQP delivery mode of a persistent message.
const PERSISTENT: u8 = 2;
/// AMQP delivery mode of a transient message.
const TRANSIENT: u8 = 1;

pub(crate) struct Link {
    connection: Connection,
    channel: Channel,
}

fn retriable(what: &str, e: impl std::fmt::Display) -> SinkError {
    SinkError::retriable(format!("amqp sink: {what}: {e}"))
}

/// A record's JSON body. A batch is encoded whole before its first publish:
/// a record that cannot be encoded fails it before anything is sent.
fn encode(r: &EventRecord) -> Result<Vec<u8>, SinkError> {
    event_json::encode(r).map_err(|e| {
        SinkError::permanent(format!(
            "amqp sink: encoding event {} (sequence {}): {e}",
            r.event_name, r.sequence
        ))
    })
}

impl Link {
    /// Connects, opens a channel in confirm mode and, when `declare`, declares the queue.
    pub(crate) async fn connect(s: &Settings) -> Result<Link, SinkError> {
        let connection = connect(s).await?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| retriable("opening a channel", e))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| retriable("enabling publisher confirms", e))?;
        if s.declare {
            let options = QueueDeclareOptions {
                durable: s.recoverable,
                ..QueueDeclareOptions::default()
            };
            channel
                .queue_declare(
                    s.delivery_queue_name.as_str().into(),
                    options,
                    FieldTable::default(),
                )
                .await
                .map_err(|e| {
                    retriable(
                        &format!(
                            "declaring queue `{}` (durable: {})",
                            s.delivery_queue_name, s.recoverable
                        ),
                        e,
                    )
                })?;
        }
        Ok(Link {
            connection,
            channel,
        })
    }

    /// The confirm-mode channel, to publish on.
    pub(crate) fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// Closes the channel and the connection, ignoring a connection already gone.
    pub(crate) async fn close(self) {
        let _ = self.channel.close(200, "ixn sink closing".into()).await;
        let _ = self.connection.close(200, "ixn sink closing".into()).await;
    }
}

/// Publishes one message per record on `channel` and waits for all confirms.
pub(crate) async fn publish(
    channel: &Channel,
    s: &Settings,
    batch: &[EventRecord],
) -> Result<(), SinkError> {
    {
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let mode = if s.recoverable { PERSISTENT } else { TRANSIENT };
        let bodies = batch.iter().map(encode).collect::<Result<Vec<_>, _>>()?;
        // `basic_publish` queues its frames when first polled, then waits
        // until the connection's I/O loop has written them. Awaiting each in
        // turn costs a thread round trip per message; polling each once, in
        // order, queues the whole batch in order, and the loop writes it as
        // one stream while the sends are awaited together.
        let mut sends = Vec::with_capacity(batch.len());
        for (record, body) in batch.iter().zip(&bodies) {
            let properties = BasicProperties::default()
                .with_content_type("application/json".into())
                .with_delivery_mode(mode)
                .with_message_id(event_json::message_id(record).into())
                .with_type(record.event_name.as_str().into());
            let mut send = Box::pin(channel.basic_publish(
                s.exchange.as_str().into(),
                s.delivery_queue_name.as_str().into(),
                options,
                body,
                properties,
            ));
            sends.push(match poll_once(send.as_mut()).await {
                Poll::Ready(sent) => Either::Left(std::future::ready(sent)),
                Poll::Pending => Either::Right(send),
            });
        }
        let mut confirms = Vec::with_capacity(batch.len());
        for sent in join_all(sends).await {
            confirms.push(sent.map_err(|e| retriable("publishing", e))?);
        }
        let (mut nacked, mut returned, mut failed) = (0usize, 0usize, None);
        let mut reason = None;
        for confirmation in join_all(confirms.into_iter().map(|c| c.into_future())).await {
            match confirmation {
                Ok(Confirmation::Ack(None)) => {}
                Ok(Confirmation::Ack(Some(r))) | Ok(Confirmation::Nack(Some(r))) => {
                    returned += 1;
                    reason.get_or_insert_with(|| format!("{} {}", r.reply_code, r.reply_text));
                }
                Ok(Confirmation::Nack(None)) => nacked += 1,
                Ok(Confirmation::NotRequested) => nacked += 1,
                Err(e) => {
                    failed.get_or_insert_with(|| e.to_string());
                }
            }
        }
        if let Some(e) = failed {
            return Err(retriable("waiting for publisher confirms", e));
        }
        if returned > 0 {
            return Err(SinkError::retriable(format!(
                "amqp sink: {returned} of {} messages came back unroutable ({}): does queue `{}` exist?",
                batch.len(),
                reason.unwrap_or_default(),
                s.delivery_queue_name
            )));
        }
        if nacked > 0 {
            return Err(SinkError::retriable(format!(
                "amqp sink: the broker refused {nacked} of {} messages (nack)",
                batch.len()
            )));
        }
        Ok(())
    }
}

/// Polls `future` once, answering what that poll gave.
async fn poll_once<F: Future>(mut future: Pin<&mut F>) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await
}

/// Opens the connection of `s`, over TLS with the CA and client certificate
/// of `tls` for an `amqps://` URL (the files are read on each connection,
/// so a renewed certificate is used from the next one on).
pub(crate) async fn connect(s: &Settings) -> Result<Connection, SinkError> {
    let properties = ConnectionProperties::default();
    let connected = match &s.tls {
        None => Connection::connect(&s.url, properties).await,
        Some(tls) => {
            let pem = tls.read("amqp")?;
            let ca = String::from_utf8(pem.ca).map_err(|_| {
                SinkError::permanent(format!(
                    "amqp sink: tls.ca-file {} is not PEM text",
                    tls.ca_file.display()
                ))
            })?;
            let config = OwnedTLSConfig {
                identity: pem
                    .client
                    .map(|(cert, key)| OwnedIdentity::PKCS8 { pem: cert, key }),
                cert_chain: Some(ca),
            };
            let runtime = lapin::runtime::default_runtime().map_err(|e| {
                SinkError::permanent(format!("amqp sink: no runtime to connect on: {e}"))
            })?;
            Connection::connect_with_config(&s.url, properties, config, runtime).await
        }
    };
    connected.map_err(|e| {
        retriable(
            &format!("connecting to {}", ixn_broker::settings::redact(&s.url)),
            e,
        )
    })
}
