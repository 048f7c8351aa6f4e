//! The storage conformance suite (`ixn-storage-conformance`), every test of
//! it, run on PostgreSQL.

ixn_storage_conformance::conformance_suite!(crate::harness::PgHarness::new());
