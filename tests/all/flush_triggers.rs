//! The seed's two flush triggers of an event logger: a batch is written as
//! soon as `batch-size` records wait, or once `storing-timeout` passed since
//! the first of them — whichever comes first. Counted in the sink's file.

use std::sync::Arc;
use std::time::Duration;

use ixn::config::EventLoggerConfig;
use ixn::events::{Event, EventBus, EventKind, EventLogger, OpenedLogger, RunningLogger};

use crate::sinks::wait_for;

fn jsonl_logger(
    path: &std::path::Path,
    batch_size: usize,
    storing_timeout: Duration,
) -> EventLoggerConfig {
    EventLoggerConfig {
        name: "file".into(),
        batch_size,
        storing_timeout,
        ..ixn_tests::logger_config(
            "jsonl",
            "jsonl",
            serde_json::json!({ "path": path }),
            path.with_extension("dead-letter"),
        )
    }
}

async fn start(config: &EventLoggerConfig) -> (RunningLogger, Arc<EventLogger>, EventBus) {
    let opened = OpenedLogger::open(&ixn::builtins::registry(), config)
        .await
        .expect("the jsonl sink opens");
    let running = opened.start();
    let logger = running.logger.clone();
    let bus = EventBus::new("flush-test", vec![logger.clone()]);
    (running, logger, bus)
}

fn events(n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| Event::interaction(EventKind::InteractionSubmitted, None, &format!("ix{i}"), 1))
        .collect()
}

async fn lines(logger: &Arc<EventLogger>) -> u64 {
    logger
        .stored_count()
        .await
        .expect("count")
        .expect("the jsonl sink counts its lines")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_batch_is_written_at_once_and_the_rest_waits_for_the_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A minute of storing-timeout: only the size can trigger a write here.
    let config = jsonl_logger(&dir.path().join("e.jsonl"), 10, Duration::from_secs(60));
    let (running, logger, bus) = start(&config).await;
    bus.emit(events(25));
    wait_for(Duration::from_secs(20), "two full batches written", || {
        let logger = logger.clone();
        async move {
            match lines(&logger).await {
                20 => Ok(()),
                n => Err(format!("{n} lines")),
            }
        }
    })
    .await;
    // The last 5 are not a full batch: they wait (the timeout is a minute away).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(lines(&logger).await, 20);
    bus.flush().await;
    assert_eq!(lines(&logger).await, 25);
    running.drain().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_batch_is_written_when_the_storing_timeout_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The largest batch-size: only the timeout can trigger a write here.
    let config = jsonl_logger(
        &dir.path().join("e.jsonl"),
        5000,
        Duration::from_millis(500),
    );
    let (running, logger, bus) = start(&config).await;
    bus.emit(events(3));
    wait_for(
        Duration::from_secs(20),
        "the 3 records written without a flush",
        || {
            let logger = logger.clone();
            async move {
                match lines(&logger).await {
                    3 => Ok(()),
                    n => Err(format!("{n} lines")),
                }
            }
        },
    )
    .await;
    running.drain().await;
}
