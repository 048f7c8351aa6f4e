//! The `interactions` table: its standard columns, the custom-field columns,
//! and the DDL that creates or migrates it.

use std::collections::HashMap;

use ixn_plugin_api::storage::{FieldType, StorageError};
use sqlx::{Row, SqliteConnection};

use crate::error::db_with;
use ixn_sql::quote;

pub(crate) use ixn_sql::interactions::layout::{
    BLOB_COLUMN, STOPPED_COUNTS, Schema, TABLE, custom_index_name,
};

use ixn_plugin_api::columns::{ColumnType, PRIMARY_KEY, STANDARD_COLUMNS, StandardColumn};

/// A standard column's declaration in SQLite.
fn declaration(c: &StandardColumn) -> String {
    let mut decl = String::from(match c.column_type {
        ColumnType::Text => "TEXT",
        ColumnType::Integer | ColumnType::Timestamp => "INTEGER",
        ColumnType::Blob => "BLOB",
    });
    if c.required {
        decl.push_str(" NOT NULL");
    }
    if let Some(d) = c.default {
        decl.push_str(&format!(" DEFAULT {d}"));
    }
    if c.name == PRIMARY_KEY {
        decl.push_str(" PRIMARY KEY");
    }
    decl
}

/// The SQL type of a custom field's column.
fn column_type(t: FieldType) -> &'static str {
    match t {
        FieldType::Text => "TEXT",
        FieldType::Integer | FieldType::Timestamp => "INTEGER",
    }
}

/// SQLite's type affinity of a declared type (https://sqlite.org/datatype3.html §3.1),
/// reduced to what matters here: integer, text or something else.
fn affinity(declared: &str) -> &'static str {
    let d = declared.to_ascii_uppercase();
    if d.contains("INT") {
        "INTEGER"
    } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
        "TEXT"
    } else {
        "OTHER"
    }
}

/// Creates the table and its indexes, or brings an existing table up to date:
/// adds missing custom-field columns (never drops anything). Values of newly
/// mapped keys stay in the blob, where reads find them, until
/// `ixn convert-fields` moves them in bulks (`convert.rs`): rewriting every
/// row here would hold the write lock for the whole table.
///
/// Runs in one `BEGIN IMMEDIATE` transaction so that two processes opening the
/// same file do not both try to add a column.
pub(crate) async fn migrate(
    conn: &mut SqliteConnection,
    schema: &Schema,
) -> Result<(), StorageError> {
    let existing = table_columns(conn).await?;
    if existing.is_empty() {
        let columns: Vec<String> = STANDARD_COLUMNS
            .iter()
            .map(|c| format!("{} {}", quote(c.name), declaration(c)))
            .chain(
                schema
                    .custom
                    .iter()
                    .map(|f| format!("{} {}", quote(&f.column), column_type(f.field_type))),
            )
            .collect();
        let ddl = format!(
            "CREATE TABLE {} (\n  {}\n)",
            quote(TABLE),
            columns.join(",\n  ")
        );
        execute(conn, ddl, "create table `interactions`").await?;
    } else {
        // Standard columns added since the table was first created: nullable,
        // so adding them to a table that holds rows is all the migration.
        for c in STANDARD_COLUMNS
            .iter()
            .filter(|c| c.added_later && !existing.contains_key(c.name))
        {
            let name = c.name;
            let ddl = format!(
                "ALTER TABLE {} ADD COLUMN {} {}",
                quote(TABLE),
                quote(name),
                declaration(c)
            );
            execute(conn, ddl, format!("add standard column `{name}`")).await?;
            tracing::info!(column = %name, "sqlite storage: added standard column");
        }
        let existing = table_columns(conn).await?;
        if let Some(missing) = STANDARD_COLUMNS
            .iter()
            .find(|c| !existing.contains_key(c.name))
        {
            return Err(StorageError::permanent(format!(
                "existing table `{TABLE}` has no standard column `{}`: it was not created by this backend",
                missing.name
            )));
        }
        for f in &schema.custom {
            match existing.get(&f.column) {
                Some(declared) => {
                    if affinity(declared) != column_type(f.field_type) {
                        return Err(StorageError::permanent(format!(
                            "custom field `{}`: existing column `{}` is declared `{declared}`, the field wants {}",
                            f.key,
                            f.column,
                            column_type(f.field_type)
                        )));
                    }
                }
                None => {
                    let ddl = format!(
                        "ALTER TABLE {} ADD COLUMN {} {}",
                        quote(TABLE),
                        quote(&f.column),
                        column_type(f.field_type)
                    );
                    execute(
                        conn,
                        ddl,
                        format!("add column `{}` for custom field `{}`", f.column, f.key),
                    )
                    .await?;
                    tracing::info!(column = %f.column, key = %f.key, "sqlite storage: added custom-field column");
                }
            }
        }
    }
    let mut indexes = vec![
        format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} (\"queue\", \"state\", \"is_locked\", \"scheduled_at\") WHERE \"stopped_at\" IS NULL",
            quote(&format!("{TABLE}_claim")),
            quote(TABLE)
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} (\"lease_until\")",
            quote(&format!("{TABLE}_lease_until")),
            quote(TABLE)
        ),
    ];
    for f in &schema.custom {
        indexes.push(format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
            quote(&custom_index_name(&f.column)),
            quote(TABLE),
            quote(&f.column)
        ));
    }
    for ddl in indexes {
        execute(conn, ddl, "create index").await?;
    }
    ensure_stopped_counts(conn).await
}

