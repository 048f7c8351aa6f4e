//! The `interactions` table: its standard columns, the custom-field columns,
//! and the DDL that creates or migrates it.

use std::collections::{BTreeMap, HashMap};

use ixn_plugin_api::storage::{CustomField, FieldType, StorageError};
use sqlx::{Row, SqliteConnection};

use crate::error::db_with;
use crate::properties;
use crate::sql::{Param, SqlBuilder, is_valid_identifier, quote};

/// The table name.
pub(crate) const TABLE: &str = "interactions";

/// The standard columns and their declarations, in table order.
pub(crate) const STANDARD_COLUMNS: &[(&str, &str)] = &[
    ("id", "TEXT NOT NULL PRIMARY KEY"),
    ("tenant", "TEXT NOT NULL"),
    ("media_type", "TEXT NOT NULL"),
    ("interaction_type", "TEXT NOT NULL"),
    ("interaction_subtype", "TEXT NOT NULL"),
    ("external_id", "TEXT"),
    ("parent_id", "TEXT"),
    ("queue", "TEXT NOT NULL"),
    ("state", "INTEGER NOT NULL DEFAULT 0"),
    ("is_locked", "INTEGER NOT NULL DEFAULT 0"),
    ("priority", "INTEGER NOT NULL DEFAULT 0"),
    ("submitted_by", "TEXT NOT NULL"),
    ("submitted_at", "INTEGER NOT NULL"),
    ("placed_in_queue_at", "INTEGER NOT NULL"),
    ("moved_to_queue_at", "INTEGER"),
    ("delivered_at", "INTEGER"),
    ("assigned_to", "TEXT"),
    ("workbin", "TEXT"),
    ("scheduled_at", "INTEGER"),
    ("lease_owner", "TEXT"),
    ("lease_until", "INTEGER"),
    ("lease_expiries", "INTEGER NOT NULL DEFAULT 0"),
    ("stopped_at", "INTEGER"),
    ("stop_reason", "TEXT"),
    ("component_version", "TEXT"),
    ("flexible_properties", "BLOB"),
];

/// Standard columns a table created by an earlier version lacks, added at
/// `open` (each nullable): the version of the component that decided last.
const ADDED_LATER: &[&str] = &["component_version"];

/// The column holding attached data that has no custom-field column.
pub(crate) const BLOB_COLUMN: &str = "flexible_properties";

/// Interactions stopped per queue, kept up to date by `apply`: counting them
/// must not cost a scan of every interaction ever stopped (they stay in the
/// table), only the live ones are counted from `interactions`.
pub(crate) const STOPPED_COUNTS: &str = "queue_stopped_counts";

/// Standard columns a submit writes, in the order [`Schema::insert_sql`] binds them.
pub(crate) const INSERT_COLUMNS: &[&str] = &[
    "id",
    "tenant",
    "media_type",
    "interaction_type",
    "interaction_subtype",
    "external_id",
    "parent_id",
    "queue",
    "state",
    "is_locked",
    "priority",
    "submitted_by",
    "submitted_at",
    "placed_in_queue_at",
    "flexible_properties",
];

/// The table layout for one set of custom fields: what the queries need to
/// know, computed once at `open`.
#[derive(Debug)]
pub(crate) struct Schema {
    /// The custom fields, validated.
    pub custom: Vec<CustomField>,
    by_key: HashMap<String, usize>,
    by_column: HashMap<String, usize>,
    /// Every column, quoted, for `SELECT`: the standard ones then the custom ones.
    pub select_list: String,
    /// `INSERT` of [`INSERT_COLUMNS`] then every custom column.
    pub insert_sql: String,
}

impl Schema {
    /// Validates the custom fields: column names must be plain identifiers
    /// that are not standard columns; keys and columns must be unique.
    pub fn new(custom: Vec<CustomField>) -> Result<Schema, StorageError> {
        let mut by_key = HashMap::new();
        let mut by_column = HashMap::new();
        for (i, f) in custom.iter().enumerate() {
            if f.key.is_empty() {
                return Err(StorageError::permanent(format!(
                    "custom field with column `{}` has an empty key",
                    f.column
                )));
            }
            if !is_valid_identifier(&f.column) {
                return Err(StorageError::permanent(format!(
                    "custom field `{}`: column name `{}` must match ^[a-z_][a-z0-9_]{{0,62}}$",
                    f.key, f.column
                )));
            }
            if is_standard(&f.column) {
                return Err(StorageError::permanent(format!(
                    "custom field `{}`: column `{}` is a standard column of `{TABLE}`",
                    f.key, f.column
                )));
            }
            if by_key.insert(f.key.clone(), i).is_some() {
                return Err(StorageError::permanent(format!(
                    "custom field `{}` is declared twice",
                    f.key
                )));
            }
            if by_column.insert(f.column.clone(), i).is_some() {
                return Err(StorageError::permanent(format!(
                    "custom field `{}`: column `{}` is used by another custom field",
                    f.key, f.column
                )));
            }
        }
        let all: Vec<String> = STANDARD_COLUMNS
            .iter()
            .map(|(n, _)| quote(n))
            .chain(custom.iter().map(|f| quote(&f.column)))
            .collect();
        let insert: Vec<String> = INSERT_COLUMNS
            .iter()
            .map(|n| quote(n))
            .chain(custom.iter().map(|f| quote(&f.column)))
            .collect();
        let insert_sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            quote(TABLE),
            insert.join(", "),
            vec!["?"; insert.len()].join(", ")
        );
        Ok(Schema {
            custom,
            by_key,
            by_column,
            select_list: all.join(", "),
            insert_sql,
        })
    }

    /// The index of the custom field for an attached-data key.
    pub fn custom_index(&self, key: &str) -> Option<usize> {
        self.by_key.get(key).copied()
    }

    /// Whether a condition or an order may name `column`: a standard column
    /// (except the blob, whose JSON means nothing to SQL) or a custom-field column.
    pub fn is_queryable(&self, column: &str) -> bool {
        (is_standard(column) && column != BLOB_COLUMN) || self.by_column.contains_key(column)
    }
}

