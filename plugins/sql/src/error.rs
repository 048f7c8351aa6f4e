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

/// The classification of a PostgreSQL SQLSTATE. Whole classes that time or an
/// operator can fix are [`Retry::Later`]: 08 connection exception, 40
/// transaction rollback (serialization failure, deadlock), 53 insufficient
/// resources (disk full, out of memory, too many connections), 57 operator
/// intervention (shutdown, cannot connect now, query cancelled), 58 system
/// error (I/O); so are 55P03 lock not available and 25006 read-only
/// transaction (a standby). The rest (constraints, types, syntax, missing
/// objects, privileges) is [`Retry::Never`].
/// <https://www.postgresql.org/docs/current/errcodes-appendix.html>
pub fn postgres_code_retry(sqlstate: &str) -> Retry {
    match sqlstate.get(..2) {
        Some("08" | "40" | "53" | "57" | "58") => Retry::Later,
        _ if matches!(sqlstate, "55P03" | "25006") => Retry::Later,
        _ => Retry::Never,
    }
}

/// Classifies a sqlx error: a database error by its code, connection-level
/// trouble (I/O, TLS, pool timeouts, a crashed connection worker) as
/// [`Retry::Later`], everything else as [`Retry::Never`].
pub fn classify(error: &sqlx::Error) -> Retry {
    match error {
        sqlx::Error::Database(db) => match db.code() {
            None => Retry::Never,
            Some(code)
                if db
                    .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                    .is_some() =>
            {
                postgres_code_retry(&code)
            }
            Some(code) => sqlite_code_retry(&code),
        },
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
    fn postgres_states_that_time_can_fix_are_retried() {
        for code in [
            "08006", "08001", "40001", "40P01", "53100", "53300", "57P01", "57P03", "58030",
            "55P03", "25006",
        ] {
            assert_eq!(postgres_code_retry(code), Retry::Later, "{code}");
        }
        for code in ["23505", "22P02", "42P01", "42703", "42501", "0A000", ""] {
            assert_eq!(postgres_code_retry(code), Retry::Never, "{code}");
        }
    }

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
