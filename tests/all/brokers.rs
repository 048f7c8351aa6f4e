//! The message-queue sinks against the machine's real brokers: RabbitMQ
//! (`IXN_TEST_AMQP_URL`), NATS JetStream (`IXN_TEST_NATS_URL`) and Mosquitto
//! (`IXN_TEST_MQTT_URL`). `.ci/run` starts the brokers and sets the
//! variables; where one is unset its tests say so and skip.
//!
//! Every test counts what a consumer of its own reads back off the broker,
//! by event id, never what the sink says it sent; and checks each message
//! against `wit/sink/event.schema.json`.
//!
//! Some tests stop a broker and start it again; they hold [`BROKERS`] for
//! writing, every other test using a broker holds it for reading.

use std::collections::HashSet;
use std::time::Duration;

use ixn_broker::settings::BrokerSettings;
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
    let _shared = BROKERS.read().await;
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
    clean_up(&host, "broker").await;
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
    let _shared = BROKERS.read().await;
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
    clean_up(&host, "broker").await;
    host.server.shutdown().await;
}

/// A message too large for the sink (`max-message-size`) is refused for
/// good: the logger narrows the batch down to the events at fault, puts
/// each in its dead-letter file with the reason, and writes the rest.
/// Together the broker and the file hold every event exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_a_sink_refuses_go_to_the_dead_letter_file_and_the_rest_are_delivered() {
    const N: usize = 40;
    let test = "dead-letter";
    let Some(url) = Broker::Mqtt.url(test) else {
        return;
    };
    let _shared = BROKERS.read().await;
    let destination = Broker::Mqtt.destination(test);
    let logger_section = broker_logger(
        Broker::Mqtt,
        Linked::Builtin,
        "broker",
        &url,
        &destination,
        "",
    )
    .replace(
        "  publish-timeout = 3000",
        "  publish-timeout = 3000\n  max-message-size = 1024",
    ) + "  [event-logger.itx-custom-data]\n  Note = \"note;string;2000\"\n";
    let host = TestHost::start(&config(&logger_section))
        .await
        .expect("host starts");
    let mut bodies = consumer(&host, "broker").await;
    submit_emails(&host, N, 4).await;
    // One interaction whose mapped `Note` makes each of its events too large.
    let mut big = ixn_tests::email("too large to send");
    big["properties"]["Note"] = Json::from("n".repeat(1500));
    let (status, body) = host.submit(&big).await.expect("submit");
    assert_eq!(status, 201, "{body}");
    let big_id = body["id"].as_str().expect("an id").to_string();
    host.wait_finished("bp.Error", N as u64 + 1, Duration::from_secs(60))
        .await
        .expect("all interactions finish");
    let bus = host.server.bus().clone();
    bus.flush().await;
    let produced = bus.produced();
    let l = logger(&host, "broker");
    let dead = l
        .stats()
        .dead_lettered
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        dead >= 3,
        "the large interaction's events are dead-lettered: {}",
        stats_line(&l)
    );

    let (tally, delivered) = read_events(&mut bodies, bus.origin(), produced - dead).await;
    assert_eq!(tally.distinct, produced - dead, "{}", stats_line(&l));
    let file = host.dir.path().join("data/dead-letter/broker.jsonl");
    let text = std::fs::read_to_string(&file).expect("the dead-letter file");
    let schema = event_schema();
    let mut refused = HashSet::new();
    for line in text.lines() {
        let entry: Json = serde_json::from_str(line).expect("a JSON line");
        assert_eq!(entry["logger"], "broker");
        let reason = entry["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("max-message-size 1024"), "{reason}");
        let event = &entry["event"];
        assert!(schema.validate(event).is_ok(), "{event}");
        assert_eq!(
            event["interaction_id"],
            big_id.as_str(),
            "only the large interaction's events: {event}"
        );
        refused.insert(event["sequence"].as_u64().expect("a sequence"));
    }
    assert_eq!(refused.len() as u64, dead);
    assert!(refused.is_disjoint(&delivered));
    let all: HashSet<u64> = refused.union(&delivered).copied().collect();
    assert_eq!(
        all,
        (1..=produced).collect::<HashSet<_>>(),
        "every event is in one of the two"
    );
    assert_eq!(
        l.stats()
            .discarded_rejected
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    host.server.shutdown().await;
}

/// Tests that stop a broker take this for writing; every other test that
/// uses a broker takes it for reading, so no test sees a broker vanish
/// that did not ask for it.
pub(crate) static BROKERS: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// `host:port` of a broker URL.
fn authority(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let rest = rest.rsplit('@').next().unwrap_or(rest);
    rest.split('/').next().unwrap_or(rest).to_string()
}

fn answers(authority: &str) -> bool {
    std::net::TcpStream::connect_timeout(
        &authority
            .parse()
            .unwrap_or_else(|e| panic!("`{authority}`: {e}")),
        Duration::from_millis(500),
    )
    .is_ok()
}

/// Stops or starts the machine's broker with the commands `.ci/run` uses,
/// and waits until its port agrees.
fn control(broker: Broker, url: &str, up: bool) {
    let nats_start = [
        "--start",
        "--oknodo",
        "--background",
        "--exec",
        "/usr/sbin/nats-server",
        "--",
        "-a",
        "127.0.0.1",
        "-p",
        "4222",
        "-js",
        "-sd",
        "/var/lib/nats-server",
        "-l",
        "/var/log/nats-server.log",
    ];
    let (program, args): (&str, Vec<&str>) = match (broker, up) {
        (Broker::Amqp, false) => ("rabbitmqctl", vec!["stop_app"]),
        (Broker::Amqp, true) => ("rabbitmqctl", vec!["start_app"]),
        (Broker::Nats, false) => (
            "start-stop-daemon",
            vec![
                "--stop",
                "--oknodo",
                "--retry",
                "20",
                "--exec",
                "/usr/sbin/nats-server",
            ],
        ),
        (Broker::Nats, true) => ("start-stop-daemon", nats_start.to_vec()),
        (Broker::Mqtt, false) => ("pkill", vec!["-TERM", "-x", "mosquitto"]),
        (Broker::Mqtt, true) => (
            "mosquitto",
            vec!["-d", "-c", "/etc/mosquitto/mosquitto.conf"],
        ),
    };
    let status = std::process::Command::new(program)
        .args(&args)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(status.success(), "{program} {args:?}: {status}");
    let at = authority(url);
    let start = std::time::Instant::now();
    while answers(&at) != up {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{broker:?} at {at} is still {} after {program} {args:?}",
            if up { "down" } else { "up" }
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Restarts the broker when dropped, should the test fail while it is down.
struct BrokerDown {
    broker: Broker,
    url: String,
    down: bool,
}

impl BrokerDown {
    fn stop(broker: Broker, url: &str) -> Self {
        control(broker, url, false);
        BrokerDown {
            broker,
            url: url.to_string(),
            down: true,
        }
    }

    fn start(mut self) {
        control(self.broker, &self.url, true);
        self.down = false;
    }
}

impl Drop for BrokerDown {
    fn drop(&mut self) {
        if self.down {
            control(self.broker, &self.url, true);
        }
    }
}

/// Removes what a test left on the broker: the AMQP queue, the NATS stream.
pub(crate) async fn clean_up(host: &TestHost, name: &str) {
    let config = host.server.config();
    let Some(logger) = config.event_loggers.iter().find(|l| l.name == name) else {
        return;
    };
    let settings: Json = serde_json::from_str(&logger.sink_settings).unwrap_or_default();
    let url = settings["url"].as_str().unwrap_or_default().to_string();
    let destination = settings["delivery-queue-name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match logger.protocol.as_str() {
        "amqp" => {
            if let Ok(c) =
                lapin::Connection::connect(&url, lapin::ConnectionProperties::default()).await
                && let Ok(ch) = c.create_channel().await
            {
                let _ = ch
                    .queue_delete(
                        destination.as_str().into(),
                        lapin::options::QueueDeleteOptions::default(),
                    )
                    .await;
                let _ = c.close(200, "done".into()).await;
            }
        }
        "nats" => {
            if let Ok(client) = async_nats::connect(url.as_str()).await
                && let Ok(s) = ixn_sink_nats::settings::Settings::parse(&logger.sink_settings)
            {
                let _ = async_nats::jetstream::new(client)
                    .delete_stream(s.stream_name())
                    .await;
            }
        }
        _ => {}
    }
}

/// A broker stopped mid-run and started again, under a `recoverable`
/// logger without a spool: processing never waits for it, the logger keeps
/// what it cannot send in memory and retries, and in the end
/// delivered + discarded = produced, exactly, with discarded reported (0
/// here: the memory queue is far from full). NATS holds each event once
/// (its dedupe window drops the copies a retry sends); AMQP and MQTT hold
/// each at least once, copies carrying the same id.
///
/// With `spool = "disk"` the same holds, the records waiting in the spool
/// instead of memory.
async fn a_broker_stopped_mid_run(broker: Broker, spool: bool) {
    const N: usize = 60;
    let test = &format!("{}-stopped", broker.protocol());
    let Some(url) = broker.url(test) else { return };
    let _alone = BROKERS.write().await;
    let destination = broker.destination(test);
    let host = TestHost::start(&config(&broker_logger(
        broker,
        Linked::Builtin,
        "broker",
        &url,
        &destination,
        if spool { "spool = \"disk\"" } else { "" },
    )))
    .await
    .expect("host starts");
    // MQTT keeps nothing for a subscriber that is not there: read all along.
    let mut live = match broker {
        Broker::Mqtt => Some(consumer(&host, "broker").await),
        _ => None,
    };
    submit_emails(&host, N / 2, 4).await;
    host.wait_finished("bp.Error", (N / 2) as u64, Duration::from_secs(60))
        .await
        .expect("the first half finishes");
    let l = logger(&host, "broker");
    let down = BrokerDown::stop(broker, &url);
    submit_emails(&host, N / 2, 4).await;
    host.wait_finished("bp.Error", N as u64, Duration::from_secs(60))
        .await
        .expect("processing goes on while the broker is down");
    wait_for(
        Duration::from_secs(30),
        "the logger noticing the broker is gone",
        || {
            let l = l.clone();
            async move {
                if l.stats().retried.load(std::sync::atomic::Ordering::Relaxed) > 0 {
                    Ok(())
                } else {
                    Err(stats_line(&l))
                }
            }
        },
    )
    .await;
    down.start();
    let bus = host.server.bus().clone();
    tokio::time::timeout(Duration::from_secs(90), bus.flush())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{broker:?}: the logger did not catch up: {}",
                stats_line(&l)
            )
        });
    let produced = bus.produced();
    let mut bodies = match live.take() {
        Some(bodies) => bodies,
        // What the queue or stream holds now, read from its start.
        None => consumer(&host, "broker").await,
    };
    let (tally, sequences) = read_events(&mut bodies, bus.origin(), produced).await;
    let st = l.stats();
    let discarded = st
        .discarded_overflow
        .load(std::sync::atomic::Ordering::Relaxed)
        + st.discarded_shutdown
            .load(std::sync::atomic::Ordering::Relaxed)
        + st.discarded_rejected
            .load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "{broker:?} stopped mid-run: produced {produced}, delivered {}, duplicates {}, discarded {discarded}, retried {}",
        tally.distinct,
        tally.duplicates,
        st.retried.load(std::sync::atomic::Ordering::Relaxed)
    );
    assert_eq!(
        tally.distinct + discarded,
        produced,
        "{broker:?}: delivered + discarded = produced; {}",
        stats_line(&l)
    );
    assert_eq!(discarded, 0, "nothing needed discarding");
    let spooled = st.spooled.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(spooled > 0, spool, "spooled {spooled}");
    assert_eq!(
        st.spool_records.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert_eq!(sequences, (1..=produced).collect::<HashSet<_>>());
    if broker == Broker::Nats {
        assert_eq!(
            tally.duplicates, 0,
            "the stream drops retried copies by Nats-Msg-Id"
        );
    }
    clean_up(&host, "broker").await;
    host.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_stopped_mid_run_loses_nothing() {
    a_broker_stopped_mid_run(Broker::Amqp, false).await;
    a_broker_stopped_mid_run(Broker::Amqp, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_stopped_mid_run_loses_nothing_and_holds_each_event_once() {
    a_broker_stopped_mid_run(Broker::Nats, false).await;
    a_broker_stopped_mid_run(Broker::Nats, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_stopped_mid_run_loses_nothing() {
    a_broker_stopped_mid_run(Broker::Mqtt, false).await;
    a_broker_stopped_mid_run(Broker::Mqtt, true).await;
}

/// The seed's ActiveMQ logger "does not report any errors" when a
/// non-persistent queue is deleted on the fly. Here every message is
/// published `mandatory`: a deleted queue sends them back, the batch fails
/// with that reason (in `/health`), the records wait in the spool, and the
/// next connection declares the queue again and delivers them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_deleted_on_the_fly_is_reported_and_its_events_are_spooled_not_lost() {
    const N: usize = 30;
    let test = "amqp-deleted";
    let Some(url) = Broker::Amqp.url(test) else {
        return;
    };
    let _shared = BROKERS.read().await;
    let destination = Broker::Amqp.destination(test);
    let host = TestHost::start(&config(
        &broker_logger(
            Broker::Amqp,
            Linked::Builtin,
            "broker",
            &url,
            &destination,
            "spool = \"disk\"\n  reconnect-timeout = 3",
        )
        .replace("  reconnect-timeout = 1\n", ""),
    ))
    .await
    .expect("host starts");
    let mut read = Read::default();
    let mut first = consumer(&host, "broker").await;
    submit_emails(&host, N, 4).await;
    host.wait_finished("bp.Error", N as u64, Duration::from_secs(60))
        .await
        .expect("the first interactions finish");
    let bus = host.server.bus().clone();
    bus.flush().await;
    read_more(&mut read, &mut first, bus.origin(), bus.produced()).await;
    assert_eq!(read.tally.distinct, bus.produced());

    // Delete the queue under the running logger.
    let connection = lapin::Connection::connect(&url, lapin::ConnectionProperties::default())
        .await
        .expect("connect");
    let channel = connection.create_channel().await.expect("channel");
    channel
        .queue_delete(
            destination.as_str().into(),
            lapin::options::QueueDeleteOptions::default(),
        )
        .await
        .expect("queue.delete");
    submit_emails(&host, N, 4).await;
    let l = logger(&host, "broker");
    let health = wait_for(
        Duration::from_secs(30),
        "the deleted queue reported and the events spooled",
        || {
            let (host, l) = (&host, l.clone());
            async move {
                let (_, health) = host.health().await.map_err(|e| e.to_string())?;
                let spooled = l.stats().spooled.load(std::sync::atomic::Ordering::Relaxed);
                if health.to_string().contains("came back unroutable") && spooled > 0 {
                    Ok(health)
                } else {
                    Err(format!("spooled {spooled}: {health}"))
                }
            }
        },
    )
    .await;
    assert!(
        health
            .to_string()
            .contains(&format!("does queue `{destination}` exist?")),
        "{health}"
    );
    host.wait_finished("bp.Error", 2 * N as u64, Duration::from_secs(60))
        .await
        .expect("all interactions finish");
    tokio::time::timeout(Duration::from_secs(60), bus.flush())
        .await
        .expect("the spool is delivered to the queue declared again");
    let mut second = consumer(&host, "broker").await;
    let produced = bus.produced();
    read_more(&mut read, &mut second, bus.origin(), produced).await;
    assert_eq!(read.tally.distinct, produced, "{}", stats_line(&l));
    assert_eq!(read.sequences, (1..=produced).collect::<HashSet<_>>());
    assert_eq!(
        l.stats()
            .spool_records
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    let _ = connection.close(200, "done".into()).await;
    clean_up(&host, "broker").await;
    host.server.shutdown().await;
}
