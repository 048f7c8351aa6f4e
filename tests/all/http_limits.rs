//! Clients that send half a request, or nothing, or too many connections:
//! they are timed out and capped, and `/health` keeps answering.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ixn_tests::ServeProcess;

/// The one-step business process as a process of its own, with short read
/// timeouts and a small connection cap.
fn serve_config(max_connections: u32) -> String {
    ixn_tests::one_step_config(ixn_bp_artifacts::HOSTILE_ERR, "").replace(
        "[server]",
        &format!(
            "[server]\ndata-dir = \"data\"\nlisten = \"127.0.0.1:0\"\n\
             header-read-timeout = 1\nbody-read-timeout = 1\nmax-connections = {max_connections}"
        ),
    )
}

fn addr(server: &ServeProcess) -> String {
    server.base.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection (or `limit` passes); returns
/// what it answered, or `None` if it kept the connection open.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let start = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .ok()?;
    while start.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => return Some(String::from_utf8_lossy(&answer).into_owned()),
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(String::from_utf8_lossy(&answer).into_owned()),
        }
    }
    None
}

/// Open file descriptors of a process.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_closed_after_the_read_timeouts() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = ServeProcess::start(dir.path(), &serve_config(1024))?;
    let addr = addr(&server);

    // Silent, half a header, and a whole header with half its body.
    let mut silent = TcpStream::connect(&addr)?;
    let mut half_header = TcpStream::connect(&addr)?;
    half_header.write_all(b"POST /v1/interactions HTTP/1.1\r\nHost: ixn\r\n")?;
    let mut half_body = TcpStream::connect(&addr)?;
    half_body.write_all(
        b"POST /v1/interactions HTTP/1.1\r\nHost: ixn\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"media_type\":",
    )?;

    let limit = Duration::from_secs(20);
    assert!(
        read_until_closed(&mut silent, limit).is_some(),
        "a connection that sent nothing was kept open"
    );
    assert!(
        read_until_closed(&mut half_header, limit).is_some(),
        "a connection that sent half its headers was kept open"
    );
    let answer = read_until_closed(&mut half_body, limit)
        .expect("a connection that sent half its body was kept open");
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "half a body was answered {answer:?}, not 408"
    );
    assert!(
        answer.contains("body-read-timeout"),
        "the 408 does not name the setting: {answer:?}"
    );
    assert_eq!(
        ixn_tests::sqlite_count(
            &dir.path().join("data/ixn.db"),
            "SELECT COUNT(*) FROM interactions"
        )
        .await?,
        0,
        "half a submission was stored"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_cannot_exhaust_file_descriptors() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let max = 64;
    let server = ServeProcess::start(dir.path(), &serve_config(max))?;
    let addr = addr(&server);
    let pid = server.child.id();
    let baseline = open_fds(pid);

    // Ten times the cap in half-sent requests, held open by the client.
    let mut slow = Vec::new();
    for _ in 0..(max as usize * 10) {
        let mut s = TcpStream::connect(&addr)?;
        s.write_all(b"GET /health HTTP/1.1\r\nHost: ixn\r\n")?;
        slow.push(s);
    }
    std::thread::sleep(Duration::from_millis(500));
    let held = open_fds(pid).saturating_sub(baseline);
    assert!(
        held <= max as usize + 8,
        "the server holds {held} more descriptors with {} slow clients; the cap is {max}",
        slow.len()
    );

    // /health still answers: slow connections time out and free their slots.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let r = client.get(format!("{}/health", server.base)).send().await?;
    assert_eq!(r.status().as_u16(), 200, "/health: {}", r.status());

    // Every slow connection is closed by the server in the end.
    let still_open = slow
        .iter_mut()
        .map(|s| read_until_closed(s, Duration::from_secs(60)))
        .filter(Option::is_none)
        .count();
    assert_eq!(still_open, 0, "slow connections the server kept open");
    Ok(())
}
