//! Building parameterised SQL on either database with `sqlx::QueryBuilder`:
//! a value whose type is known only at run time ([`Param`]), what differs
//! between the databases ([`SqlDialect`]), and identifier quoting.
//!
//! Text pushed into a builder is only ever fixed SQL, quoted identifiers that
//! were validated first, and placeholders: user data goes through
//! [`SqlDialect::push_param`] or `push_bind`.

use sqlx::{Database, Postgres, QueryBuilder, Sqlite};

/// A value bound to a placeholder whose type is known only at run time (a
/// custom field's column, a view condition's literal).
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// SQL NULL.
    Null,
    /// A text value.
    Text(String),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// Bytes.
    Blob(Vec<u8>),
}

impl From<Option<String>> for Param {
    fn from(v: Option<String>) -> Self {
        v.map_or(Param::Null, Param::Text)
    }
}

impl From<Option<i64>> for Param {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Param::Null, Param::Int)
    }
}

impl From<String> for Param {
    fn from(v: String) -> Self {
        Param::Text(v)
    }
}

impl From<&str> for Param {
    fn from(v: &str) -> Self {
        Param::Text(v.to_string())
    }
}

impl From<i64> for Param {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

/// What the shared SQL rendering needs to know of a database.
pub trait SqlDialect: Database {
    /// The operator with the meaning of SQLite's `LIKE`: `%` and `_`
    /// wildcards, case-insensitive for ASCII letters.
    const LIKE: &'static str;

    /// What an ascending order adds so that NULL sorts first, as on SQLite
    /// (NULL below every value).
    const NULLS_FIRST: &'static str;
    /// What a descending order adds so that NULL sorts last, as on SQLite.
    const NULLS_LAST: &'static str;

    /// What ends a claim's SELECT so that concurrent claimers do not take
    /// the same rows.
    const CLAIM_LOCK: &'static str;

    /// The function counting a text's characters (not bytes).
    const CHAR_LENGTH: &'static str;

    /// Appends `param` as a bound placeholder.
    fn push_param(out: &mut QueryBuilder<Self>, param: Param);
}

impl SqlDialect for Sqlite {
    const LIKE: &'static str = "LIKE";
    // SQLite's own order; saying it would only risk the claim index's use.
    const NULLS_FIRST: &'static str = "";
    const NULLS_LAST: &'static str = "";
    // A claim runs in a write transaction: SQLite has one writer at a time.
    const CLAIM_LOCK: &'static str = "";
    const CHAR_LENGTH: &'static str = "length";

    fn push_param(out: &mut QueryBuilder<Self>, param: Param) {
        match param {
            // SQLite's columns take a NULL of any declared type.
            Param::Null => out.push_bind(None::<i64>),
            Param::Text(s) => out.push_bind(s),
            Param::Int(i) => out.push_bind(i),
            Param::Float(f) => out.push_bind(f),
            Param::Bool(b) => out.push_bind(b),
            Param::Blob(b) => out.push_bind(b),
        };
    }
}

impl SqlDialect for Postgres {
    const LIKE: &'static str = "ILIKE";
    // PostgreSQL sorts NULL above every value by default.
    const NULLS_FIRST: &'static str = " NULLS FIRST";
    const NULLS_LAST: &'static str = " NULLS LAST";
    // A second claimer skips the rows a first one holds instead of waiting
    // (as River, Oban and graphile-worker claim).
    const CLAIM_LOCK: &'static str = " FOR UPDATE SKIP LOCKED";
    const CHAR_LENGTH: &'static str = "char_length";

    fn push_param(out: &mut QueryBuilder<Self>, param: Param) {
        match param {
            // A bound NULL carries a type (sqlx sends its OID), and
            // PostgreSQL refuses `text_column = $1::int8`; the literal has
            // none, so it fits every column and every comparison.
            Param::Null => out.push("NULL"),
            Param::Text(s) => out.push_bind(s),
            Param::Int(i) => out.push_bind(i),
            Param::Float(f) => out.push_bind(f),
            Param::Bool(b) => out.push_bind(b),
            Param::Blob(b) => out.push_bind(b),
        };
    }
}

/// [`SqlDialect::push_param`] as a builder method, to chain with `push`.
pub trait PushParam {
    /// Appends `value` as a bound placeholder.
    fn push_param(&mut self, value: impl Into<Param>) -> &mut Self;

    /// Appends `values` as placeholders separated by `, `.
    fn push_params(&mut self, values: impl IntoIterator<Item = Param>) -> &mut Self;
}

impl<DB: SqlDialect> PushParam for QueryBuilder<DB> {
    fn push_param(&mut self, value: impl Into<Param>) -> &mut Self {
        DB::push_param(self, value.into());
        self
    }

    fn push_params(&mut self, values: impl IntoIterator<Item = Param>) -> &mut Self {
        for (n, value) in values.into_iter().enumerate() {
            if n > 0 {
                self.push(", ");
            }
            DB::push_param(self, value);
        }
        self
    }
}

/// `name` as a quoted SQL identifier (the same on SQLite and PostgreSQL).
///
/// Names are validated before they get here; doubling quotes keeps even an
/// unvalidated name from escaping its identifier.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("queue"), "\"queue\"");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn placeholders_follow_the_database() {
        let mut sqlite = QueryBuilder::<Sqlite>::new("SELECT ");
        Sqlite::push_param(&mut sqlite, Param::Int(1));
        sqlite.push(", ");
        Sqlite::push_param(&mut sqlite, Param::Null);
        assert_eq!(sqlite.sql().as_str(), "SELECT ?, ?");
        let mut pg = QueryBuilder::<Postgres>::new("SELECT ");
        pg.push_params([Param::Int(1), Param::Null, Param::Text("x".into())]);
        pg.push(", ").push_param(7);
        assert_eq!(pg.sql().as_str(), "SELECT $1, NULL, $2, $3");
    }
}
