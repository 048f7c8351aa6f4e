//! A storage backend's database failures as the contract's [`StorageError`].

use std::fmt::Display;

use ixn_plugin_api::storage::StorageError;

/// Whether a sqlx error is a UNIQUE or PRIMARY KEY violation.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

/// A [`StorageError`] for a failed database operation: `context` says what
/// failed (`claim from queue `X``), the kind follows the one classification
/// all SQL plugins share ([`crate::classify`]): a busy, locked, full or
/// read-only database, or a server restarting, is retriable (the API answers
/// 503), the rest permanent.
pub fn db(context: impl Display, e: sqlx::Error) -> StorageError {
    let message = format!("{context}: {e}");
    match crate::classify(&e) {
        crate::Retry::Later => StorageError::retriable(message),
        crate::Retry::Never => StorageError::permanent(message),
    }
}

/// A closure for `map_err` that wraps a sqlx error with [`db`].
pub fn db_with<C: Display>(context: C) -> impl FnOnce(sqlx::Error) -> StorageError {
    move |e| db(context, e)
}

/// A closure for `map_err` that puts `context` in front of an error's message,
/// keeping its kind.
pub fn context<C: Display>(context: C) -> impl FnOnce(StorageError) -> StorageError {
    move |mut e| {
        e.message = format!("{context}: {}", e.message);
        e
    }
}