/// Whether `name` is one of the standard columns.
pub(crate) fn is_standard(name: &str) -> bool {
    STANDARD_COLUMNS.iter().any(|(n, _)| *n == name)
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

/// The name of the index on a custom-field column.
fn custom_index_name(column: &str) -> String {
    format!("{TABLE}_cf_{column}")
}

/// Creates the table and its indexes, or brings an existing table up to date:
/// adds missing custom-field columns (never drops anything) and moves values
/// of newly mapped keys out of the blob into their new column.
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
            .map(|(n, decl)| format!("{} {decl}", quote(n)))
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
        for (name, decl) in STANDARD_COLUMNS
            .iter()
            .filter(|(n, _)| ADDED_LATER.contains(n) && !existing.contains_key(*n))
        {
            let ddl = format!(
                "ALTER TABLE {} ADD COLUMN {} {decl}",
                quote(TABLE),
                quote(name)
            );
            execute(conn, ddl, format!("add standard column `{name}`")).await?;
            tracing::info!(column = %name, "sqlite storage: added standard column");
        }
        let existing = table_columns(conn).await?;
        if let Some((missing, _)) = STANDARD_COLUMNS
            .iter()
            .find(|(n, _)| !existing.contains_key(*n))
        {
            return Err(StorageError::permanent(format!(
                "existing table `{TABLE}` has no standard column `{missing}`: it was not created by this backend"
            )));
        }
        let mut added = Vec::new();
        for (i, f) in schema.custom.iter().enumerate() {
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
                    added.push(i);
                }
            }
        }
        if !added.is_empty() {
            move_blob_values(conn, schema, &added).await?;
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
    SqlBuilder {
        sql: ddl,
        params: Vec::new(),
    }
    .build()
    .execute(&mut *conn)
    .await
    .map_err(db_with(what))?;
    Ok(())
}

/// After columns were added for `added` custom fields: rows that already hold
/// such a key in their blob get the value moved to the new column, so
/// conditions on the column see it. A value of the wrong type or too long for
/// the column stays in the blob (reads still show it).
async fn move_blob_values(
    conn: &mut SqliteConnection,
    schema: &Schema,
    added: &[usize],
) -> Result<(), StorageError> {
    let what = "move attached data into new custom-field columns";
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT \"id\", {blob} FROM {table} WHERE {blob} IS NOT NULL",
        blob = quote(BLOB_COLUMN),
        table = quote(TABLE)
    )))
    .fetch_all(&mut *conn)
    .await
    .map_err(db_with(what))?;
    for row in rows {
        let id: String = row.try_get("id").map_err(db_with(what))?;
        let bytes: Option<Vec<u8>> = row.try_get(BLOB_COLUMN).map_err(db_with(what))?;
        let Ok(mut blob) = properties::decode_blob(bytes.as_deref()) else {
            // A blob this backend cannot read is left as it is; `get` reports it.
            continue;
        };
        let mut moved: BTreeMap<usize, Param> = BTreeMap::new();
        for &i in added {
            let field = &schema.custom[i];
            if let Some(value) = blob.get(&field.key)
                && let Ok(param) = properties::column_param(field, value)
            {
                moved.insert(i, param);
            }
        }
        if moved.is_empty() {
            continue;
        }
        for &i in moved.keys() {
            blob.remove(&schema.custom[i].key);
        }
        let mut update = SqlBuilder::new(&format!(
            "UPDATE {} SET {} = ",
            quote(TABLE),
            quote(BLOB_COLUMN)
        ));
        update.param(properties::encode_blob(&blob)?);
        for (i, param) in moved {
            update
                .push(&format!(", {} = ", quote(&schema.custom[i].column)))
                .param(param);
        }
        update.push(" WHERE \"id\" = ").param(id);
        update
            .build()
            .execute(&mut *conn)
            .await
            .map_err(db_with(what))?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    fn field(key: &str, column: &str) -> CustomField {
        CustomField {
            key: key.into(),
            column: column.into(),
            field_type: FieldType::Text,
            length: 10,
        }
    }

    #[test]
    fn refuses_bad_custom_columns() {
        for (fields, needle) in [
            (vec![field("A", "Bad")], "must match"),
            (vec![field("A", "a;drop")], "must match"),
            (vec![field("A", "queue")], "standard column"),
            (vec![field("A", "flexible_properties")], "standard column"),
            (vec![field("A", "a"), field("A", "b")], "declared twice"),
            (
                vec![field("A", "a"), field("B", "a")],
                "another custom field",
            ),
            (vec![field("", "a")], "empty key"),
        ] {
            let e = Schema::new(fields).unwrap_err();
            assert!(e.message.contains(needle), "{e}");
        }
    }

    #[test]
    fn queryable_columns() {
        let s = Schema::new(vec![field("Category", "category")]).unwrap();
        assert!(s.is_queryable("priority"));
        assert!(s.is_queryable("category"));
        assert!(!s.is_queryable("Category"));
        assert!(!s.is_queryable("flexible_properties"));
        assert!(!s.is_queryable("nope"));
        assert_eq!(s.custom_index("Category"), Some(0));
        assert!(s.insert_sql.contains("\"category\""));
    }

    #[test]
    fn affinities() {
        assert_eq!(affinity("INTEGER"), "INTEGER");
        assert_eq!(affinity("varchar(40)"), "TEXT");
        assert_eq!(affinity("BLOB"), "OTHER");
    }
}
