//! What a live config change costs, against what it replaces:
//!
//! ```text
//! cargo bench -p ixn-tests --bench reload
//! ```
//!
//! Runs the reload soak of the integration test (`ixn_tests::soak`): two
//! clients submit e-mails without pause while 100 config changes of every
//! live kind (views, queues, lookup tables, strategy config, the component,
//! the event logger's file and batch size) and 10 invalid ones are written
//! in place, by rename and by a ConfigMap symlink swap. It prints the latency
//! from a file written to the new generation serving, which includes the
//! watcher's 50 ms debounce.
//!
//! Two baselines are measured in the same run:
//! - the same load for the same time on a config that does not change, for
//!   the processing rate (what the reloads cost the hot path);
//! - restarting the host on the changed config (graceful stop, start, until
//!   `/health` answers), for the latency a reload spares an operator, with
//!   no load (a restart under load would also wait for the views to drain).
//!
//! Like the integration test, the soak fails unless every interaction ended
//! in one final state and every event is in exactly one sink file.

use std::time::Duration;

use ixn_tests::soak;

const CHANGES: usize = 100;
const CLIENTS: usize = 2;
const RESTARTS: usize = 9;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let changed = runtime.block_on(soak::run(CHANGES, CLIENTS))?;
    let steady = runtime.block_on(soak::run_for(0, CLIENTS, changed.elapsed))?;
    let restarts = runtime.block_on(soak::restart_latencies(RESTARTS))?;
    let restart_p50 = restarts[restarts.len() / 2];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;

    println!(
        "reload soak: {} changes applied, {} invalid refused, {} clients submitting throughout",
        changed.applied, changed.rejected, CLIENTS
    );
    println!(
        "  change to applied (file written -> new generation serving, includes the 50 ms debounce)"
    );
    println!(
        "    p50 {:>7.1} ms   p99 {:>7.1} ms   max {:>7.1} ms",
        ms(changed.quantile(0.5)),
        ms(changed.quantile(0.99)),
        ms(changed.quantile(1.0)),
    );
    let slowest: Vec<String> = changed
        .slowest_by_kind
        .iter()
        .take(3)
        .map(|(kind, d)| format!("{kind} {:.1} ms", ms(*d)))
        .collect();
    println!("    slowest kinds: {}", slowest.join(", "));
    println!(
        "    baseline: restart on the changed config, median of {RESTARTS}   {:>7.1} ms   reload p50 is {:.2}x of it",
        ms(restart_p50),
        ms(changed.quantile(0.5)) / ms(restart_p50),
    );
    println!("  processing rate, end to end (HTTP submit -> WASM router -> stopped)");
    println!(
        "    baseline: config unchanged for {:.1} s        {:>7.0} interactions/s",
        steady.elapsed.as_secs_f64(),
        steady.rate()
    );
    println!(
        "    {} reloads in {:.1} s                      {:>7.0} interactions/s   {:.2}x unchanged",
        changed.applied + changed.rejected,
        changed.elapsed.as_secs_f64(),
        changed.rate(),
        changed.rate() / steady.rate()
    );
    println!(
        "  counted in the sinks: {} interactions each in one final state, {} events each in one file (changed run); {} and {} (unchanged run)",
        changed.submitted, changed.events, steady.submitted, steady.events
    );
    Ok(())
}
