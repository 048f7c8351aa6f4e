//! The broker sinks over TLS with a client certificate, against servers
//! that require one (the seed's `needClientAuth = true`), with a
//! certificate authority, server and client certificates made by `openssl`
//! for this run, on free ports:
//!
//! - MQTT: a Mosquitto of the test's own with `require_certificate true`;
//! - NATS: a JetStream nats-server of the test's own with `--tlsverify`;
//! - AMQP: the local RabbitMQ behind `socat OPENSSL-LISTEN … verify=1`,
//!   which terminates TLS and refuses a client without a certificate
//!   (RabbitMQ's own TLS listener would need its node restarted with a
//!   new config).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ixn_tests::TestHost;

use crate::brokers::{consumer, read_events};
use crate::sinks::{config, logger, stats_line, submit_emails, wait_for};

fn run(dir: &Path, program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ca.pem`, `server.pem`/`server.key` (for 127.0.0.1) and
/// `client.pem`/`client.key`, all signed by the CA.
fn make_certificates(dir: &Path) {
    let subj = |cn: &str| format!("/CN={cn}");
    run(
        dir,
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            &subj("ixn-test-ca"),
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .expect("write ext");
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").expect("write ext");
    // Extensions make v3 certificates, the only version webpki accepts.
    for (name, ext) in [("server", "server.ext"), ("client", "client.ext")] {
        run(
            dir,
            "openssl",
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &subj(&format!("ixn-test-{name}")),
            ],
        );
        let mut args = vec![
            "x509",
            "-req",
            "-in",
            &*format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &*format!("{name}.pem"),
            "-days",
            "1",
        ]
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
        args.extend(["-extfile".to_string(), ext.to_string()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(dir, "openssl", &args);
        let text = Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in", &format!("{name}.pem")])
            .current_dir(dir)
            .output()
            .expect("openssl x509 -text");
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("Version: 3"), "{name}.pem is not v3: {text}");
    }
}

/// A server process of the test's own, killed when dropped.
struct Broker(Child);

impl Broker {
    /// Starts `program` and waits until it listens on `port`.
    fn start(program: &str, args: &[String], port: u16) -> Broker {
        let child = Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {program}: {e}"));
        let broker = Broker(child);
        let start = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{program} did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        broker
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_tls_broker(dir: &Path, port: u16) -> Broker {
    let conf = format!(
        // `user root`: started as root, Mosquitto would otherwise drop to its
        // own user, who cannot read the test's files (no effect for others).
        "listener {port} 127.0.0.1\ncafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\nrequire_certificate true\nallow_anonymous true\npersistence false\nuser root\nlog_dest file {d}/mosquitto.log\n",
        d = dir.display()
    );
    std::fs::write(dir.join("mosquitto.conf"), conf).expect("write mosquitto.conf");
    Broker::start(
        "mosquitto",
        &[
            "-c".to_string(),
            dir.join("mosquitto.conf").display().to_string(),
        ],
        port,
    )
}

/// A JetStream nats-server requiring TLS and a client certificate.
fn start_tls_nats(dir: &Path, port: u16) -> Broker {
    let d = dir.display();
    let store = dir.join("jetstream");
    let args = [
        "-a".to_string(),
        "127.0.0.1".to_string(),
        "-p".to_string(),
        port.to_string(),
        "-js".to_string(),
        "-sd".to_string(),
        store.display().to_string(),
        "--tls".to_string(),
        format!("--tlscert={d}/server.pem"),
        format!("--tlskey={d}/server.key"),
        format!("--tlscacert={d}/ca.pem"),
        "--tlsverify".to_string(),
    ];
    Broker::start("nats-server", &args, port)
}

/// TLS in front of the RabbitMQ at `upstream` (`host:port`), requiring a
/// client certificate signed by the test's CA.
fn start_tls_amqp_proxy(dir: &Path, port: u16, upstream: &str) -> Broker {
    let d = dir.display();
    let args = [
        // Errors (a refused handshake, a client speaking plain text) to its log.
        "-lf".to_string(),
        format!("{d}/socat.log"),
        format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={d}/server.pem,key={d}/server.key,cafile={d}/ca.pem,verify=1"
        ),
        format!("TCP:{upstream}"),
    ];
    Broker::start("socat", &args, port)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Whether `program` can be run here (`--version` or `-V` answers).
fn installed(program: &str) -> bool {
    ["-V", "--version"].iter().any(|flag| {
        Command::new(program)
            .arg(flag)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_over_tls_delivers_with_a_client_certificate_and_is_refused_without() {
    let Some(_) = crate::brokers::Broker::Mqtt.url("mqtt-tls") else {
        return;
    };
    let certs = tempfile::tempdir().expect("tempdir");
    make_certificates(certs.path());
    let port = free_port();
    let _broker = start_tls_broker(certs.path(), port);
    let topic = crate::brokers::Broker::Mqtt.destination("tls");
    delivers_over_tls_and_is_refused_without_a_certificate(
        crate::brokers::Broker::Mqtt,
        &format!("mqtts://127.0.0.1:{port}"),
        &topic,
        certs.path(),
    )
    .await;
}

/// A logger of `protocol` (`amqp`, `nats` or `mqtt`) at `url`, with or without the client certificate.
fn tls_broker_logger(
    protocol: &str,
    name: &str,
    url: &str,
    destination: &str,
    dir: &Path,
    with_client_cert: bool,
) -> String {
    let d = dir.display();
    let client = if with_client_cert {
        format!(", cert-file = \"{d}/client.pem\", key-file = \"{d}/client.key\"")
    } else {
        String::new()
    };
    format!(
        r#"
[[event-logger]]
name = "{name}"
  [event-logger.logger-settings]
  delivery-protocol = "{protocol}"
  delivery-queue-name = "{destination}"
  recoverable = true
  storing-timeout = 500
  reconnect-timeout = 1
  [event-logger.sink-settings]
  url = "{url}"
  connect-timeout = 2000
  publish-timeout = 3000
  tls = {{ ca-file = "{d}/ca.pem"{client} }}
"#
    )
}

/// Every event arrives through TLS with the client certificate, read back
/// by a consumer connecting the same way; without the certificate the
/// server refuses the handshake, the logger says so and keeps every event.
async fn delivers_over_tls_and_is_refused_without_a_certificate(
    broker: crate::brokers::Broker,
    url: &str,
    destination: &str,
    certs: &Path,
) {
    const N: usize = 20;
    let protocol = match broker {
        crate::brokers::Broker::Amqp => "amqp",
        crate::brokers::Broker::Nats => "nats",
        crate::brokers::Broker::Mqtt => "mqtt",
    };
    let refused_destination = format!("{destination}.refused");
    let host = TestHost::start(&config(&format!(
        "{}{}",
        tls_broker_logger(protocol, "tls", url, destination, certs, true),
        tls_broker_logger(
            protocol,
            "no-client-cert",
            url,
            &refused_destination,
            certs,
            false
        )
    )))
    .await
    .expect("host starts");
    // MQTT keeps nothing for a subscriber that is not there yet: subscribe
    // first. The queue and the stream hold what was sent: read them after.
    let mut early = match broker {
        crate::brokers::Broker::Mqtt => Some(consumer(&host, "tls").await),
        _ => None,
    };
    submit_emails(&host, N, 4).await;
    host.wait_finished("bp.Error", N as u64, Duration::from_secs(60))
        .await
        .expect("all finish");
    let bus = host.server.bus().clone();
    let tls = logger(&host, "tls");
    if tokio::time::timeout(Duration::from_secs(30), tls.flush())
        .await
        .is_err()
    {
        panic!(
            "{protocol}: the TLS logger did not write everything: {}; last error {:?}",
            stats_line(&tls),
            tls.stats().last_error().map(|e| e.error)
        );
    }
    let produced = bus.produced();
    // The consumer connects over TLS too, with the same settings.
    let mut bodies = match early.take() {
        Some(bodies) => bodies,
        None => consumer(&host, "tls").await,
    };
    let (tally, _) = read_events(&mut bodies, bus.origin(), produced).await;
    assert_eq!(tally.distinct, produced, "{protocol}: {}", stats_line(&tls));

    let refused = logger(&host, "no-client-cert");
    let error = wait_for(
        Duration::from_secs(30),
        "the refused handshake reported",
        || {
            let refused = refused.clone();
            async move {
                match refused.stats().last_error() {
                    Some(e) => Ok(e.error),
                    None => Err(stats_line(&refused)),
                }
            }
        },
    )
    .await;
    assert!(
        error.contains("connecting") || error.contains("://127.0.0.1"),
        "{protocol}: {error}"
    );
    assert!(
        !error.contains("guest:guest"),
        "{protocol}: the password shown: {error}"
    );
    let s = refused.stats();
    assert_eq!(
        s.written.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "{protocol}"
    );
    assert_eq!(
        s.queued.load(std::sync::atomic::Ordering::Relaxed),
        produced,
        "{protocol}: every event is kept"
    );
    host.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_over_tls_delivers_with_a_client_certificate_and_is_refused_without() {
    let test = "nats_over_tls_delivers_with_a_client_certificate_and_is_refused_without";
    let Some(_) = crate::brokers::Broker::Nats.url(test) else {
        return;
    };
    let certs = tempfile::tempdir().expect("tempdir");
    make_certificates(certs.path());
    let port = free_port();
    let _server = start_tls_nats(certs.path(), port);
    let subject = crate::brokers::Broker::Nats.destination("tls");
    delivers_over_tls_and_is_refused_without_a_certificate(
        crate::brokers::Broker::Nats,
        &format!("tls://127.0.0.1:{port}"),
        &subject,
        certs.path(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_over_tls_delivers_with_a_client_certificate_and_is_refused_without() {
    let test = "amqp_over_tls_delivers_with_a_client_certificate_and_is_refused_without";
    let Some(url) = crate::brokers::Broker::Amqp.url(test) else {
        return;
    };
    if !installed("socat") {
        eprintln!(
            "SKIPPED {test}: socat, which puts TLS in front of RabbitMQ here, is not installed"
        );
        return;
    }
    let _brokers = crate::brokers::BROKERS.read().await;
    let upstream = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.rsplit('@').next())
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("127.0.0.1:5672")
        .to_string();
    let user = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.rsplit_once('@'))
        .map_or(String::new(), |(user, _)| format!("{user}@"));
    let certs = tempfile::tempdir().expect("tempdir");
    make_certificates(certs.path());
    let port = free_port();
    let _proxy = start_tls_amqp_proxy(certs.path(), port, &upstream);
    let queue = crate::brokers::Broker::Amqp.destination("tls");
    delivers_over_tls_and_is_refused_without_a_certificate(
        crate::brokers::Broker::Amqp,
        &format!("amqps://{user}127.0.0.1:{port}/%2f"),
        &queue,
        certs.path(),
    )
    .await;
}
