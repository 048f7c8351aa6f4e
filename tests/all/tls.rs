//! The MQTT sink over TLS with a client certificate, against a real
//! Mosquitto that requires one (the seed's `needClientAuth = true`): a
//! broker of the test's own on a free port, with a certificate authority,
//! server and client certificates made by `openssl` for this run.

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

/// A Mosquitto of its own, killed when dropped.
struct Broker(Child);

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
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(dir.join("mosquitto.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mosquitto");
    let broker = Broker(child);
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "mosquitto did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    broker
}

fn tls_logger(name: &str, port: u16, topic: &str, dir: &Path, with_client_cert: bool) -> String {
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
  delivery-protocol = "mqtt"
  delivery-queue-name = "{topic}"
  recoverable = true
  storing-timeout = 500
  reconnect-timeout = 1
  [event-logger.sink-settings]
  url = "mqtts://127.0.0.1:{port}"
  connect-timeout = 2000
  publish-timeout = 3000
  tls = {{ ca-file = "{d}/ca.pem"{client} }}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_over_tls_delivers_with_a_client_certificate_and_is_refused_without() {
    const N: usize = 20;
    let Some(_) = crate::brokers::Broker::Mqtt.url("mqtt-tls") else {
        return;
    };
    let certs = tempfile::tempdir().expect("tempdir");
    make_certificates(certs.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let _broker = start_tls_broker(certs.path(), port);
    let topic = crate::brokers::Broker::Mqtt.destination("tls");
    let host = TestHost::start(&config(&format!(
        "{}{}",
        tls_logger("tls", port, &topic, certs.path(), true),
        tls_logger(
            "no-client-cert",
            port,
            &format!("{topic}/refused"),
            certs.path(),
            false
        )
    )))
    .await
    .expect("host starts");
    // The consumer connects with the same settings: TLS and the client certificate.
    let mut bodies = consumer(&host, "tls").await;
    submit_emails(&host, N, 4).await;
    host.wait_finished("bp.Error", N as u64, Duration::from_secs(60))
        .await
        .expect("all finish");
    let bus = host.server.bus().clone();
    let tls = logger(&host, "tls");
    tokio::time::timeout(Duration::from_secs(30), tls.flush())
        .await
        .expect("the TLS logger writes everything");
    let produced = bus.produced();
    let (tally, _) = read_events(&mut bodies, bus.origin(), produced).await;
    assert_eq!(tally.distinct, produced, "{}", stats_line(&tls));

    // Without a client certificate the broker refuses the handshake: the
    // logger says so and keeps every event.
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
        error.contains("mqtts://127.0.0.1") || error.contains("connecting"),
        "{error}"
    );
    assert_eq!(
        refused
            .stats()
            .written
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert_eq!(
        refused
            .stats()
            .queued
            .load(std::sync::atomic::Ordering::Relaxed),
        produced,
        "every event is kept"
    );
    host.server.shutdown().await;
}
