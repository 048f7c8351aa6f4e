//! The standard columns of the interactions table: one catalogue that the
//! host (which checks view conditions against it) and every storage backend
//! (which creates and reads the table from it) share, so that what a view
//! may select on and what a backend stores cannot disagree.
//!
//! Types here are logical; each backend spells them in its own SQL (SQLite
//! `INTEGER`, PostgreSQL `BIGINT`, …). Timestamps are milliseconds since the
//! Unix epoch.

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// Text.
    Text,
    /// A 64-bit integer.
    Integer,
    /// Milliseconds since the epoch, as an integer.
    Timestamp,
    /// Encoded attached data without a custom-field column.
    Blob,
}

impl ColumnType {
    /// Whether values compare as numbers.
    pub fn is_numeric(self) -> bool {
        matches!(self, ColumnType::Integer | ColumnType::Timestamp)
    }
}

/// One standard column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandardColumn {
    /// Its name, a plain identifier.
    pub name: &'static str,
    /// What it holds.
    pub column_type: ColumnType,
    /// `NOT NULL`.
    pub required: bool,
    /// The value a row gets when an insert leaves the column out.
    pub default: Option<i64>,
    /// Whether a view's condition or order may name it. The lease columns
    /// belong to the claim (a view selecting on them would fight it) and the
    /// blob's encoding means nothing to SQL.
    pub queryable: bool,
    /// Added after the first release: nullable, so that a backend brings an
    /// older table up to date by adding it.
    pub added_later: bool,
}

const fn column(name: &'static str, column_type: ColumnType) -> StandardColumn {
    StandardColumn {
        name,
        column_type,
        required: false,
        default: None,
        queryable: true,
        added_later: false,
    }
}

const fn required(name: &'static str, column_type: ColumnType) -> StandardColumn {
    StandardColumn {
        required: true,
        ..column(name, column_type)
    }
}

const fn zero(name: &'static str) -> StandardColumn {
    StandardColumn {
        default: Some(0),
        ..required(name, ColumnType::Integer)
    }
}

const fn internal(name: &'static str, column_type: ColumnType) -> StandardColumn {
    StandardColumn {
        queryable: false,
        ..column(name, column_type)
    }
}

/// The key column.
pub const PRIMARY_KEY: &str = "id";

/// The column holding attached data that has no custom-field column.
pub const BLOB_COLUMN: &str = "flexible_properties";

/// The standard columns, in table order.
pub const STANDARD_COLUMNS: &[StandardColumn] = &[
    required(PRIMARY_KEY, ColumnType::Text),
    required("tenant", ColumnType::Text),
    required("media_type", ColumnType::Text),
    required("interaction_type", ColumnType::Text),
    required("interaction_subtype", ColumnType::Text),
    column("external_id", ColumnType::Text),
    column("parent_id", ColumnType::Text),
    required("queue", ColumnType::Text),
    zero("state"),
    zero("is_locked"),
    zero("priority"),
    required("submitted_by", ColumnType::Text),
    required("submitted_at", ColumnType::Timestamp),
    required("placed_in_queue_at", ColumnType::Timestamp),
    column("moved_to_queue_at", ColumnType::Timestamp),
    column("delivered_at", ColumnType::Timestamp),
    column("assigned_to", ColumnType::Text),
    column("workbin", ColumnType::Text),
    column("scheduled_at", ColumnType::Timestamp),
    internal("lease_owner", ColumnType::Text),
    internal("lease_until", ColumnType::Timestamp),
    zero("lease_expiries"),
    internal("stopped_at", ColumnType::Timestamp),
    internal("stop_reason", ColumnType::Text),
    StandardColumn {
        added_later: true,
        ..internal("component_version", ColumnType::Text)
    },
    internal(BLOB_COLUMN, ColumnType::Blob),
];

/// The standard column called `name`.
pub fn standard_column(name: &str) -> Option<&'static StandardColumn> {
    STANDARD_COLUMNS.iter().find(|c| c.name == name)
}

/// Whether `name` is a plain lower-case SQL identifier that needs no
/// quoting anywhere: `^[a-z_][a-z0-9_]{0,62}$` (63 bytes is PostgreSQL's limit).
pub fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && name.len() <= 63
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_an_identifier_and_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for c in STANDARD_COLUMNS {
            assert!(is_identifier(c.name), "{}", c.name);
            assert!(seen.insert(c.name), "{} twice", c.name);
            assert!(
                !(c.added_later && c.required),
                "{}: added later must be nullable",
                c.name
            );
        }
        assert!(standard_column(PRIMARY_KEY).unwrap().required);
        assert!(!standard_column(BLOB_COLUMN).unwrap().queryable);
    }

    #[test]
    fn identifiers() {
        for ok in ["a", "_x", "queue_9", &"a".repeat(63)] {
            assert!(is_identifier(ok), "{ok}");
        }
        for bad in ["", "9a", "A", "a-b", "a b", "ä", &"a".repeat(64), "\"a\""] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }
}
