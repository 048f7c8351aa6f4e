//! Interaction ids: 16 characters, time-ordered (DESIGN.md §1).
//!
//! 9 Crockford base-32 characters of the millisecond timestamp (good until the
//! year 3084), then 7 of a per-process counter that starts at a random value,
//! so ids made in the same millisecond still sort in creation order and two
//! hosts sharing one database do not collide in practice.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const COUNTER_BITS: u32 = 35;

static LAST: Mutex<(i64, u64)> = Mutex::new((0, 0));
static SEED: OnceLock<u64> = OnceLock::new();
static FALLBACK: AtomicU64 = AtomicU64::new(0);

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
    let now = crate::time::now_ms().max(0);
    let seed = *SEED.get_or_init(|| rand::random::<u64>() & ((1 << (COUNTER_BITS - 1)) - 1));
    let counter = match LAST.lock() {
        Ok(mut last) => {
            if last.0 == now {
                last.1 = (last.1 + 1) & ((1 << COUNTER_BITS) - 1);
            } else {
                *last = (now, seed);
            }
            last.1
        }
        // A poisoned lock only means another thread panicked mid-update; ids stay unique
        // through the atomic fallback.
        Err(_) => FALLBACK.fetch_add(1, Ordering::Relaxed),
    };
    let mut id = String::with_capacity(16);
    encode(now as u64, 9, &mut id);
    encode(counter, 7, &mut id);
    id
}

/// Whether a submitter-given id is acceptable: 1–64 printable ASCII characters without spaces.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

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
