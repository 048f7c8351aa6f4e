//! Every SQL statement the sink sends, for each supported database.
//!
//! Only SQLite exists so far; a second dialect (PostgreSQL) adds a variant and
//! its arms here, while the rest of the crate stays dialect-neutral: it asks
//! this module for statement text, placeholders and limits.

use crate::schema::{INSERT_COLUMNS, Table};
use crate::settings::{ColumnType, CustomColumn};

/// A database flavour of SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite 3 (bundled with sqlx, so at least 3.32).
    Sqlite,
}

impl Dialect {
    /// The most bind parameters one statement may carry
    /// (SQLite's `SQLITE_MAX_VARIABLE_NUMBER`, 32766 since 3.32).
    pub fn max_bind_params(self) -> usize {
        match self {
            Dialect::Sqlite => 32_766,
        }
    }

    /// Starts the one transaction of a write; SQLite takes the write lock at
    /// once, so a busy database fails the write up front instead of half-way.
    pub fn begin_write(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
        }
    }

    /// A quoted identifier.
    pub fn ident(self, name: &str) -> String {
        match self {
            Dialect::Sqlite => format!("\"{}\"", name.replace('"', "\"\"")),
        }
    }

    /// The table as statements name it, with its schema when there is one.
    pub fn table(self, schema: Option<&str>, table: Table) -> String {
        match schema {
            Some(schema) => format!("{}.{}", self.ident(schema), self.ident(table.name())),
            None => self.ident(table.name()),
        }
    }

    /// The `n`th bind placeholder (1-based).
    fn placeholder(self, _n: usize) -> &'static str {
        match self {
            Dialect::Sqlite => "?",
        }
    }

    /// `CREATE TABLE IF NOT EXISTS` with the base columns, and the index the
    /// deletion of stopped interactions uses.
    pub fn create_table(self, schema: Option<&str>, table: Table) -> String {
        let name = self.table(schema, table);
        let mut sql = match self {
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
        };
        if table == Table::Interaction {
            let index = self.ident(&format!("{}_interaction_id", table.name()));
            let index = match schema {
                Some(schema) => format!("{}.{index}", self.ident(schema)),
                None => index,
            };
            sql.push_str(&format!(
                "; CREATE INDEX IF NOT EXISTS {index} ON {} (interaction_id)",
                self.ident(table.name())
            ));
        }
        sql
    }

    /// A query of the column names of a table, whose name is bound as the only parameter.
    pub fn list_columns(self) -> String {
        match self {
            Dialect::Sqlite => format!(
                "SELECT name FROM pragma_table_info({})",
                self.placeholder(1)
            ),
        }
    }

    /// The column type of a custom data mapping.
    pub fn column_type(self, kind: ColumnType, _length: u32) -> &'static str {
        match (self, kind) {
            (Dialect::Sqlite, ColumnType::String) => "TEXT",
            (Dialect::Sqlite, ColumnType::Integer | ColumnType::Timestamp) => "INTEGER",
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
        let index = self.ident(&format!("{}_interaction_id", table.name()));
        let index = match schema {
            Some(schema) => format!("{}.{index}", self.ident(schema)),
            None => index,
        };
        format!(
            "DROP INDEX IF EXISTS {index}; ALTER TABLE {} RENAME TO {}",
            self.table(schema, table),
            self.ident(&format!("{}_v1", table.name()))
        )
    }

    /// Adds the `generation` column to a table made before it existed.
    pub fn add_generation(self, schema: Option<&str>, table: Table) -> String {
        format!(
            "ALTER TABLE {} ADD COLUMN generation INTEGER NOT NULL DEFAULT 0",
            self.table(schema, table)
        )
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
        let columns: Vec<String> = INSERT_COLUMNS
            .iter()
            .copied()
            .chain(custom.iter().map(|c| c.column.as_str()))
            .map(|c| self.ident(c))
            .collect();
        let width = columns.len();
        let mut sql = match self {
            Dialect::Sqlite => format!(
                "INSERT OR IGNORE INTO {} ({}) VALUES ",
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
            for col in 0..width {
                if col > 0 {
                    sql.push_str(", ");
                }
                n += 1;
                sql.push_str(self.placeholder(n));
            }
            sql.push(')');
        }
        sql
    }

    /// Deletes the rows of `count` interactions, bound as parameters.
    pub fn delete_interactions(self, schema: Option<&str>, table: Table, count: usize) -> String {
        let list: Vec<&str> = (1..=count).map(|n| self.placeholder(n)).collect();
        format!(
            "DELETE FROM {} WHERE interaction_id IN ({})",
            self.table(schema, table),
            list.join(", ")
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
            d.delete_interactions(None, Table::Interaction, 2),
            "DELETE FROM \"rpt_interaction\" WHERE interaction_id IN (?, ?)"
        );
        assert_eq!(
            d.add_column(None, Table::Custom, &custom[0]),
            "ALTER TABLE \"rpt_custom\" ADD COLUMN \"segment\" TEXT"
        );
        assert!(
            d.count_all(None)
                .contains("(SELECT COUNT(*) FROM \"rpt_esp\")")
        );
        assert!(
            d.create_table(None, Table::Interaction)
                .contains("CREATE INDEX IF NOT EXISTS")
        );
        assert!(!d.create_table(None, Table::Agent).contains("CREATE INDEX"));
    }
}
