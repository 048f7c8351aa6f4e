//! `ixn-storage-conformance`: the storage contract (`ixn:storage`, the
//! [`StorageBackend`](ixn_plugin_api::storage::StorageBackend) trait) as one
//! test suite that every storage backend runs against a real database.
//!
//! The suite knows nothing of a particular database. A backend's test binary
//! says how to make, open and look into one through a [`Harness`], and
//! [`conformance_suite!`] turns the whole suite into `#[test]` functions
//! there, one per suite test and named after it:
//!
//! ```ignore
//! // tests/backend/main.rs of a backend
//! mod harness; // `impl Harness for MyHarness`
//!
//! mod conformance {
//!     ixn_storage_conformance::conformance_suite!(crate::harness::MyHarness::new());
//! }
//! ```
//!
//! Each suite test is a `pub fn name<H: Harness>(h: &H)` in the module of the
//! calls it is about ([`submit`], [`claim`], [`apply`], [`convert`],
//! [`faults`], [`concurrency`], [`open`], [`notices`]); they can also be called one by one.
//! A new one is listed in [`conformance_suite!`] too: this crate's own unit
//! test fails until it is.
//! What the suite writes from outside is plain SQL on the `interactions`
//! table that SQLite and PostgreSQL both run. Checks of one database's own
//! settings, files or catalogue stay in that backend's tests.
#![allow(clippy::unwrap_used, reason = "a test suite fails loudly")]

mod harness;
mod suite;

pub mod apply;
pub mod claim;
pub mod common;
pub mod concurrency;
pub mod convert;
pub mod faults;
pub mod notices;
pub mod open;
pub mod submit;

pub use harness::{Db, Harness, count, outside};
