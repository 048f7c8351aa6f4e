//! Mapping of SQLite and sqlx failures to the contract's `StorageError`:
//! the rules every SQL backend shares ([`ixn_sql::interactions::errors`]).

pub(crate) use ixn_sql::interactions::errors::{context, db, db_with, is_unique_violation};
