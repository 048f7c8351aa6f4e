//! ixn's end-to-end tests: one binary, a module per area.

mod api;
mod brokers;
mod canary;
mod config_errors;
mod convert;
mod crash_run;
mod custom_reporting;
mod filters;
mod flush_triggers;
mod hostile_wasm;
mod http_limits;
mod leases;
mod plugins;
mod postgres_event_log;
mod postgres_hosts;
mod postgres_wake;
mod reload;
mod signals;
mod sinks;
mod spool;
mod startup;
mod storage_outage;
mod tls;
