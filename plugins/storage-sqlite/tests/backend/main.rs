//! Tests of the SQLite backend against real database files in temporary directories.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod abi;
mod apply;
mod claim;
mod common;
mod concurrency;
mod convert;
mod faults;
mod open;
mod submit;
