//! `ixn partitions`: the seed's verification query ("how many records are
//! stored in each partition") for the PostgreSQL storage: every partition
//! of the interactions table with the queues it holds, its tablespace and
//! its rows. It reads only; the plan of `[[storage.settings.partitions]]`
//! is applied when a host opens the storage.

use std::path::Path;

use anyhow::Context;
use ixn_storage_postgres::PartitionRow;

use crate::config::{Config, PluginRef};

/// Reads the partitions of the storage `config_path` names.
pub async fn run(config_path: &Path) -> anyhow::Result<Vec<PartitionRow>> {
    let config = Config::load(config_path)?;
    ensure_postgres(&config, "partitions")?;
    ixn_storage_postgres::partition_report(&config.storage_settings)
        .await
        .map_err(anyhow::Error::msg)
        .context("is the storage opened once by `ixn serve` or `ixn demo`?")
}

/// Refuses a config whose storage is not PostgreSQL, for `ixn <command>`.
pub fn ensure_postgres(config: &Config, command: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        is_postgres(&config.storage),
        "`ixn {command}` reads a PostgreSQL storage; {} stores in {} (set `[storage] plugin = \"postgres\"`)",
        config.source.display(),
        config.storage
    );
    Ok(())
}

/// The built-in `postgres`, or its `.so`.
fn is_postgres(storage: &PluginRef) -> bool {
    match storage {
        PluginRef::Builtin(name) => name == "postgres",
        PluginRef::Library(path) => path
            .file_name()
            .is_some_and(|f| f.to_string_lossy().contains("storage_postgres")),
    }
}

/// The report as an aligned table, the default partition last.
pub fn table(rows: &[PartitionRow]) -> String {
    let mut rows: Vec<&PartitionRow> = rows.iter().collect();
    rows.sort_by_key(|r| (r.bound == "DEFAULT", r.table.clone()));
    let width = |f: fn(&PartitionRow) -> usize, title: &str| {
        rows.iter()
            .map(|r| f(r))
            .max()
            .unwrap_or(0)
            .max(title.len())
    };
    let (t, s) = (
        width(|r| r.table.len(), "partition"),
        width(|r| r.tablespace.len(), "tablespace"),
    );
    let mut out = format!(
        "{:<t$}  {:<s$}  {:>10}  queues\n",
        "partition", "tablespace", "rows"
    );
    for r in rows {
        let queues = r
            .bound
            .strip_prefix("FOR VALUES IN (")
            .and_then(|b| b.strip_suffix(')'))
            .unwrap_or("(every other queue)");
        out.push_str(&format!(
            "{:<t$}  {:<s$}  {:>10}  {queues}\n",
            r.table, r.tablespace, r.rows
        ));
    }
    out
}
