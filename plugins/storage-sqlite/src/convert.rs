//! `convert-start` and `convert-step`: the seed's "Converting to and From
//! BLOB", in bulks that each commit with their checkpoint.
//!
//! A step visits the next `bulk-size` rows in id order after the checkpoint:
//! a blob value whose key now has a custom field moves to its column, the
//! column value of a field marked `to-delete` moves to the blob (the column is
//! emptied). The rows and the checkpoint change in one transaction, so a
//! process killed at any moment leaves either the whole bulk done and the
//! checkpoint after it, or neither; the next run resumes after the last commit.

use ixn_plugin_api::storage::{ConvertProgress, CustomField, FieldType, StorageError, Value};
use ixn_sql::WriteTx;
use ixn_sql::interactions::fields_change::CountRows;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use crate::error::{context, db_with};
use crate::schema::{BLOB_COLUMN, Schema, TABLE};
use crate::store::{BEGIN_WRITE, Store};
use ixn_sql::attached::Blob;
use ixn_sql::interactions::properties::{column_param, column_value, decode_blob, encode_blob};
use ixn_sql::{Param, PushParam, quote};
use sqlx::{QueryBuilder, Sqlite};

/// The one-row table holding where the conversion stands.
const CHECKPOINT: &str = "convert_checkpoint";

/// The seed's range for `bulk-size`.
pub(crate) const BULK_SIZES: std::ops::RangeInclusive<u32> = 1..=1000;

/// The checkpoint row.
struct Checkpoint {
    /// [`Schema::fingerprint`] of the fields it converts to.
    fields: String,
    /// The id of the last row converted; `None` before the first bulk.
    last_id: Option<String>,
    progress: ConvertProgress,
}

impl Store {
    /// Where the conversion stands; starts a new pass when asked, when there
    /// is none, or when the one recorded was made for other custom fields.
    pub(crate) async fn convert_start(&self, reset: bool) -> Result<ConvertProgress, StorageError> {
        let what = "start converting attached data";
        let schema = self.schema();
        let mut tx = WriteTx::begin(&self.pool, BEGIN_WRITE)
            .await
            .map_err(db_with(format!("{what}: begin")))?;
        let started = start(tx.conn(), &schema, reset)
            .await
            .map_err(context(what));
        tx.finish(started, db_with(format!("{what}: commit"))).await
    }

    /// Converts the next bulk and moves the checkpoint, in one transaction.
    pub(crate) async fn convert_step(
        &self,
        bulk_size: u32,
    ) -> Result<ConvertProgress, StorageError> {
        if !BULK_SIZES.contains(&bulk_size) {
            return Err(StorageError::permanent(format!(
                "bulk-size {bulk_size} is out of range: it must be {} to {}",
                BULK_SIZES.start(),
                BULK_SIZES.end()
            )));
        }
        let what = "convert attached data";
        let schema = self.schema();
        let mut tx = WriteTx::begin(&self.pool, BEGIN_WRITE)
            .await
            .map_err(db_with(format!("{what}: begin")))?;
        let stepped = step(tx.conn(), &schema, bulk_size)
            .await
            .map_err(context(what));
        tx.finish(stepped, db_with(format!("{what}: commit"))).await
    }
}

