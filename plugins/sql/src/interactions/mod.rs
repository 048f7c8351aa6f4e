//! What every SQL storage backend does the same way with the `interactions`
//! table: its [`layout`] for a set of custom fields and how attached data is
//! split between typed columns and the blob ([`properties`]), and a selected
//! row read back as an interaction ([`row`]), database failures as storage
//! errors ([`errors`]), a claim's SELECT ([`claim`]), whether new custom
//! fields may replace the old ([`fields_change`]), and what putting
//! interactions back answers ([`leases`]). The DDL and the other
//! queries stay in each backend.

pub mod claim;
pub mod errors;
pub mod fields_change;
pub mod layout;
pub mod leases;
pub mod properties;
pub mod row;
