//! Every SQL statement the sink sends, for each supported database.
//!
//! The rest of the crate stays dialect-neutral: it asks this module for
//! statement text, placeholders and limits.

use std::fmt::Write as _;

use crate::schema::{INSERT_COLUMNS, Table};
use crate::settings::{ColumnType, CustomColumn};

/// A database flavour of SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite 3 (bundled with sqlx, so at least 3.32).
    Sqlite,
    /// PostgreSQL 12 or later (identity columns, `ON CONFLICT`).
    Postgres,
}

impl Dialect {
    /// The most bind parameters one statement may carry (SQLite's
    /// `SQLITE_MAX_VARIABLE_NUMBER`, 32766 since 3.32; PostgreSQL's 16-bit count).
    pub fn max_bind_params(self) -> usize {
        match self {
            Dialect::Sqlite => 32_766,
            Dialect::Postgres => 65_535,
        }
    }

    /// Starts the one transaction of a write; SQLite takes the write lock at
    /// once, so a busy database fails the write up front instead of half-way.
    pub fn begin_write(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        }
    }

    /// A quoted identifier.
    pub fn ident(self, name: &str) -> String {
        format!("\"{}\"", name.replace('"', "\"\""))
    }

    /// The table as statements name it, with its schema when there is one.
    pub fn table(self, schema: Option<&str>, table: Table) -> String {
        self.qualified(schema, table.name())
    }

    fn qualified(self, schema: Option<&str>, name: &str) -> String {
        match schema {
            Some(schema) => format!("{}.{}", self.ident(schema), self.ident(name)),
            None => self.ident(name),
        }
    }

    /// The `n`th bind placeholder (1-based).
    fn placeholder(self, n: usize) -> String {
        let mut text = String::new();
        self.push_placeholder(&mut text, n);
        text
    }

    /// Appends the `n`th bind placeholder to `sql`, without a string of its
    /// own: a multi-row insert has thousands of them.
    fn push_placeholder(self, sql: &mut String, n: usize) {
        match self {
            Dialect::Sqlite => sql.push('?'),
            // Writing to a String cannot fail.
            Dialect::Postgres => {
                let _ = write!(sql, "${n}");
            }
        }
    }

    /// `CREATE SCHEMA IF NOT EXISTS`, where the database has schemas to create.
    pub fn create_schema(self, schema: &str) -> Option<String> {
        match self {
            Dialect::Sqlite => None,
            Dialect::Postgres => Some(format!(
                "CREATE SCHEMA IF NOT EXISTS {}",
                self.ident(schema)
            )),
        }
    }

    /// `CREATE TABLE IF NOT EXISTS` with the base columns. `origin` and
    /// `sequence` are unique together: a re-sent event adds no row.
    pub fn create_table(self, schema: Option<&str>, table: Table) -> String {
        let name = self.table(schema, table);
        match self {
            Dialect::Sqlite => format!(
                "CREATE TABLE IF NOT EXISTS {name} (\
                 id INTEGER PRIMARY KEY, \
                 origin TEXT NOT NULL, \
                 sequence INTEGER NOT NULL, \
                 generation INTEGER NOT NULL DEFAULT 0, \
                 event_id INTEGER NOT NULL, \
                 event_name TEXT NOT NULL, \
                 endpoint TEXT, \
                 occurred_at INTEGER NOT NULL, \
                 interaction_id TEXT, \
                 attributes TEXT NOT NULL, \
                 UNIQUE (origin, sequence))"
            ),
            // `attributes` is JSONB, so that reports can query into it.
            Dialect::Postgres => format!(
                "CREATE TABLE IF NOT EXISTS {name} (\
                 id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
                 origin TEXT NOT NULL, \
                 sequence BIGINT NOT NULL, \
                 generation BIGINT NOT NULL DEFAULT 0, \
                 event_id INTEGER NOT NULL, \
                 event_name TEXT NOT NULL, \
                 endpoint TEXT, \
                 occurred_at BIGINT NOT NULL, \
                 interaction_id TEXT, \
                 attributes JSONB NOT NULL, \
                 UNIQUE (origin, sequence))"
            ),
        }
    }

    /// The index the table's retention rule deletes by ([`Table::retention_column`]).
    pub fn create_index(self, schema: Option<&str>, table: Table) -> String {
        let column = table.retention_column();
        let index = format!("{}_{column}", table.name());
        match self {
            // SQLite names the index's schema, and the table without one.
            Dialect::Sqlite => format!(
                "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
                self.qualified(schema, &index),
                self.ident(table.name()),
                self.ident(column)
            ),
            // PostgreSQL puts the index in its table's schema.
            Dialect::Postgres => format!(
                "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
                self.ident(&index),
                self.table(schema, table),
                self.ident(column)
            ),
        }
    }

    /// A query of the column names of a table. SQLite binds the table name;
    /// PostgreSQL binds the schema (NULL for the current one), then the table.
    pub fn list_columns(self) -> String {
        match self {
            Dialect::Sqlite => "SELECT name FROM pragma_table_info(?)".to_string(),
            Dialect::Postgres => "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = COALESCE($1, current_schema()) AND table_name = $2"
                .to_string(),
        }
    }

    /// The column type of a custom data mapping.
    pub fn column_type(self, kind: ColumnType, length: u32) -> String {
        match (self, kind) {
            (Dialect::Sqlite, ColumnType::String) => "TEXT".to_string(),
            (
                Dialect::Sqlite,
                ColumnType::Integer | ColumnType::Timestamp | ColumnType::StoredAt,
            ) => "INTEGER".to_string(),
            (Dialect::Postgres, ColumnType::String) => format!("VARCHAR({length})"),
            (Dialect::Postgres, ColumnType::Integer | ColumnType::StoredAt) => "BIGINT".to_string(),
            (Dialect::Postgres, ColumnType::Timestamp) => "TIMESTAMPTZ".to_string(),
        }
    }

    /// `ALTER TABLE … ADD COLUMN` for a custom data mapping.
    pub fn add_column(self, schema: Option<&str>, table: Table, column: &CustomColumn) -> String {
        format!(
            "ALTER TABLE {} ADD COLUMN {} {}",
            self.table(schema, table),
            self.ident(&column.column),
            self.column_type(column.kind, column.length)
        )
    }

    /// Renames a table of the first layout (a `sequence` unique on its own,
    /// no `origin`) out of the way, keeping its rows, and drops its index so
    /// that the new table gets its own.
    pub fn set_aside_v1(self, schema: Option<&str>, table: Table) -> String {
        let index = format!("{}_{}", table.name(), table.retention_column());
        format!(
            "DROP INDEX IF EXISTS {}; ALTER TABLE {} RENAME TO {}",
            self.qualified(schema, &index),
            self.table(schema, table),
            self.ident(&format!("{}_v1", table.name()))
        )
    }

    /// Adds the `generation` column to a table made before it existed.
    pub fn add_generation(self, schema: Option<&str>, table: Table) -> String {
        format!(
            "ALTER TABLE {} ADD COLUMN generation {} NOT NULL DEFAULT 0",
            self.table(schema, table),
            match self {
                Dialect::Sqlite => "INTEGER",
                Dialect::Postgres => "BIGINT",
            }
        )
    }

    /// The base columns and `custom` columns an insert fills, quoted, in order.
    fn insert_columns(self, custom: &[CustomColumn]) -> Vec<String> {
        INSERT_COLUMNS
            .iter()
            .copied()
            .chain(custom.iter().map(|c| c.column.as_str()))
            .map(|c| self.ident(c))
            .collect()
    }

    /// A multi-row insert of `rows` rows into the base columns and `custom`
    /// columns, skipping rows whose (`origin`, `sequence`) is already stored:
    /// the same event sent again (a batch retried after an unacknowledged commit).
    pub fn insert(
        self,
        schema: Option<&str>,
        table: Table,
        custom: &[CustomColumn],
        rows: usize,
    ) -> String {
        let columns = self.insert_columns(custom);
        // What each value is bound as: PostgreSQL takes JSON and timestamps as text.
        let casts: Vec<&str> = INSERT_COLUMNS
            .iter()
            .map(|c| match (self, *c) {
                (Dialect::Postgres, "attributes") => "::jsonb",
                _ => "",
            })
            .chain(custom.iter().map(|c| match (self, c.kind) {
                (Dialect::Postgres, ColumnType::Timestamp) => "::timestamptz",
                _ => "",
            }))
            .collect();
        let mut sql = match self {
            Dialect::Sqlite => format!(
                "INSERT OR IGNORE INTO {} ({}) VALUES ",
                self.table(schema, table),
                columns.join(", ")
            ),
            Dialect::Postgres => format!(
                "INSERT INTO {} ({}) VALUES ",
                self.table(schema, table),
                columns.join(", ")
            ),
        };
        let mut n = 0;
        for row in 0..rows {
            if row > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for (col, cast) in casts.iter().enumerate() {
                if col > 0 {
                    sql.push_str(", ");
                }
                n += 1;
                self.push_placeholder(&mut sql, n);
                sql.push_str(cast);
            }
            sql.push(')');
        }
        if self == Dialect::Postgres {
            sql.push_str(" ON CONFLICT (origin, sequence) DO NOTHING");
        }
        sql
    }

    /// PostgreSQL's `COPY … FROM STDIN` (text format) into the insert columns.
    pub fn copy_in(self, schema: Option<&str>, table: Table, custom: &[CustomColumn]) -> String {
        format!(
            "COPY {} ({}) FROM STDIN",
            self.table(schema, table),
            self.insert_columns(custom).join(", ")
        )
    }

    /// Deletes the rows whose `column` is one of `count` values bound as parameters.
    pub fn delete_where_in(
        self,
        schema: Option<&str>,
        table: Table,
        column: &str,
        count: usize,
    ) -> String {
        let list: Vec<String> = (1..=count).map(|n| self.placeholder(n)).collect();
        format!(
            "DELETE FROM {} WHERE {} IN ({})",
            self.table(schema, table),
            self.ident(column),
            list.join(", ")
        )
    }

    /// Deletes an agent's rows up to its logout: binds the agent, then the
    /// logout's `occurred_at` (a login in the same batch after it stays).
    pub fn delete_agent_until(self, schema: Option<&str>) -> String {
        format!(
            "DELETE FROM {} WHERE agent_id = {} AND occurred_at <= {}",
            self.table(schema, Table::Agent),
            self.placeholder(1),
            self.placeholder(2)
        )
    }

    /// Deletes the rows stored before the bound time (ms since the epoch);
    /// rows stored before `stored_at` existed (NULL) go too.
    pub fn purge_before(self, schema: Option<&str>, table: Table) -> String {
        format!(
            "DELETE FROM {} WHERE stored_at < {} OR stored_at IS NULL",
            self.table(schema, table),
            self.placeholder(1)
        )
    }

    /// The number of rows in all tables together, as one integer.
    pub fn count_all(self, schema: Option<&str>) -> String {
        let parts: Vec<String> = Table::ALL
            .iter()
            .map(|t| format!("(SELECT COUNT(*) FROM {})", self.table(schema, *t)))
            .collect();
        format!("SELECT {}", parts.join(" + "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements() {
        let d = Dialect::Sqlite;
        let custom = [CustomColumn {
            key: "Seg".into(),
            column: "segment".into(),
            kind: ColumnType::String,
            length: 64,
        }];
        assert_eq!(
            d.insert(None, Table::Agent, &custom, 2),
            "INSERT OR IGNORE INTO \"rpt_agent\" (\"origin\", \"sequence\", \"generation\", \"event_id\", \"event_name\", \
             \"endpoint\", \"occurred_at\", \"interaction_id\", \"attributes\", \"segment\") VALUES \
             (?, ?, ?, ?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );
        assert_eq!(
            d.delete_where_in(None, Table::Interaction, "interaction_id", 2),
            "DELETE FROM \"rpt_interaction\" WHERE \"interaction_id\" IN (?, ?)"
        );
        assert_eq!(
            d.add_column(None, Table::Custom, &custom[0]),
            "ALTER TABLE \"rpt_custom\" ADD COLUMN \"segment\" TEXT"
        );
        assert!(
            d.count_all(None)
                .contains("(SELECT COUNT(*) FROM \"rpt_esp\")")
        );
        assert_eq!(
            d.create_index(Some("main"), Table::Agent),
            "CREATE INDEX IF NOT EXISTS \"main\".\"rpt_agent_agent_id\" ON \"rpt_agent\" (\"agent_id\")"
        );
    }

    #[test]
    fn postgres_statements() {
        let d = Dialect::Postgres;
        let custom = [CustomColumn {
            key: "At".into(),
            column: "at".into(),
            kind: ColumnType::Timestamp,
            length: 64,
        }];
        assert_eq!(
            d.insert(Some("rep"), Table::Custom, &custom, 1),
            "INSERT INTO \"rep\".\"rpt_custom\" (\"origin\", \"sequence\", \"generation\", \"event_id\", \"event_name\", \
             \"endpoint\", \"occurred_at\", \"interaction_id\", \"attributes\", \"at\") VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::timestamptz) ON CONFLICT (origin, sequence) DO NOTHING"
        );
        assert_eq!(
            d.copy_in(None, Table::Esp, &[]),
            "COPY \"rpt_esp\" (\"origin\", \"sequence\", \"generation\", \"event_id\", \"event_name\", \
             \"endpoint\", \"occurred_at\", \"interaction_id\", \"attributes\") FROM STDIN"
        );
        assert_eq!(
            d.create_index(Some("rep"), Table::Custom),
            "CREATE INDEX IF NOT EXISTS \"rpt_custom_stored_at\" ON \"rep\".\"rpt_custom\" (\"stored_at\")"
        );
        assert_eq!(
            d.delete_agent_until(None),
            "DELETE FROM \"rpt_agent\" WHERE agent_id = $1 AND occurred_at <= $2"
        );
        assert_eq!(d.column_type(ColumnType::String, 32), "VARCHAR(32)");
    }
}
