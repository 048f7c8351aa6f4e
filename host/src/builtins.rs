//! The plugins linked into the `ixn` binary: the embedded default needs no `.so`.
//!
//! This is the only place in the host that names concrete backends; everything
//! else reaches them through the [`crate::plugins::Registry`] by the names
//! config gives.

use crate::plugins::Registry;

/// A registry holding every built-in plugin.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(ixn_storage_sqlite::plugin_table());
    r.register(ixn_storage_postgres::plugin_table());
    r.register(ixn_sink_sql::plugin_table());
    r.register(ixn_sink_jsonl::plugin_table());
    r.register(ixn_sink_amqp::plugin_table());
    r.register(ixn_sink_nats::plugin_table());
    r.register(ixn_sink_mqtt::plugin_table());
    r
}
