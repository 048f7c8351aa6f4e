//! Events per second through each message-queue sink of ixn and through the
//! `event-log` sink on PostgreSQL, next to the raw ceiling of the same broker
//! or database measured in the same run:
//!
//! ```text
//! cargo bench -p ixn-tests --bench sinks
//! ```
//!
//! For RabbitMQ, NATS JetStream, Mosquitto and PostgreSQL on this machine
//! (URLs from `IXN_TEST_AMQP_URL`, `IXN_TEST_NATS_URL`, `IXN_TEST_MQTT_URL`,
//! `IXN_TEST_PG_URL`, or the local defaults; one that does not answer is
//! skipped, saying so):
//!
//! - **ixn**: an event bus with one `recoverable` logger on the broker's
//!   built-in sink (`batch-size = 1000`), offered `EVENTS` interaction
//!   events in chunks of 12 (one interaction's worth), timed from the first
//!   offer until `flush` returns, i.e. until the broker acknowledged the
//!   last one: filtering, records, batching, JSON, publishing and acks.
//! - **raw**: the same records, JSON-encoded up front, published by a bare
//!   loop on the same client library with the same persistence and the
//!   same acknowledgement, in batches of 1000: AMQP persistent, mandatory,
//!   a batch's publishes queued without a wait each (as the sink does),
//!   publisher confirms awaited per batch; JetStream publishes with
//!   `Nats-Msg-Id` on a file stream, acks pipelined; MQTT QoS 1, PUBACKs
//!   counted per batch. PostgreSQL: the same rows (as the sql sink makes
//!   them) rendered up front and loaded with `COPY` into identical tables,
//!   one transaction per batch, on one connection.
//!
//! Each broker runs ixn and raw three times, in turn, and keeps the fastest run of each
//! (a broker's own pace varies by 20 % from run to run on this machine).
//! The logger's `written` counter is checked to equal `EVENTS` (and, on
//! PostgreSQL, the rows in the table), and the broker's queue or stream, or
//! the database schema, is removed afterwards.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::future::join_all;
use ixn::config::EventLoggerConfig;
use ixn::events::{Endpoint, Event, EventBus, EventKind, OpenedLogger};
use ixn_plugin_api::event_json;
use ixn_plugin_api::sink::{EventRecord, Field, Value};

const EVENTS: u64 = 60_000;
const BATCH: usize = 1000;
const RUNS: usize = 3;

/// What a run writes to: a broker, or a database through the `event-log` sink.
#[derive(Clone, Copy, Debug)]
enum Broker {
    Amqp,
    Nats,
    Mqtt,
    Postgres,
}

impl Broker {
    fn protocol(self) -> &'static str {
        match self {
            Broker::Amqp => "amqp",
            Broker::Nats => "nats",
            Broker::Mqtt => "mqtt",
            Broker::Postgres => "event-log",
        }
    }

    /// The built-in sink that delivers for it.
    fn sink(self) -> &'static str {
        match self {
            Broker::Postgres => "sql",
            other => other.protocol(),
        }
    }

    fn url(self) -> String {
        let (var, default) = match self {
            Broker::Amqp => ("IXN_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            Broker::Nats => ("IXN_TEST_NATS_URL", "nats://127.0.0.1:4222"),
            Broker::Mqtt => ("IXN_TEST_MQTT_URL", "mqtt://127.0.0.1:1883"),
            Broker::Postgres => ("IXN_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/test"),
        };
        std::env::var(var).unwrap_or_else(|_| default.to_string())
    }

    fn destination(self, run: &str) -> String {
        match self {
            Broker::Amqp => format!("ixn.bench.{run}"),
            Broker::Nats => format!("ixn.bench.{run}"),
            Broker::Mqtt => format!("ixn/bench/{run}"),
            Broker::Postgres => format!("ixn_bench_{}", run.replace('-', "_")),
        }
    }
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!(
        "ixn sink benchmark: {EVENTS} events per run, recoverable, batches of {BATCH}; best of {RUNS}"
    );
    println!();
    // `IXN_BENCH_SINKS=nats,mqtt` measures only those.
    let only = std::env::var("IXN_BENCH_SINKS").ok();
    for broker in [Broker::Amqp, Broker::Nats, Broker::Mqtt, Broker::Postgres] {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|p| p == broker.protocol()))
        {
            continue;
        }
        let url = broker.url();
        if !answers(&url) {
            println!(
                "  {:<9} skipped: nothing answers at {url}",
                broker.protocol()
            );
            continue;
        }
        let (mut ixn_best, mut raw_best) = (Duration::MAX, Duration::MAX);
        for run in 0..RUNS {
            let tag = format!("{}-{run}", std::process::id());
            ixn_best = ixn_best.min(runtime.block_on(through_ixn(broker, &url, &tag))?);
            raw_best = raw_best.min(runtime.block_on(raw(broker, &url, &format!("raw-{tag}")))?);
        }
        let rate = |d: Duration| EVENTS as f64 / d.as_secs_f64();
        println!(
            "  {:<9} ixn {:>8.0} events/s   raw {:>8.0} events/s   ratio {:.2}x",
            broker.protocol(),
            rate(ixn_best),
            rate(raw_best),
            rate(ixn_best) / rate(raw_best)
        );
    }
    Ok(())
}

