//! Counting the events a broker holds, as a consumer reads them.

use std::collections::HashSet;
use std::time::Duration;

use tokio::sync::mpsc;

/// What a consumer read of one origin's events.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Distinct events (by sequence) of the origin.
    pub distinct: u64,
    /// Copies of events already counted (at-least-once redelivery).
    pub duplicates: u64,
    /// Events of other origins (earlier runs, other hosts).
    pub other_origins: u64,
    /// Messages that are not an event record.
    pub undecodable: u64,
}

/// Reads message bodies until `expected` distinct events of `origin` were
/// seen or no message came for `idle`.
pub async fn count(
    bodies: &mut mpsc::UnboundedReceiver<Vec<u8>>,
    origin: &str,
    expected: u64,
    idle: Duration,
) -> Tally {
    let mut seen = HashSet::new();
    let mut tally = Tally::default();
    while tally.distinct < expected {
        let body = match tokio::time::timeout(idle, bodies.recv()).await {
            Ok(Some(body)) => body,
            Ok(None) | Err(_) => break,
        };
        add(&mut tally, &mut seen, origin, &body);
    }
    // Whatever is already here counts too (late copies).
    while let Ok(body) = bodies.try_recv() {
        add(&mut tally, &mut seen, origin, &body);
    }
    tally
}

fn add(tally: &mut Tally, seen: &mut HashSet<u64>, origin: &str, body: &[u8]) {
    #[derive(serde::Deserialize)]
    struct Id<'a> {
        origin: &'a str,
        sequence: u64,
    }
    match serde_json::from_slice::<Id>(body) {
        Ok(id) if id.origin == origin => {
            if seen.insert(id.sequence) {
                tally.distinct += 1;
            } else {
                tally.duplicates += 1;
            }
        }
        Ok(_) => tally.other_origins += 1,
        Err(_) => tally.undecodable += 1,
    }
}
