//! Turning database errors into the contract's retriable and permanent errors.

use ixn_plugin_api::sink::SinkError;

use crate::dialect::Dialect;

/// Classifies a database error: busy, locked, I/O and connection trouble are
/// retriable (the logger keeps the batch and tries again), the rest permanent.
/// The message says what was being done.
pub fn classify(dialect: Dialect, doing: &str, error: sqlx::Error) -> SinkError {
    let retriable = match &error {
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| dialect.is_retriable_code(&code)),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    };
    let message = format!("sql sink: {doing}: {error}");
    if retriable {
        SinkError::retriable(message)
    } else {
        SinkError::permanent(message)
    }
}

/// A `map_err` adapter for [`classify`] with a lazily built description.
pub fn db_error(
    dialect: Dialect,
    doing: impl FnOnce() -> String,
) -> impl FnOnce(sqlx::Error) -> SinkError {
    move |error| classify(dialect, &doing(), error)
}

/// Adds what was being done to a database result.
pub trait Context<T> {
    /// Classifies the error with a fixed description.
    fn context(self, dialect: Dialect, doing: &str) -> Result<T, SinkError>;
}

impl<T> Context<T> for Result<T, sqlx::Error> {
    fn context(self, dialect: Dialect, doing: &str) -> Result<T, SinkError> {
        self.map_err(|e| classify(dialect, doing, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ixn_plugin_api::sink::ErrorKind;

    #[test]
    fn kinds() {
        let io = sqlx::Error::Io(std::io::Error::other("disk gone"));
        let e = classify(Dialect::Sqlite, "inserting", io);
        assert_eq!(e.kind, ErrorKind::Retriable);
        assert!(
            e.message.contains("inserting") && e.message.contains("disk gone"),
            "{}",
            e.message
        );
        assert_eq!(
            classify(Dialect::Sqlite, "x", sqlx::Error::PoolTimedOut).kind,
            ErrorKind::Retriable
        );
        assert_eq!(
            classify(Dialect::Sqlite, "x", sqlx::Error::PoolClosed).kind,
            ErrorKind::Permanent
        );
        assert_eq!(
            classify(Dialect::Sqlite, "x", sqlx::Error::RowNotFound).kind,
            ErrorKind::Permanent
        );
    }
}