fn answers(url: &str) -> bool {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let rest = rest.rsplit('@').next().unwrap_or(rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority
        .parse()
        .is_ok_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok())
}

/// One interaction's events, as the host makes them.
fn interaction_events(n: u64) -> Vec<Event> {
    let id = format!("bench-{n:08}");
    let at = 1_700_000_000_000 + n as i64;
    let kinds = [
        (EventKind::InteractionSubmitted, None),
        (EventKind::PlacedInQueue, Some(Endpoint::Queue)),
        (EventKind::TakenFromQueue, Some(Endpoint::Queue)),
        (EventKind::PlacedInQueue, Some(Endpoint::Queue)),
        (EventKind::TakenFromQueue, Some(Endpoint::Queue)),
        (EventKind::ProcessingStopped, None),
    ];
    kinds
        .iter()
        .cycle()
        .take(12)
        .map(|(kind, endpoint)| {
            Event::interaction(*kind, *endpoint, &id, at)
                .attr("queue", "email.Inbound")
                .attr("actor", "view:classify")
                .attr_value("priority", Value::Int(3))
        })
        .collect()
}

fn logger_config(broker: Broker, url: &str, destination: &str) -> EventLoggerConfig {
    let settings = match broker {
        // Every row kept, so that the table can be counted.
        Broker::Postgres => sql_settings(url, destination),
        _ => serde_json::json!({
            "url": url,
            "delivery-queue-name": destination,
            "recoverable": true,
            "publish-timeout": 60_000,
        }),
    };
    EventLoggerConfig {
        name: "bench".into(),
        batch_size: BATCH,
        max_queue_size: 100_000,
        storing_timeout: Duration::from_millis(500),
        ..ixn_tests::logger_config(
            broker.protocol(),
            broker.sink(),
            settings,
            std::env::temp_dir().join("ixn-bench-dead-letter"),
        )
    }
}

async fn through_ixn(broker: Broker, url: &str, tag: &str) -> anyhow::Result<Duration> {
    let destination = broker.destination(tag);
    let config = logger_config(broker, url, &destination);
    let registry = ixn::builtins::registry();
    let opened = OpenedLogger::open(&registry, &config).await?;
    let running = opened.start();
    let logger = running.logger.clone();
    let bus = EventBus::new("bench", vec![logger.clone()]);
    let chunks: Vec<Vec<Event>> = (0..EVENTS / 12).map(interaction_events).collect();
    let start = Instant::now();
    for chunk in chunks {
        bus.emit(chunk);
        // Offers never wait; pace them to the memory queue instead of discarding.
        while logger.queue_length() > 90_000 {
            tokio::task::yield_now().await;
        }
    }
    bus.flush().await;
    let elapsed = start.elapsed();
    let written = logger
        .stats()
        .written
        .load(std::sync::atomic::Ordering::Relaxed);
    running.drain().await;
    let stored = match broker {
        Broker::Postgres => Some(pg_rows(url, &destination).await?),
        _ => None,
    };
    clean_up(broker, url, &destination).await;
    if written != EVENTS {
        bail!("{broker:?}: the logger wrote {written} of {EVENTS} events");
    }
    if let Some(stored) = stored
        && stored != EVENTS
    {
        bail!("{broker:?}: the table holds {stored} of {EVENTS} events");
    }
    Ok(elapsed)
}

/// The sql sink's settings for a run in schema `schema`.
fn sql_settings(url: &str, schema: &str) -> serde_json::Value {
    serde_json::json!({
        "url": url,
        "schema-name": schema,
        "delete-on-stop": false,
        "delete-custom-after": 0,
    })
}

async fn pg_rows(url: &str, schema: &str) -> anyhow::Result<u64> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM \"{schema}\".rpt_interaction"
    )))
    .fetch_one(&mut conn)
    .await?;
    Ok(u64::try_from(rows)?)
}

/// The records ixn would send, encoded up front.
fn bodies() -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    records()
        .iter()
        .map(|record| Ok((event_json::message_id(record), event_json::encode(record)?)))
        .collect()
}

