//! What every SQL storage backend does the same way with the `interactions`
//! table: its [`layout`] for a set of custom fields and how attached data is
//! split between typed columns and the blob ([`properties`]). The DDL, the
//! queries and the row decoding stay in each backend.

pub mod layout;
pub mod properties;
