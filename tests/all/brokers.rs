//! The message-queue sinks against the machine's real brokers: RabbitMQ
//! (`IXN_TEST_AMQP_URL`), NATS JetStream (`IXN_TEST_NATS_URL`) and Mosquitto
//! (`IXN_TEST_MQTT_URL`). `.ci/run` starts the brokers and sets the
//! variables; where one is unset its tests say so and skip.
//!
//! Every test counts what a consumer of its own reads back off the broker,
//! by event id, never what the sink says it sent; and checks each message
//! against `wit/sink/event.schema.json`.

use std::collections::HashSet;
use std::time::Duration;

use ixn_broker::tally::Tally;
use ixn_tests::TestHost;
use serde_json::Value as Json;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::sinks::{config, logger, stats_line, submit_emails, wait_for};

/// A broker the tests can reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Broker {
    Amqp,
    Nats,
    Mqtt,
}

impl Broker {
    pub(crate) fn protocol(self) -> &'static str {
        match self {
            Broker::Amqp => "amqp",
            Broker::Nats => "nats",
            Broker::Mqtt => "mqtt",
        }
    }

    fn variable(self) -> &'static str {
        match self {
            Broker::Amqp => "IXN_TEST_AMQP_URL",
            Broker::Nats => "IXN_TEST_NATS_URL",
            Broker::Mqtt => "IXN_TEST_MQTT_URL",
        }
    }

    /// The broker's URL, or `None` after printing why the test skips.
    pub(crate) fn url(self, test: &str) -> Option<String> {
        match std::env::var(self.variable()) {
            Ok(url) if !url.is_empty() => Some(url),
            _ => {
                eprintln!(
                    "SKIPPED {test}: {} is not set (`.ci/run` sets it after starting the broker)",
                    self.variable()
                );
                None
            }
        }
    }

    /// A queue, subject or topic name of its own for one test run.
    pub(crate) fn destination(self, test: &str) -> String {
        let unique = format!("{test}-{}-{}", std::process::id(), ixn::ids::new_id());
        match self {
            Broker::Amqp => format!("ixn.test.{unique}"),
            Broker::Nats => format!("ixn.test.{}", unique.replace(['.', '-'], "_")),
            Broker::Mqtt => format!("ixn/test/{unique}"),
        }
    }
}

/// How the sink is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Linked {
    /// The built-in linked into the host.
    Builtin,
    /// The `.so` built from `plugins/sink-*`.
    Library,
}

/// An event logger `name` on `broker`, `recoverable`, with `extra` lines in its `logger-settings`.
pub(crate) fn broker_logger(
    broker: Broker,
    linked: Linked,
    name: &str,
    url: &str,
    destination: &str,
    extra: &str,
) -> String {
    let plugin = match linked {
        Linked::Builtin => String::new(),
        Linked::Library => {
            let so = ixn_tests::plugin_so(&format!("ixn-sink-{}", broker.protocol()))
                .expect("the sink's .so is built");
            format!("plugin = \"{}\"", so.display())
        }
    };
    format!(
        r#"
[[event-logger]]
name = "{name}"
  [event-logger.logger-settings]
  delivery-protocol = "{protocol}"
  delivery-queue-name = "{destination}"
  recoverable = true
  batch-size = 100
  storing-timeout = 500
  reconnect-timeout = 1
  {plugin}
  {extra}
  [event-logger.sink-settings]
  url = "{url}"
  publish-timeout = 3000
  connect-timeout = 2000
"#,
        protocol = broker.protocol()
    )
}

/// Starts reading the logger's destination, as the demo does.
pub(crate) async fn consumer(host: &TestHost, name: &str) -> UnboundedReceiver<Vec<u8>> {
    let config = host.server.config();
    let logger = config
        .event_loggers
        .iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("no event logger `{name}`"));
    let document = logger.sink_settings.as_str();
    let started = match logger.protocol.as_str() {
        "amqp" => ixn_sink_amqp::consume::start(document).await,
        "nats" => ixn_sink_nats::consume::start(document, false).await,
        "mqtt" => ixn_sink_mqtt::consume::start(document).await,
        other => panic!("`{other}` is not a broker"),
    };
    started.unwrap_or_else(|e| panic!("consuming `{name}`: {e}"))
}

/// The JSON Schema of every message, compiled.
pub(crate) fn event_schema() -> jsonschema::Validator {
    let path = ixn_tests::repo_root().join("wit/sink/event.schema.json");
    let text = std::fs::read_to_string(&path).expect("the schema file");
    let schema: Json = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("the schema compiles")
}

/// What a test read off a broker of one origin's events.
#[derive(Default)]
pub(crate) struct Read {
    pub(crate) tally: Tally,
    /// The sequence numbers seen.
    pub(crate) sequences: HashSet<u64>,
}

impl Read {
    fn add(&mut self, schema: &jsonschema::Validator, origin: &str, body: &[u8]) {
        let Ok(json) = serde_json::from_slice::<Json>(body) else {
            self.tally.undecodable += 1;
            return;
        };
        if json["origin"] != origin {
            self.tally.other_origins += 1;
            return;
        }
        if let Err(e) = schema.validate(&json) {
            panic!("a message does not match event.schema.json: {e}\n{json}");
        }
        let sequence = json["sequence"]
            .as_u64()
            .expect("the schema wants a sequence");
        if self.sequences.insert(sequence) {
            self.tally.distinct += 1;
        } else {
            self.tally.duplicates += 1;
        }
    }
}

