//! Small helpers for building parameterised SQL: bound values, identifier
//! checks and quoting.

use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;
use sqlx::{AssertSqlSafe, Sqlite};

/// A value bound to a `?` placeholder.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Null,
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
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

/// SQL text under construction together with the values of its placeholders,
/// in placeholder order.
#[derive(Debug, Default)]
pub(crate) struct SqlBuilder {
    pub sql: String,
    pub params: Vec<Param>,
}

impl SqlBuilder {
    /// Starts with fixed SQL text.
    pub fn new(sql: &str) -> Self {
        SqlBuilder {
            sql: sql.to_string(),
            params: Vec::new(),
        }
    }

    /// Appends SQL text (never user data: that goes through [`SqlBuilder::param`]).
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends a `?` placeholder bound to `value`.
    pub fn param(&mut self, value: impl Into<Param>) -> &mut Self {
        self.sql.push('?');
        self.params.push(value.into());
        self
    }

    /// The query, with every parameter bound.
    pub fn build(self) -> Query<'static, Sqlite, SqliteArguments> {
        query_with_params(self.sql, self.params)
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

/// A query from SQL text this crate assembled, with `params` bound in order.
///
/// The text only ever contains fixed SQL, validated and quoted identifiers and
/// `?` placeholders, which is what makes the `AssertSqlSafe` below true.
pub(crate) fn query_with_params(
    sql: String,
    params: Vec<Param>,
) -> Query<'static, Sqlite, SqliteArguments> {
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for p in params {
        query = bind(query, p);
    }
    query
}

/// Binds one parameter.
pub(crate) fn bind(
    query: Query<'static, Sqlite, SqliteArguments>,
    p: Param,
) -> Query<'static, Sqlite, SqliteArguments> {
    match p {
        Param::Null => query.bind(None::<i64>),
        Param::Text(s) => query.bind(s),
        Param::Int(i) => query.bind(i),
        Param::Float(f) => query.bind(f),
        Param::Bool(b) => query.bind(b),
        Param::Blob(b) => query.bind(b),
    }
}

/// `name` as a quoted SQL identifier.
///
/// Names are validated before they get here; doubling quotes keeps even an
/// unvalidated name from escaping its identifier.
pub(crate) fn quote(name: &str) -> String {
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
}
