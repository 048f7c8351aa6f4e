//! Turning database errors into the contract's retriable and permanent errors.

use ixn_plugin_api::sink::SinkError;

/// Classifies a database error with the rule every SQL plugin shares
/// ([`ixn_sql::classify`]): busy, locked, full, read-only, I/O and connection
/// trouble are retriable (the logger keeps the batch and tries again), the
/// rest permanent. The message says what was being done.
pub fn classify(doing: &str, error: sqlx::Error) -> SinkError {
    let message = format!("sql sink: {doing}: {error}");
    match ixn_sql::classify(&error) {
        ixn_sql::Retry::Later => SinkError::retriable(message),
        ixn_sql::Retry::Never => SinkError::permanent(message),
    }
}

/// A `map_err` adapter for [`classify`] with a lazily built description.
pub fn db_error(doing: impl FnOnce() -> String) -> impl FnOnce(sqlx::Error) -> SinkError {
    move |error| classify(&doing(), error)
}

/// Adds what was being done to a database result.
pub trait Context<T> {
    /// Classifies the error with a fixed description.
    fn context(self, doing: &str) -> Result<T, SinkError>;
}

impl<T> Context<T> for Result<T, sqlx::Error> {
    fn context(self, doing: &str) -> Result<T, SinkError> {
        self.map_err(|e| classify(doing, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ixn_plugin_api::sink::ErrorKind;

    #[test]
    fn kinds_and_context() {
        let io = sqlx::Error::Io(std::io::Error::other("disk gone"));
        let e = classify("inserting", io);
        assert_eq!(e.kind, ErrorKind::Retriable);
        assert!(
            e.message.contains("inserting") && e.message.contains("disk gone"),
            "{}",
            e.message
        );
        assert_eq!(
            classify("x", sqlx::Error::PoolClosed).kind,
            ErrorKind::Permanent
        );
    }
}