/// The records ixn makes of the benchmark's events.
///
/// Their origin has the shape and length of an event bus's (`node:id`): the
/// brokers' cost per message grows with its size (RabbitMQ confirmed 60 000
/// messages 30 % slower with the bus's 33-byte origin than with `bench:raw`),
/// so a shorter one would make the raw ceiling faster than the same messages.
fn records() -> Vec<EventRecord> {
    let origin = EventBus::new("bench", Vec::new()).origin().to_string();
    let mut out = Vec::with_capacity(EVENTS as usize);
    for n in 0..EVENTS {
        out.push(EventRecord {
            event_id: 156,
            event_name: "EventPlacedInQueue".into(),
            activity: "interaction".into(),
            endpoint: Some("queue".into()),
            occurred_at: 1_700_000_000_000,
            origin: origin.clone(),
            sequence: n + 1,
            generation: 1,
            interaction_id: Some(format!("bench-{:08}", n / 12)),
            fields: vec![
                Field {
                    name: "queue".into(),
                    value: Value::Str("email.Inbound".into()),
                },
                Field {
                    name: "actor".into(),
                    value: Value::Str("view:classify".into()),
                },
                Field {
                    name: "priority".into(),
                    value: Value::Int(3),
                },
            ],
        });
    }
    out
}

async fn raw(broker: Broker, url: &str, tag: &str) -> anyhow::Result<Duration> {
    let destination = broker.destination(tag);
    let elapsed = match broker {
        Broker::Amqp => raw_amqp(url, &destination, &bodies()?).await?,
        Broker::Nats => raw_nats(url, &destination, &bodies()?).await?,
        Broker::Mqtt => raw_mqtt(url, &destination, &bodies()?).await?,
        Broker::Postgres => raw_postgres(url, &destination).await?,
    };
    clean_up(broker, url, &destination).await;
    Ok(elapsed)
}

async fn raw_amqp(
    url: &str,
    queue: &str,
    bodies: &[(String, Vec<u8>)],
) -> anyhow::Result<Duration> {
    use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
    let connection =
        lapin::Connection::connect(url, lapin::ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await?;
    let start = Instant::now();
    for batch in bodies.chunks(BATCH) {
        // As fast as lapin takes a batch: each publish polled once, in
        // order, queues its frames; then all are awaited together (awaiting
        // each in turn is a round trip to lapin's I/O thread per message).
        let mut sends = Vec::with_capacity(batch.len());
        for (id, body) in batch {
            // The same properties the sink sets: the same message.
            let properties = lapin::BasicProperties::default()
                .with_content_type("application/json".into())
                .with_delivery_mode(2)
                .with_message_id(id.as_str().into())
                .with_type("EventPlacedInQueue".into());
            let mut send = Box::pin(channel.basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                body,
                properties,
            ));
            let first =
                std::future::poll_fn(|cx| std::task::Poll::Ready(send.as_mut().poll(cx))).await;
            sends.push(match first {
                std::task::Poll::Ready(sent) => {
                    futures_util::future::Either::Left(std::future::ready(sent))
                }
                std::task::Poll::Pending => futures_util::future::Either::Right(send),
            });
        }
        let mut confirms = Vec::with_capacity(batch.len());
        for sent in join_all(sends).await {
            confirms.push(sent?);
        }
        for c in join_all(confirms.into_iter().map(|c| c.into_future())).await {
            match c? {
                lapin::Confirmation::Ack(None) => {}
                other => bail!("raw AMQP publish not confirmed: {other:?}"),
            }
        }
    }
    let elapsed = start.elapsed();
    let _ = connection.close(200, "done".into()).await;
    Ok(elapsed)
}

async fn raw_nats(
    url: &str,
    subject: &str,
    bodies: &[(String, Vec<u8>)],
) -> anyhow::Result<Duration> {
    use async_nats::jetstream;
    let client = async_nats::connect(url).await?;
    let context = jetstream::new(client);
    context
        .get_or_create_stream(jetstream::stream::Config {
            name: stream_name(subject),
            subjects: vec![subject.to_string()],
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        })
        .await?;
    let start = Instant::now();
    for batch in bodies.chunks(BATCH) {
        let mut pending = VecDeque::new();
        for (id, body) in batch {
            if pending.len() >= 512
                && let Some(ack) = pending.pop_front()
            {
                let _: jetstream::publish::PublishAck = ack.await?;
            }
            let message = jetstream::message::PublishMessage::build()
                .payload(body.clone().into())
                .message_id(id);
            pending.push_back(context.send_publish(subject.to_string(), message).await?);
        }
        while let Some(ack) = pending.pop_front() {
            ack.await?;
        }
    }
    Ok(start.elapsed())
}

