//! The tables in PostgreSQL: the versioned migrations (sqlx's migrator) that
//! create the standard layout, and the custom-field columns added at open
//! and on reload.

use std::borrow::Cow;
use std::collections::HashMap;

use ixn_plugin_api::storage::{FieldType, StorageError};
use ixn_sql::interactions::errors::db_with;
use ixn_sql::quote;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, PgConnection, SqlSafeStr};

pub(crate) use ixn_sql::interactions::layout::{BLOB_COLUMN, Schema, TABLE, custom_index_name};

/// The migrations, oldest first. A released one is never edited: a change
/// is a new file (sqlx checks each applied migration's checksum).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "interactions",
        include_str!("../migrations/0001_interactions.sql"),
    ),
    (
        2,
        "partition by queue",
        include_str!("../migrations/0002_partition_by_queue.sql"),
    ),
    (
        3,
        "claimable index",
        include_str!("../migrations/0003_claimable_index.sql"),
    ),
];

/// The table sqlx records applied migrations in, in ixn's schema.
const MIGRATIONS_TABLE: &str = "_ixn_migrations";

/// The migrator of [`MIGRATIONS`]. It takes an advisory lock, so hosts
/// starting together migrate one after the other.
pub(crate) fn migrator() -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                AssertSqlSafe(sql).into_sql_str(),
                false,
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: Cow::Owned(migrations),
        table_name: Cow::Borrowed(MIGRATIONS_TABLE),
        ..Migrator::DEFAULT
    }
}

/// The SQL type of a custom field's column.
fn column_type(t: FieldType) -> &'static str {
    match t {
        FieldType::Text => "text",
        FieldType::Integer | FieldType::Timestamp => "bigint",
    }
}

/// Adds the custom-field columns and indexes `schema` has and the table
/// lacks; refuses an existing column of another type. Never drops anything.
/// Runs in the caller's transaction, under an advisory lock, so two hosts
/// taking the same new fields do not both add a column.
pub(crate) async fn add_custom_columns(
    conn: &mut PgConnection,
    db_schema: &str,
    schema: &Schema,
) -> Result<(), StorageError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('ixn:custom-fields:' || $1))")
        .bind(db_schema)
        .execute(&mut *conn)
        .await
        .map_err(db_with("lock the custom fields"))?;
    let existing = table_columns(conn, db_schema).await?;
    for f in &schema.custom {
        let want = column_type(f.field_type);
        match existing.get(&f.column) {
            Some(declared) if declared == want => {}
            Some(declared) => {
                return Err(StorageError::permanent(format!(
                    "custom field `{}`: existing column `{}` is `{declared}`, the field wants {want}",
                    f.key, f.column
                )));
            }
            None => {
                let ddl = format!(
                    "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {want}",
                    quote(TABLE),
                    quote(&f.column)
                );
                execute(
                    conn,
                    ddl,
                    format!("add column `{}` for custom field `{}`", f.column, f.key),
                )
                .await?;
                tracing::info!(column = %f.column, key = %f.key, "postgres storage: added custom-field column");
            }
        }
        let ddl = format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
            quote(&custom_index_name(&f.column)),
            quote(TABLE),
            quote(&f.column)
        );
        execute(conn, ddl, "create index").await?;
    }
    Ok(())
}

/// Column names and data types of the table in `db_schema`.
async fn table_columns(
    conn: &mut PgConnection,
    db_schema: &str,
) -> Result<HashMap<String, String>, StorageError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = $1 AND table_name = $2",
    )
    .bind(db_schema)
    .bind(TABLE)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_with("read the columns of `interactions`"))?;
    Ok(rows.into_iter().collect())
}

/// Runs one statement built from checked identifiers and quoted literals
/// (DDL takes no parameters); `what` names it in the error.
pub(crate) async fn execute(
    conn: &mut PgConnection,
    ddl: String,
    what: impl std::fmt::Display,
) -> Result<(), StorageError> {
    sqlx::query(AssertSqlSafe(ddl))
        .execute(&mut *conn)
        .await
        .map_err(db_with(what))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;
    use ixn_plugin_api::columns::{ColumnType, STANDARD_COLUMNS};

    /// The first migration declares exactly the catalogue's standard
    /// columns, in its order, with its types, NOT NULLs and defaults.
    #[test]
    fn the_first_migration_is_the_catalogue() {
        let sql = MIGRATIONS[0].2;
        let body = &sql[sql.find("CREATE TABLE \"interactions\" (").unwrap()..];
        let body = &body[..body.find(");").unwrap()];
        let declared: Vec<&str> = body
            .lines()
            .skip(1)
            .map(|l| l.trim().trim_end_matches(','))
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(declared.len(), STANDARD_COLUMNS.len(), "{declared:#?}");
        for (line, c) in declared.iter().zip(STANDARD_COLUMNS) {
            let mut want = format!(
                "\"{}\" {}",
                c.name,
                match c.column_type {
                    ColumnType::Text => "TEXT",
                    ColumnType::Integer | ColumnType::Timestamp => "BIGINT",
                    ColumnType::Blob => "JSONB",
                }
            );
            if c.required {
                want.push_str(" NOT NULL");
            }
            if let Some(d) = c.default {
                want.push_str(&format!(" DEFAULT {d}"));
            }
            if c.name == ixn_plugin_api::columns::PRIMARY_KEY {
                want.push_str(" PRIMARY KEY");
            }
            assert_eq!(*line, want);
        }
    }
}