async fn start(
    conn: &mut SqliteConnection,
    schema: &Schema,
    reset: bool,
) -> Result<ConvertProgress, StorageError> {
    let ddl = format!(
        "CREATE TABLE IF NOT EXISTS {} (\"slot\" INTEGER PRIMARY KEY CHECK (\"slot\" = 1), \
         \"fields\" TEXT NOT NULL, \"last_id\" TEXT, \"done\" INTEGER NOT NULL, \
         \"total\" INTEGER NOT NULL, \"to_columns\" INTEGER NOT NULL, \"to_blob\" INTEGER NOT NULL, \
         \"kept\" INTEGER NOT NULL, \"finished\" INTEGER NOT NULL)",
        quote(CHECKPOINT)
    );
    sqlx::query(sqlx::AssertSqlSafe(ddl))
        .execute(&mut *conn)
        .await
        .map_err(db_with(format!("create table `{CHECKPOINT}`")))?;
    // Every row: `id` is the primary key, never NULL.
    let total = conn.count_rows("\"id\" IS NOT NULL").await?.max(0) as u64;
    let fingerprint = schema.fingerprint();
    match read_checkpoint(conn).await? {
        Some(mut c) if !reset && c.fields == fingerprint => {
            // Rows submitted since the last run count towards the total.
            c.progress.total = total.max(c.progress.done);
            write_checkpoint(conn, &c).await?;
            Ok(c.progress)
        }
        previous => {
            if let Some(p) = previous.filter(|_| !reset) {
                tracing::info!(
                    was = %p.fields,
                    now = %fingerprint,
                    "sqlite storage: the custom fields changed since the last conversion; starting from the beginning"
                );
            }
            let c = Checkpoint {
                fields: fingerprint,
                last_id: None,
                progress: ConvertProgress {
                    done: 0,
                    total,
                    to_columns: 0,
                    to_blob: 0,
                    kept: 0,
                    finished: false,
                },
            };
            write_checkpoint(conn, &c).await?;
            Ok(c.progress)
        }
    }
}

async fn step(
    conn: &mut SqliteConnection,
    schema: &Schema,
    bulk_size: u32,
) -> Result<ConvertProgress, StorageError> {
    let mut c = match read_checkpoint(conn).await? {
        Some(c) if c.fields == schema.fingerprint() => c,
        _ => {
            return Err(StorageError::permanent(
                "no conversion is started for the current custom fields (call convert-start)",
            ));
        }
    };
    if c.progress.finished {
        return Ok(c.progress);
    }
    let columns: String = schema
        .custom
        .iter()
        .map(|f| format!(", {}", quote(&f.column)))
        .collect();
    let mut select = QueryBuilder::<Sqlite>::new(format!(
        "SELECT \"id\", {}{columns} FROM {}",
        quote(BLOB_COLUMN),
        quote(TABLE)
    ));
    if let Some(last) = &c.last_id {
        select.push(" WHERE \"id\" > ").push_param(last.clone());
    }
    select
        .push(" ORDER BY \"id\" LIMIT ")
        .push_param(i64::from(bulk_size));
    let rows = select
        .build()
        .fetch_all(&mut *conn)
        .await
        .map_err(db_with("read the next bulk"))?;
    for row in &rows {
        let id: String = row.try_get("id").map_err(db_with("read the next bulk"))?;
        convert_row(conn, schema, row, &id, &mut c.progress)
            .await
            .map_err(context(format!("interaction `{id}`")))?;
        c.last_id = Some(id);
    }
    c.progress.done += rows.len() as u64;
    c.progress.total = c.progress.total.max(c.progress.done);
    c.progress.finished = rows.len() < bulk_size as usize;
    write_checkpoint(conn, &c).await?;
    Ok(c.progress)
}

