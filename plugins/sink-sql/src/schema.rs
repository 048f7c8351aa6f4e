//! The Event Logger's tables and bringing a database up to the configured layout.
//!
//! Every table has the same base columns ([`BASE_COLUMNS`]) followed by one
//! column per custom data mapping of that table (the retention rules' key
//! columns first), added on open when missing.

use crate::db::Pool;
use crate::settings::Settings;
use ixn_plugin_api::sink::SinkError;

/// The columns every table has, in order; `id` is filled by the database.
pub const BASE_COLUMNS: [&str; 10] = [
    "id",
    "origin",
    "sequence",
    "generation",
    "event_id",
    "event_name",
    "endpoint",
    "occurred_at",
    "interaction_id",
    "attributes",
];

/// The base columns an insert fills (all but `id`).
pub const INSERT_COLUMNS: [&str; 9] = [
    "origin",
    "sequence",
    "generation",
    "event_id",
    "event_name",
    "endpoint",
    "occurred_at",
    "interaction_id",
    "attributes",
];

/// One of the Event Logger's tables, chosen by a record's `activity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// `rpt_interaction`, activity `interaction`.
    Interaction,
    /// `rpt_agent`, activity `agent`.
    Agent,
    /// `rpt_esp`, activity `esp`.
    Esp,
    /// `rpt_custom`, activity `custom`.
    Custom,
}

impl Table {
    /// All tables, in index order.
    pub const ALL: [Table; 4] = [Table::Interaction, Table::Agent, Table::Esp, Table::Custom];

    /// The table's name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Interaction => "rpt_interaction",
            Table::Agent => "rpt_agent",
            Table::Esp => "rpt_esp",
            Table::Custom => "rpt_custom",
        }
    }

    /// Position in [`Table::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The column the table's retention rule finds rows by, indexed:
    /// an interaction, an agent, a request, or when the row was stored (the delayed purge).
    pub fn retention_column(self) -> &'static str {
        match self {
            Table::Interaction => "interaction_id",
            Table::Agent => "agent_id",
            Table::Esp => "request_id",
            Table::Custom => "stored_at",
        }
    }

    /// The table for a record's activity.
    pub fn for_activity(activity: &str) -> Option<Table> {
        match activity {
            "interaction" => Some(Table::Interaction),
            "agent" => Some(Table::Agent),
            "esp" => Some(Table::Esp),
            "custom" => Some(Table::Custom),
            _ => None,
        }
    }
}

/// Creates the schema, missing tables and indexes, and adds missing custom columns.
pub async fn ensure(pool: &Pool, settings: &Settings) -> Result<(), SinkError> {
    let dialect = pool.dialect();
    let schema = settings.schema.as_deref();
    if let Some(sql) = schema.and_then(|s| dialect.create_schema(s)) {
        pool.execute(sql, || {
            format!("creating schema {}", schema.unwrap_or_default())
        })
        .await?;
    }
    for table in Table::ALL {
        let create = || format!("creating table {}", table.name());
        pool.execute(dialect.create_table(schema, table), create)
            .await?;
        let mut existing = pool.columns(schema, table).await?;
        if !existing.iter().any(|c| c == "origin") {
            // A table of the first layout, whose `sequence` alone was unique:
            // the events of a restarted host would be ignored there. Keep its
            // rows under another name and start the table anew.
            tracing::warn!(table = table.name(), kept_as = %format!("{}_v1", table.name()), "Reporting table of the first layout set aside; its rows are kept.");
            pool.execute(dialect.set_aside_v1(schema, table), || {
                format!("setting aside {} of the first layout", table.name())
            })
            .await?;
            pool.execute(dialect.create_table(schema, table), create)
                .await?;
            existing = pool.columns(schema, table).await?;
        }
        if !existing.iter().any(|c| c == "generation") {
            // Made before events carried their config generation: theirs is 0.
            tracing::info!(table = table.name(), "adding column generation");
            pool.execute(dialect.add_generation(schema, table), || {
                format!("adding column generation to {}", table.name())
            })
            .await?;
        }
        for column in settings.custom_columns(table) {
            if existing
                .iter()
                .any(|name| name.eq_ignore_ascii_case(&column.column))
            {
                continue;
            }
            tracing::info!(table = table.name(), column = %column.column, "adding custom data column");
            pool.execute(dialect.add_column(schema, table, column), || {
                format!("adding column {} to {}", column.column, table.name())
            })
            .await?;
        }
        pool.execute(dialect.create_index(schema, table), || {
            format!("indexing {} of {}", table.retention_column(), table.name())
        })
        .await?;
    }
    Ok(())
}

/// Rows in the four tables together.
pub async fn count(pool: &Pool, settings: &Settings) -> Result<u64, SinkError> {
    let sql = pool.dialect().count_all(settings.schema.as_deref());
    let total = pool.scalar(sql, "counting stored rows").await?;
    u64::try_from(total).map_err(|_| {
        SinkError::permanent(format!(
            "counting stored rows: the database answered {total}"
        ))
    })
}
