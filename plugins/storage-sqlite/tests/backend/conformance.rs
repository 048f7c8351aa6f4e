//! The storage conformance suite (`ixn-storage-conformance`), every test of
//! it, run on SQLite.

ixn_storage_conformance::conformance_suite!(crate::harness::SqliteHarness::new());
