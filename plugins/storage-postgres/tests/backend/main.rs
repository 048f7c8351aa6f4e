//! Tests of the PostgreSQL backend against the server at `IXN_TEST_PG_URL`
//! (each in a fresh schema, dropped afterwards): the storage conformance
//! suite, and what is PostgreSQL's own. Without the variable every test says
//! it is skipped and why.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod conformance;
mod explain;
mod harness;
mod notices;
mod own;
mod partitions;
