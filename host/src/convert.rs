//! `ixn convert-fields`: the seed's utility mode ("Converting to and From
//! BLOB"). No listener is opened and nothing is processed: the storage named
//! by the config is opened (which adds the columns of new custom fields) and
//! asked, one bulk at a time, to move attached data between the blob and the
//! custom-field columns the config now declares.
//!
//! Each bulk commits with its checkpoint inside the storage, so the command
//! can be killed at any moment; run again, it resumes after the last commit
//! (`--reset` starts over).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ixn_plugin_api::storage::ConvertProgress;

use crate::config::Config;
use crate::plugins::Registry;
use crate::storage::Storage;

/// The seed's range for `bulk-size` (records per committed transaction).
pub const BULK_SIZES: std::ops::RangeInclusive<u32> = 1..=1000;

/// The seed's default `bulk-size`.
pub const DEFAULT_BULK_SIZE: u32 = 100;

/// `ixn convert-fields` options.
#[derive(Debug, Clone, clap::Args)]
pub struct ConvertArgs {
    /// Start from the first record instead of resuming after the last committed bulk.
    #[arg(long)]
    pub reset: bool,
    /// Records converted per committed transaction (1–1000).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BULK_SIZE,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub bulk_size: u32,
}

/// Runs the conversion to its end; the final progress.
pub async fn run(
    config_path: &Path,
    args: &ConvertArgs,
    registry: &Registry,
) -> anyhow::Result<ConvertProgress> {
    // Also enforced here for callers that do not go through clap.
    anyhow::ensure!(
        BULK_SIZES.contains(&args.bulk_size),
        "bulk-size {} is out of range: it must be {} to {}",
        args.bulk_size,
        BULK_SIZES.start(),
        BULK_SIZES.end()
    );
    let config = Config::load(config_path)?;
    let (c, reg) = (config.clone(), registry.clone());
    let problems = tokio::task::spawn_blocking(move || crate::check::plugins(&c, &reg)).await?;
    anyhow::ensure!(
        problems.is_empty(),
        "the configuration names what cannot run:\n  {}",
        problems.join("\n  ")
    );
    let storage = Storage::open(&config, registry).await?;

    let started = Instant::now();
    let mut progress = storage
        .convert_start(args.reset)
        .await
        .context("starting the conversion")?;
    let resumed_at = progress.done;
    tracing::info!(
        storage = %storage.name(),
        reset = args.reset,
        bulk_size = args.bulk_size,
        done = progress.done,
        total = progress.total,
        "Converting attached data to and from custom-field columns."
    );
    let bar = progress_bar(&progress);
    while !progress.finished {
        progress = storage
            .convert_step(args.bulk_size)
            .await
            .with_context(|| {
                format!(
                    "converting after record {} of {}",
                    progress.done, progress.total
                )
            })?;
        bar.set_length(progress.total);
        bar.set_position(progress.done);
    }
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    let visited = progress.done.saturating_sub(resumed_at);
    tracing::info!(
        records = progress.done,
        visited,
        to_columns = progress.to_columns,
        to_blob = progress.to_blob,
        kept = progress.kept,
        elapsed = ?elapsed,
        "Conversion finished."
    );
    Ok(progress)
}

/// A bar with rate and ETA on standard error; drawn only on a terminal.
fn progress_bar(progress: &ConvertProgress) -> ProgressBar {
    let bar =
        ProgressBar::with_draw_target(Some(progress.total), ProgressDrawTarget::stderr_with_hz(4));
    if let Ok(style) = ProgressStyle::with_template(
        "{bar:40} {pos}/{len} records · {per_sec} · ETA {eta} ({elapsed})",
    ) {
        bar.set_style(style);
    }
    bar.set_position(progress.done);
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// One line saying what the conversion did, for the command's output.
pub fn summary(progress: &ConvertProgress) -> String {
    format!(
        "converted {} records: {} values moved into custom-field columns, {} moved back into the blob, {} left in the blob (their column cannot hold them)",
        progress.done, progress.to_columns, progress.to_blob, progress.kept
    )
}
