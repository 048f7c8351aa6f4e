//! `ixn-sql`: what the SQL plugins of ixn (`storage-sqlite`, `sink-sql`, and
//! the PostgreSQL ones to come) share, so that each rule exists once:
//!
//! - [`classify`]: whether a database error is worth retrying (the server
//!   cannot store *right now*: busy, locked, disk full, read-only, I/O, a
//!   PostgreSQL server restarting) or permanent (the request itself is wrong),
//!   for SQLite's result codes and PostgreSQL's SQLSTATEs alike.
//! - [`WriteTx`]: a write transaction on a pooled SQLite connection that is
//!   committed, rolled back, or else closed — a connection whose transaction
//!   failed never goes back to the pool in that state.
//! - [`attached`]: the attached-data blob's format, the same on every backend.
//! - [`bridge::run_on`]: running a plugin's async database work on the
//!   plugin's own runtime from the host's synchronous call.
//! - [`query`]: values typed at run time, bound on either database
//!   through `sqlx::QueryBuilder`, and identifier quoting.
//! - [`interactions`]: the `interactions` table's layout for a set of custom
//!   fields and the split of attached data between columns and the blob.
//! - [`condition`]: a view's condition and order (the `ixn:storage` AST)
//!   rendered as parameterised SQL for either database.
#![deny(missing_docs)]

pub mod attached;
pub mod bridge;
pub mod condition;
mod error;
pub mod interactions;
pub mod query;
mod tx;

pub use error::{Retry, classify, postgres_code_retry, sqlite_code_retry};
pub use query::{Param, PushParam, SqlDialect, quote};
pub use tx::WriteTx;
