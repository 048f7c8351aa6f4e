//! One classification of database errors for every SQL plugin.

/// What a caller should do about a failed database operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The database cannot do it right now (busy, locked, full, read-only,
    /// unreachable): the same request can succeed later. Storage answers 503,
    /// a sink keeps its batch.
    Later,
    /// The request itself is refused (a constraint, a type, bad SQL): retrying
    /// it changes nothing.
    Never,
}

// Primary SQLite result codes: the low byte of an extended code.
// https://www.sqlite.org/rescode.html
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;
const SQLITE_NOMEM: i64 = 7;
const SQLITE_READONLY: i64 = 8;
const SQLITE_IOERR: i64 = 10;
const SQLITE_FULL: i64 = 13;
const SQLITE_PROTOCOL: i64 = 15;

/// The classification of a SQLite result code (primary or extended, as text
/// the way sqlx reports it). Everything the operator or time can fix — another
/// writer holding the lock, a full disk, a file made read-only, an I/O error —
/// is [`Retry::Later`]; the rest (constraints, misuse, corruption) is
/// [`Retry::Never`].
pub fn sqlite_code_retry(code: &str) -> Retry {
    let Ok(code) = code.parse::<i64>() else {
        return Retry::Never;
    };
    match code & 0xff {
        SQLITE_BUSY | SQLITE_LOCKED | SQLITE_NOMEM | SQLITE_READONLY | SQLITE_IOERR
        | SQLITE_FULL | SQLITE_PROTOCOL => Retry::Later,
        _ => Retry::Never,
    }
}

/// Classifies a sqlx error: a database error by its code, connection-level
/// trouble (I/O, TLS, pool timeouts, a crashed connection worker) as
/// [`Retry::Later`], everything else as [`Retry::Never`].
pub fn classify(error: &sqlx::Error) -> Retry {
    match error {
        sqlx::Error::Database(db) => db
            .code()
            .map_or(Retry::Never, |code| sqlite_code_retry(&code)),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed => Retry::Later,
        _ => Retry::Never,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sqlite_code_that_time_can_fix_is_retried() {
        // (code, name): primary and extended codes as sqlx reports them.
        let later = [
            ("5", "BUSY"),
            ("261", "BUSY_RECOVERY"),
            ("517", "BUSY_SNAPSHOT"),
            ("6", "LOCKED"),
            ("262", "LOCKED_SHAREDCACHE"),
            ("7", "NOMEM"),
            ("8", "READONLY"),
            ("1032", "READONLY_DBMOVED"),
            ("10", "IOERR"),
            ("3338", "IOERR_WRITE"),
            ("4874", "IOERR_FSYNC"),
            ("13", "FULL"),
            ("15", "PROTOCOL"),
        ];
        for (code, name) in later {
            assert_eq!(sqlite_code_retry(code), Retry::Later, "{name} ({code})");
        }
        let never = [
            ("1", "ERROR"),
            ("11", "CORRUPT"),
            ("14", "CANTOPEN"),
            ("19", "CONSTRAINT"),
            ("1555", "CONSTRAINT_PRIMARYKEY"),
            ("2067", "CONSTRAINT_UNIQUE"),
            ("20", "MISMATCH"),
            ("21", "MISUSE"),
            ("x", "not a code"),
        ];
        for (code, name) in never {
            assert_eq!(sqlite_code_retry(code), Retry::Never, "{name} ({code})");
        }
    }

    #[test]
    fn connection_trouble_is_retried() {
        assert_eq!(
            classify(&sqlx::Error::Io(std::io::Error::other("gone"))),
            Retry::Later
        );
        assert_eq!(classify(&sqlx::Error::PoolTimedOut), Retry::Later);
        assert_eq!(classify(&sqlx::Error::WorkerCrashed), Retry::Later);
        assert_eq!(classify(&sqlx::Error::PoolClosed), Retry::Never);
        assert_eq!(classify(&sqlx::Error::RowNotFound), Retry::Never);
    }
}