async fn raw_mqtt(
    url: &str,
    topic: &str,
    bodies: &[(String, Vec<u8>)],
) -> anyhow::Result<Duration> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let authority = url.trim_start_matches("mqtt://");
    let (host, port) = authority
        .rsplit_once(':')
        .context("mqtt URL without a port")?;
    let mut options = MqttOptions::new(
        format!("ixn-bench-raw-{}", std::process::id()),
        host,
        port.parse()?,
    );
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut event_loop) = AsyncClient::new(options, 1024);
    let (tx, mut acks) = tokio::sync::watch::channel(0u64);
    let (connected_tx, connected) = tokio::sync::oneshot::channel();
    let poller = tokio::spawn(async move {
        let mut connected_tx = Some(connected_tx);
        loop {
            match event_loop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    if let Some(t) = connected_tx.take() {
                        let _ = t.send(());
                    }
                }
                Ok(Event::Incoming(Packet::PubAck(_))) => tx.send_modify(|n| *n += 1),
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    connected
        .await
        .context("the MQTT broker did not accept the connection")?;
    let client = Arc::new(client);
    let start = Instant::now();
    let mut sent = 0u64;
    for batch in bodies.chunks(BATCH) {
        for (_, body) in batch {
            client
                .publish(topic, QoS::AtLeastOnce, false, body.clone())
                .await?;
        }
        sent += batch.len() as u64;
        acks.wait_for(|n| *n >= sent).await?;
    }
    let elapsed = start.elapsed();
    let _ = client.disconnect().await;
    poller.abort();
    Ok(elapsed)
}

/// The rows the sql sink makes of the records, loaded by bare `COPY`s of
/// `BATCH` rows, each in its own transaction, into tables the sink created.
async fn raw_postgres(url: &str, schema: &str) -> anyhow::Result<Duration> {
    use ixn_plugin_api::sink::Sink;
    use ixn_sink_sql::dialect::Dialect;
    use ixn_sink_sql::schema::Table;
    use sqlx::Connection;
    let document = sql_settings(url, schema).to_string();
    let settings = ixn_sink_sql::settings::Settings::parse(&document)
        .map_err(|e| anyhow::anyhow!(e.message))?;
    // The sink creates the same tables it writes to, then steps aside.
    let opener = document.clone();
    tokio::task::spawn_blocking(move || ixn_sink_sql::SqlSink::open(opener).map(drop))
        .await?
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let prepared =
        ixn_sink_sql::insert::prepare(records(), &settings, ixn_sink_sql::write::now_ms())
            .map_err(|e| anyhow::anyhow!(e.message))?;
    let rows = &prepared.rows[Table::Interaction.index()];
    let chunks: Vec<String> = rows
        .chunks(BATCH)
        .map(|chunk| {
            let mut text = String::new();
            for row in chunk {
                ixn_sink_sql::write::copy_text::push_row(&mut text, row);
            }
            text
        })
        .collect();
    let copy = Dialect::Postgres.copy_in(
        Some(schema),
        Table::Interaction,
        settings.custom_columns(Table::Interaction),
    );
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let start = Instant::now();
    for text in &chunks {
        let mut tx = conn.begin().await?;
        let mut load = tx.copy_in_raw(&copy).await?;
        load.send(text.as_bytes()).await?;
        load.finish().await?;
        tx.commit().await?;
    }
    let elapsed = start.elapsed();
    let stored = pg_rows(url, schema).await?;
    if stored != EVENTS {
        bail!("raw COPY stored {stored} of {EVENTS} rows");
    }
    Ok(elapsed)
}

/// The stream the NATS sink uses for `subject` (its own derivation).
fn stream_name(subject: &str) -> String {
    use ixn_broker::settings::BrokerSettings;
    let document = serde_json::json!({"url": "nats://127.0.0.1", "delivery-queue-name": subject});
    ixn_sink_nats::settings::Settings::parse(&document.to_string())
        .map_or_else(|_| subject.to_string(), |s| s.stream_name())
}

async fn clean_up(broker: Broker, url: &str, destination: &str) {
    match broker {
        Broker::Amqp => {
            if let Ok(c) =
                lapin::Connection::connect(url, lapin::ConnectionProperties::default()).await
                && let Ok(ch) = c.create_channel().await
            {
                let _ = ch
                    .queue_delete(
                        destination.into(),
                        lapin::options::QueueDeleteOptions::default(),
                    )
                    .await;
                let _ = c.close(200, "done".into()).await;
            }
        }
        Broker::Nats => {
            if let Ok(client) = async_nats::connect(url).await {
                let _ = async_nats::jetstream::new(client)
                    .delete_stream(stream_name(destination))
                    .await;
            }
        }
        Broker::Mqtt => {}
        Broker::Postgres => {
            use sqlx::Connection;
            if let Ok(mut conn) = sqlx::PgConnection::connect(url).await {
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS \"{destination}\" CASCADE"
                )))
                .execute(&mut conn)
                .await;
            }
        }
    }
}