/// Reads bodies until `expected` distinct events of `origin` arrived or
/// nothing came for 10 s, checking each against the schema; adds to `read`.
pub(crate) async fn read_more(
    read: &mut Read,
    bodies: &mut UnboundedReceiver<Vec<u8>>,
    origin: &str,
    expected: u64,
) {
    let schema = event_schema();
    let idle = Duration::from_secs(10);
    while read.tally.distinct < expected {
        match tokio::time::timeout(idle, bodies.recv()).await {
            Ok(Some(body)) => read.add(&schema, origin, &body),
            Ok(None) | Err(_) => break,
        }
    }
    // Copies already here count too.
    while let Ok(body) = bodies.try_recv() {
        read.add(&schema, origin, &body);
    }
}

/// [`read_more`] from nothing read yet.
pub(crate) async fn read_events(
    bodies: &mut UnboundedReceiver<Vec<u8>>,
    origin: &str,
    expected: u64,
) -> (Tally, HashSet<u64>) {
    let mut read = Read::default();
    read_more(&mut read, bodies, origin, expected).await;
    (read.tally, read.sequences)
}

/// Runs `n` interactions through a host whose only logger is on `broker`,
/// and checks that the broker holds each event once and nothing else of this run.
async fn events_reach_the_broker(broker: Broker, linked: Linked, test: &str) {
    const N: usize = 100;
    let Some(url) = broker.url(test) else { return };
    let destination = broker.destination(test);
    let host = TestHost::start(&config(&broker_logger(
        broker,
        linked,
        "broker",
        &url,
        &destination,
        "",
    )))
    .await
    .expect("host starts");
    let mut bodies = consumer(&host, "broker").await;
    submit_emails(&host, N, 8).await;
    host.wait_finished("bp.Error", N as u64, Duration::from_secs(60))
        .await
        .expect("all interactions finish");
    let bus = host.server.bus().clone();
    bus.flush().await;
    let produced = bus.produced();
    let (tally, sequences) = read_events(&mut bodies, bus.origin(), produced).await;
    let l = logger(&host, "broker");
    assert_eq!(
        tally.distinct,
        produced,
        "{broker:?}: every event produced is on the broker; {}",
        stats_line(&l)
    );
    assert_eq!(
        sequences,
        (1..=produced).collect::<HashSet<_>>(),
        "{broker:?}: the events are the run's, 1..={produced}"
    );
    assert_eq!(tally.duplicates, 0, "{broker:?}: no retry, so no copies");
    assert_eq!(tally.undecodable, 0);
    assert_eq!(
        l.stats().written.load(std::sync::atomic::Ordering::Relaxed),
        produced,
        "the logger counts as written what the broker acknowledged"
    );
    host.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_reaches_rabbitmq_once_as_the_schema_says() {
    events_reach_the_broker(Broker::Amqp, Linked::Builtin, "amqp-builtin").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_reaches_nats_jetstream_once_as_the_schema_says() {
    events_reach_the_broker(Broker::Nats, Linked::Builtin, "nats-builtin").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_reaches_mosquitto_once_as_the_schema_says() {
    events_reach_the_broker(Broker::Mqtt, Linked::Builtin, "mqtt-builtin").await;
}

/// The same through each sink's `.so`: a dynamic plugin with its own copy
/// of tokio and of the broker client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_broker_sink_works_loaded_from_its_so() {
    for broker in [Broker::Amqp, Broker::Nats, Broker::Mqtt] {
        events_reach_the_broker(
            broker,
            Linked::Library,
            &format!("{}-so", broker.protocol()),
        )
        .await;
    }
}

/// A broker that is not there when the host starts is not a start-up
/// failure: the logger keeps its events, says in `/health` why it cannot
/// write, and delivers them once the broker answers. (Here the "broker" is a
/// port nobody listens on, then a config reload points the logger at the
/// real one.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_is_reported_and_its_events_wait() {
    const N: usize = 20;
    let test = "unreachable";
    let Some(url) = Broker::Amqp.url(test) else {
        return;
    };
    let destination = Broker::Amqp.destination(test);
    // A port that was free a moment ago: nothing answers there.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let dead_url = format!("amqp://guest:guest@{dead}/%2f");
    let config_on = |url: &str| {
        config(&broker_logger(
            Broker::Amqp,
            Linked::Builtin,
            "broker",
            url,
            &destination,
            "",
        ))
    };
    let host = TestHost::start(&config_on(&dead_url))
        .await
        .expect("a host starts while its broker is down");
    submit_emails(&host, N, 4).await;
    host.wait_finished("bp.Error", N as u64, Duration::from_secs(60))
        .await
        .expect("processing goes on without the broker");
    let l = logger(&host, "broker");
    let reported = wait_for(
        Duration::from_secs(20),
        "/health reporting the sink failing",
        || {
            let host = &host;
            async move {
                let (_, health) = host.health().await.map_err(|e| e.to_string())?;
                let text = health.to_string();
                if text.contains("connecting to amqp://guest:***@") {
                    Ok(text)
                } else {
                    Err(text)
                }
            }
        },
    )
    .await;
    assert!(
        !reported.contains("guest:guest@"),
        "the password is not shown: {reported}"
    );
    assert_eq!(
        l.stats().written.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    let held = l.stats().queued.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(held, host.server.bus().produced(), "every event is held");

    // Point the logger at the real broker: the reload drains the old sink
    // (which keeps failing until the host lets it go) into the new one.
    std::fs::write(host.dir.path().join("ixn.toml"), config_on(&url)).expect("write config");
    let (status, body) = host.post_reload().await.expect("reload");
    assert_eq!(status, 200, "{body}");
    let mut bodies = consumer(&host, "broker").await;
    let bus = host.server.bus().clone();
    let produced = bus.produced();
    let (tally, _) = read_events(&mut bodies, bus.origin(), produced).await;
    assert_eq!(tally.distinct, produced, "{body}");
    host.server.shutdown().await;
}
