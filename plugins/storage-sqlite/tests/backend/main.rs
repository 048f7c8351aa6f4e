//! Tests of the SQLite backend against real database files in temporary
//! directories: the storage conformance suite, and what is SQLite's own.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod abi;
mod conformance;
mod faults;
mod file;
mod harness;
mod open;
