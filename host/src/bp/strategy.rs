//! A strategy as it runs: its primary component and, while a canary is
//! configured, a second component that gets a share of the interactions —
//! and the calls each version made.
//!
//! Which arm serves an interaction is a pure function of the view and the
//! interaction's id (its bucket, 0 to 9 999, from SHA-256), not a coin toss
//! at each claim: an interaction stays with the version chosen for it for
//! its whole stay in the view, across a `keep`, a lease expiry and a restart,
//! with no state to store. Raising the percent only moves interactions to the
//! canary; removing the canary sends every one back to the primary at the
//! next claim.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::wasm::{BpComponent, CallError};

/// Which of a strategy's components.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arm {
    /// The strategy's `component`.
    Primary,
    /// Its `canary.component`.
    Canary,
}

/// The loaded components of one strategy.
#[derive(Clone)]
pub struct Strategy {
    /// The strategy's `component`.
    pub primary: Arc<BpComponent>,
    /// The canary and its share, while configured.
    pub canary: Option<Canary>,
}

/// A canary component and the share of interactions it gets.
#[derive(Clone)]
pub struct Canary {
    /// The loaded canary component.
    pub component: Arc<BpComponent>,
    /// 0 to 100.
    pub percent: f64,
}

/// Buckets an interaction falls into: percent × 100, so 0.01 % is one bucket.
const BUCKETS: u64 = 10_000;

impl Strategy {
    /// The component of `arm`, if the strategy has it.
    pub fn arm(&self, arm: Arm) -> Option<&Arc<BpComponent>> {
        match arm {
            Arm::Primary => Some(&self.primary),
            Arm::Canary => self.canary.as_ref().map(|c| &c.component),
        }
    }

    /// The arm that serves interaction `id` in `view` (see the module doc).
    pub fn pick(&self, view: &str, id: &str) -> Arm {
        match &self.canary {
            Some(c) if (bucket(view, id) as f64) < c.percent * (BUCKETS as f64 / 100.0) => {
                Arm::Canary
            }
            _ => Arm::Primary,
        }
    }
}

/// Interaction `id`'s bucket in `view`, 0 to 9 999: the same for the same
/// pair on every host and every run.
pub fn bucket(view: &str, id: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(view.as_bytes());
    h.update([0]);
    h.update(id.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first) % BUCKETS
}

/// What one component version's calls did, since the host started.
pub struct CallStats {
    calls: AtomicU64,
    errors: AtomicU64,
    traps: AtomicU64,
    /// Call durations in microseconds.
    latency: Mutex<Histogram<u64>>,
}

impl Default for CallStats {
    fn default() -> Self {
        CallStats {
            calls: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            traps: AtomicU64::new(0),
            // 1 µs to 1 h at three significant digits; recording saturates.
            latency: Mutex::new(
                Histogram::new_with_bounds(1, 3_600_000_000, 3)
                    .expect("constant bounds that hdrhistogram accepts"),
            ),
        }
    }
}

/// [`CallStats`] as `/v1/strategies` shows them.
#[derive(Debug, Serialize)]
pub struct CallFigures {
    /// Calls made.
    pub calls: u64,
    /// Calls whose guest returned `err`, or whose host function or
    /// instantiation failed.
    pub errors: u64,
    /// Calls the guest did not finish: a trap, the call timeout, fuel or the
    /// memory limit.
    pub traps: u64,
    /// Call latency in microseconds (absent before the first call).
    pub latency_us: Option<Latency>,
}

/// Quantiles of call latency, microseconds.
#[derive(Debug, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Slowest.
    pub max: u64,
    /// Mean.
    pub mean: u64,
}

impl CallStats {
    /// Counts one call.
    pub fn record<T>(&self, took: Duration, result: &Result<T, CallError>) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(_) => {}
            Err(CallError::Guest(_) | CallError::HostFault(_) | CallError::Instantiate(_)) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
            }
            Err(
                CallError::Trap(_)
                | CallError::Timeout(_)
                | CallError::OutOfFuel
                | CallError::MemoryLimit(_),
            ) => {
                self.traps.fetch_add(1, Ordering::Relaxed);
            }
        }
        let us = took.as_micros().clamp(1, u128::from(u64::MAX)) as u64;
        if let Ok(mut h) = self.latency.lock() {
            h.saturating_record(us);
        }
    }

    /// The figures so far.
    pub fn figures(&self) -> CallFigures {
        let latency_us = self.latency.lock().ok().and_then(|h| {
            (!h.is_empty()).then(|| Latency {
                p50: h.value_at_quantile(0.5),
                p99: h.value_at_quantile(0.99),
                max: h.max(),
                mean: h.mean().round() as u64,
            })
        });
        CallFigures {
            calls: self.calls.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            traps: self.traps.load(Ordering::Relaxed),
            latency_us,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_stable_and_spread() {
        assert_eq!(bucket("v", "a"), bucket("v", "a"));
        // The same id lands elsewhere in another view.
        let moved = (0..100)
            .filter(|i| bucket("v", &i.to_string()) != bucket("w", &i.to_string()))
            .count();
        assert!(moved > 90, "{moved}");
        let under_10_percent = (0..100_000)
            .filter(|i| bucket("v", &format!("ix-{i}")) < 1_000)
            .count();
        assert!(
            (9_500..10_500).contains(&under_10_percent),
            "{under_10_percent} of 100 000 in the first tenth"
        );
    }

    #[test]
    fn calls_are_counted_by_what_became_of_them() {
        let s = CallStats::default();
        s.record::<()>(Duration::from_micros(40), &Ok(()));
        s.record::<()>(
            Duration::from_micros(60),
            &Err(CallError::Guest("no".into())),
        );
        s.record::<()>(Duration::from_millis(300), &Err(CallError::Timeout(300)));
        let f = s.figures();
        assert_eq!((f.calls, f.errors, f.traps), (3, 1, 1));
        let l = f.latency_us.expect("latency after calls");
        assert!(l.max >= 299_000 && l.p50 >= 59 && l.p50 <= 61, "{l:?}");
    }
}