/// Converts one row in place; counts what moved.
async fn convert_row(
    conn: &mut SqliteConnection,
    schema: &Schema,
    row: &SqliteRow,
    id: &str,
    progress: &mut ConvertProgress,
) -> Result<(), StorageError> {
    let read = |e| db_with("read the row")(e);
    let bytes: Option<Vec<u8>> = row.try_get(BLOB_COLUMN).map_err(read)?;
    let mut blob: Blob = match decode_blob(bytes.as_deref()) {
        Ok(blob) => blob,
        Err(e) => {
            // Left as it is: `get` reports it; converting must not lose it.
            tracing::warn!(%id, error = %e, "sqlite storage: unreadable attached data left as it is");
            return Ok(());
        }
    };
    let mut set: Vec<(usize, Param)> = Vec::new();
    let mut blob_changed = false;
    for (i, field) in schema.custom.iter().enumerate() {
        let in_column = read_column(row, field)?;
        if field.to_delete {
            if let Some(value) = in_column {
                blob.insert(field.key.clone(), value);
                set.push((i, Param::Null));
                blob_changed = true;
                progress.to_blob += 1;
            }
            continue;
        }
        let Some(value) = blob.get(&field.key) else {
            continue;
        };
        if in_column.is_some() {
            // The column already wins on every read: the blob copy is stale.
            blob.remove(&field.key);
            blob_changed = true;
            continue;
        }
        match column_param(field, value) {
            Ok(param) => {
                set.push((i, param));
                blob.remove(&field.key);
                blob_changed = true;
                progress.to_columns += 1;
            }
            // Stays in the blob, where reads still find it.
            Err(_) => progress.kept += 1,
        }
    }
    if !blob_changed {
        return Ok(());
    }
    let mut update = QueryBuilder::<Sqlite>::new(format!(
        "UPDATE {} SET {} = ",
        quote(TABLE),
        quote(BLOB_COLUMN)
    ));
    update.push_param(encode_blob(&blob)?);
    for (i, param) in set {
        update
            .push(format_args!(", {} = ", quote(&schema.custom[i].column)))
            .push_param(param);
    }
    update.push(" WHERE \"id\" = ").push_param(id.to_string());
    update
        .build()
        .execute(&mut *conn)
        .await
        .map_err(db_with("update the row"))?;
    Ok(())
}

/// A custom-field column of a row as attached data.
fn read_column(row: &SqliteRow, field: &CustomField) -> Result<Option<Value>, StorageError> {
    let what = || format!("read column `{}`", field.column);
    Ok(match field.field_type {
        FieldType::Text => column_value(
            field,
            row.try_get(field.column.as_str())
                .map_err(db_with(what()))?,
            None,
        ),
        FieldType::Integer | FieldType::Timestamp => column_value(
            field,
            None,
            row.try_get(field.column.as_str())
                .map_err(db_with(what()))?,
        ),
    })
}

async fn read_checkpoint(conn: &mut SqliteConnection) -> Result<Option<Checkpoint>, StorageError> {
    let what = format!("read table `{CHECKPOINT}`");
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT \"fields\", \"last_id\", \"done\", \"total\", \"to_columns\", \"to_blob\", \"kept\", \"finished\" \
         FROM {} WHERE \"slot\" = 1",
        quote(CHECKPOINT)
    )))
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_with(&what))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let n = |col: &str| -> Result<u64, StorageError> {
        let v: i64 = row.try_get(col).map_err(db_with(&what))?;
        Ok(v.max(0) as u64)
    };
    Ok(Some(Checkpoint {
        fields: row.try_get("fields").map_err(db_with(&what))?,
        last_id: row.try_get("last_id").map_err(db_with(&what))?,
        progress: ConvertProgress {
            done: n("done")?,
            total: n("total")?,
            to_columns: n("to_columns")?,
            to_blob: n("to_blob")?,
            kept: n("kept")?,
            finished: n("finished")? != 0,
        },
    }))
}

async fn write_checkpoint(conn: &mut SqliteConnection, c: &Checkpoint) -> Result<(), StorageError> {
    let p = &c.progress;
    let int = |v: u64| Param::Int(i64::try_from(v).unwrap_or(i64::MAX));
    let mut upsert = QueryBuilder::<Sqlite>::new(format!(
        "INSERT OR REPLACE INTO {} (\"slot\", \"fields\", \"last_id\", \"done\", \"total\", \
         \"to_columns\", \"to_blob\", \"kept\", \"finished\") VALUES (1, ",
        quote(CHECKPOINT)
    ));
    upsert
        .push_param(c.fields.clone())
        .push(", ")
        .push_param(Param::from(c.last_id.clone()))
        .push(", ")
        .push_param(int(p.done))
        .push(", ")
        .push_param(int(p.total))
        .push(", ")
        .push_param(int(p.to_columns))
        .push(", ")
        .push_param(int(p.to_blob))
        .push(", ")
        .push_param(int(p.kept))
        .push(", ")
        .push_param(Param::Int(i64::from(p.finished)))
        .push(")");
    upsert
        .build()
        .execute(&mut *conn)
        .await
        .map_err(db_with(format!("write table `{CHECKPOINT}`")))?;
    Ok(())
}