/// Creates the stopped-per-queue counts; on a database made before they
/// existed, fills them once from the table (the only scan of stopped rows).
async fn ensure_stopped_counts(conn: &mut SqliteConnection) -> Result<(), StorageError> {
    let exists: Option<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?")
            .bind(STOPPED_COUNTS)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_with(format!("look for table `{STOPPED_COUNTS}`")))?;
    if exists.is_some() {
        return Ok(());
    }
    execute(
        conn,
        format!(
            "CREATE TABLE {} (\"queue\" TEXT PRIMARY KEY NOT NULL, \"stopped\" INTEGER NOT NULL)",
            quote(STOPPED_COUNTS)
        ),
        format!("create table `{STOPPED_COUNTS}`"),
    )
    .await?;
    execute(
        conn,
        format!(
            "INSERT INTO {} (\"queue\", \"stopped\") SELECT \"queue\", COUNT(*) FROM {} \
             WHERE \"stopped_at\" IS NOT NULL GROUP BY \"queue\"",
            quote(STOPPED_COUNTS),
            quote(TABLE)
        ),
        format!("fill table `{STOPPED_COUNTS}`"),
    )
    .await
}

/// Column names and declared types of the table; empty when it does not exist.
async fn table_columns(
    conn: &mut SqliteConnection,
) -> Result<HashMap<String, String>, StorageError> {
    let rows = sqlx::query("SELECT name, type FROM pragma_table_info(?)")
        .bind(TABLE)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_with("read the columns of `interactions`"))?;
    let mut columns = HashMap::new();
    for row in rows {
        let name: String = row
            .try_get("name")
            .map_err(db_with("read the columns of `interactions`"))?;
        let declared: String = row
            .try_get("type")
            .map_err(db_with("read the columns of `interactions`"))?;
        columns.insert(name, declared);
    }
    Ok(columns)
}

async fn execute(
    conn: &mut SqliteConnection,
    ddl: String,
    what: impl std::fmt::Display,
) -> Result<(), StorageError> {
    sqlx::query(sqlx::AssertSqlSafe(ddl))
        .execute(&mut *conn)
        .await
        .map_err(db_with(what))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn affinities() {
        assert_eq!(affinity("INTEGER"), "INTEGER");
        assert_eq!(affinity("varchar(40)"), "TEXT");
        assert_eq!(affinity("BLOB"), "OTHER");
    }
}
