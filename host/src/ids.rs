//! Interaction ids: 16 characters, time-ordered (DESIGN.md §1).
//!
//! 9 Crockford base-32 characters of the millisecond timestamp (good until the
//! year 3084), then 7 of a per-process counter that starts at a random value,
//! so ids made in the same millisecond still sort in creation order and two
//! hosts sharing one database do not collide in practice. Within a process the
//! (millisecond, counter) pair only ever grows, so an id is never made twice.

use std::sync::{Mutex, OnceLock, PoisonError};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const COUNTER_BITS: u32 = 35;

/// The (millisecond, counter) of the last id made by this process.
static LAST: Mutex<(i64, u64)> = Mutex::new((0, 0));
static SEED: OnceLock<u64> = OnceLock::new();

fn encode(mut value: u64, width: usize, out: &mut String) {
    let mut buf = [b'0'; 16];
    for slot in buf[..width].iter_mut().rev() {
        *slot = ALPHABET[(value & 31) as usize];
        value >>= 5;
    }
    out.push_str(std::str::from_utf8(&buf[..width]).unwrap_or("0000000000000000"));
}

/// A new interaction id.
pub fn new_id() -> String {
    // The counter starts below half its range, so a millisecond has at least
    // 2^34 ids before it would wrap.
    let seed = *SEED.get_or_init(|| rand::random::<u64>() & ((1 << (COUNTER_BITS - 1)) - 1));
    let (millis, counter) = {
        // The tuple is consistent after any panic, so a poisoned lock is fine to use.
        let mut last = LAST.lock().unwrap_or_else(PoisonError::into_inner);
        // Read the clock under the lock and never step back: a thread that read
        // it before another thread moved on to the next millisecond, or a wall
        // clock set back, would otherwise restart an earlier millisecond's
        // counter and make an id a second time.
        let now = crate::time::now_ms().max(0);
        if now > last.0 {
            *last = (now, seed);
        } else if last.1 + 1 < (1 << COUNTER_BITS) {
            last.1 += 1;
        } else {
            *last = (last.0 + 1, seed);
        }
        *last
    };
    let mut id = String::with_capacity(16);
    encode(millis as u64, 9, &mut id);
    encode(counter, 7, &mut id);
    id
}

/// Whether a submitter-given id is acceptable: 1–64 printable ASCII characters without spaces.
///
/// The documented character set of an id a submitter chooses: 1 to 64 of
/// `A-Z a-z 0-9 - _ . :`, starting with a letter or digit. Ids end up in
/// URLs, file names of exports and other backends' keys: no `/`, no spaces,
/// no `..` path tricks, nothing a backend cannot hold.
pub fn is_valid_id(id: &str) -> bool {
    id.len() <= 64
        && id.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// How [`is_valid_id`] is explained to a user.
pub const ID_RULE: &str = "1-64 characters of A-Z a-z 0-9 - _ . : starting with a letter or digit";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_made_on_many_threads_at_once_are_unique() {
        let threads: Vec<_> = (0..8)
            .map(|_| std::thread::spawn(|| (0..50_000).map(|_| new_id()).collect::<Vec<_>>()))
            .collect();
        let mut all = std::collections::HashSet::new();
        for t in threads {
            for id in t.join().expect("id thread") {
                assert!(all.insert(id.clone()), "{id} made twice");
            }
        }
    }

    #[test]
    fn ids_are_16_chars_unique_and_ordered() {
        let ids: Vec<String> = (0..10_000).map(|_| new_id()).collect();
        assert!(ids.iter().all(|id| id.len() == 16));
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, ids, "ids sort in creation order");
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len(), "ids are unique");
    }
}
