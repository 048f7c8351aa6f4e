//! Whether a running backend may take a new set of custom fields: the one
//! rule both backends apply on `update-fields`, with the database asked
//! only how many rows a condition matches ([`CountRows`]).

use std::future::Future;

use ixn_plugin_api::storage::{FieldType, StorageError};
use sqlx::{AssertSqlSafe, PgConnection, SqliteConnection};

use crate::interactions::errors::db_with;
use crate::interactions::layout::{Schema, TABLE};
use crate::query::{SqlDialect, quote};

/// A connection that counts the rows of the interactions table matching a
/// condition (SQL built from checked identifiers only).
pub trait CountRows: Send {
    /// The database's dialect.
    type Dialect: SqlDialect;
    /// `SELECT COUNT(*) … WHERE condition`.
    fn count_rows(
        &mut self,
        condition: &str,
    ) -> impl Future<Output = Result<i64, StorageError>> + Send;
}

/// The statement of [`CountRows::count_rows`].
fn count_sql(condition: &str) -> AssertSqlSafe<String> {
    AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM {} WHERE {condition}",
        quote(TABLE)
    ))
}

impl CountRows for PgConnection {
    type Dialect = sqlx::Postgres;
    async fn count_rows(&mut self, condition: &str) -> Result<i64, StorageError> {
        sqlx::query_scalar(count_sql(condition))
            .fetch_one(self)
            .await
            .map_err(db_with(format!("count rows where {condition}")))
    }
}

impl CountRows for SqliteConnection {
    type Dialect = sqlx::Sqlite;
    async fn count_rows(&mut self, condition: &str) -> Result<i64, StorageError> {
        sqlx::query_scalar(count_sql(condition))
            .fetch_one(self)
            .await
            .map_err(db_with(format!("count rows where {condition}")))
    }
}

/// Refuses a new set of custom fields that would hide or break values stored
/// under the old one: a column dropped from the fields while it holds values
/// (reads would no longer show them), a column re-typed between text and a
/// number, a text length shorter than a stored value. The way through is
/// the seed's: mark the field `to-delete`, run `ixn convert-fields`, then
/// remove or re-map it.
pub async fn check_change<C: CountRows>(
    conn: &mut C,
    old: &Schema,
    new: &Schema,
) -> Result<(), StorageError> {
    let mut problems = Vec::new();
    for f in &old.custom {
        let kept = new.custom.iter().find(|n| n.column == f.column);
        let Some(n) = kept else {
            let held = conn
                .count_rows(&format!("{} IS NOT NULL", quote(&f.column)))
                .await?;
            if held > 0 {
                problems.push(format!(
                    "custom field `{}` is removed but {held} interaction(s) hold a value in its column `{}`: mark it `to-delete = true`, run `ixn convert-fields`, then remove it",
                    f.key, f.column
                ));
            }
            continue;
        };
        // Integers and timestamps share a column type (milliseconds).
        let text = |t: FieldType| t == FieldType::Text;
        if text(n.field_type) != text(f.field_type) {
            problems.push(format!(
                "custom field `{}`: column `{}` is {} and cannot become {}: map the key to a new column (mark this one `to-delete` and run `ixn convert-fields` first)",
                n.key,
                f.column,
                f.field_type.name(),
                n.field_type.name()
            ));
        } else if n.field_type == FieldType::Text
            && n.length > 0
            && (f.length == 0 || n.length < f.length)
        {
            let longer = conn
                .count_rows(&format!(
                    "{}({}) > {}",
                    C::Dialect::CHAR_LENGTH,
                    quote(&f.column),
                    n.length
                ))
                .await?;
            if longer > 0 {
                problems.push(format!(
                    "custom field `{}`: {longer} stored value(s) of column `{}` are longer than the new length {}",
                    n.key, f.column, n.length
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(StorageError::permanent(problems.join("; ")))
    }
}
