//! Mapping of SQLite and sqlx failures to the contract's [`StorageError`].

use std::fmt::Display;

use ixn_plugin_api::storage::StorageError;

// Primary SQLite result codes (the low byte of an extended code) that mean
// "try again later": another connection holds a lock, or the disk failed.
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_IOERR: i32 = 10;

/// Whether a sqlx error is worth retrying: busy or locked database, I/O
/// failure, or no pooled connection free in time.
pub(crate) fn is_retriable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => d
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| matches!(c & 0xff, SQLITE_BUSY | SQLITE_LOCKED | SQLITE_IOERR)),
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        _ => false,
    }
}

/// Whether a sqlx error is a UNIQUE or PRIMARY KEY violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

/// A [`StorageError`] for a failed database operation: `context` says what
/// failed (`claim from queue `X``), the kind follows [`is_retriable`].
pub(crate) fn db(context: impl Display, e: sqlx::Error) -> StorageError {
    let message = format!("{context}: {e}");
    if is_retriable(&e) {
        StorageError::retriable(message)
    } else {
        StorageError::permanent(message)
    }
}

/// A closure for `map_err` that wraps a sqlx error with [`db`].
pub(crate) fn db_with<C: Display>(context: C) -> impl FnOnce(sqlx::Error) -> StorageError {
    move |e| db(context, e)
}

/// A closure for `map_err` that puts `context` in front of an error's message,
/// keeping its kind.
pub(crate) fn context<C: Display>(context: C) -> impl FnOnce(StorageError) -> StorageError {
    move |mut e| {
        e.message = format!("{context}: {}", e.message);
        e
    }
}
