//! What the view pullers run: one immutable snapshot of the applied config
//! and its loaded components, swapped whole when a reload applies.
//!
//! A puller reads the snapshot at each claim, so a batch runs start to end
//! on one generation (calls in flight finish on the component they began
//! with) and the next claim sees the new one.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::strategy::Strategy;
use crate::config::Config;

/// One applied config.
pub struct Snapshot {
    /// 1 for the config the host started with, then one more per applied reload.
    pub generation: u64,
    /// The config.
    pub config: Arc<Config>,
    /// Loaded components by strategy name.
    pub components: BTreeMap<String, Strategy>,
    /// When it was applied, ms since the epoch.
    pub applied_at: i64,
}
