//! What the message-queue sinks (`amqp`, `nats`, `mqtt`) share.
//!
//! A sink's calls arrive synchronously over the plugin ABI, on a host thread
//! that may belong to the host's own tokio runtime; the broker clients are
//! async. Each sink therefore owns a small runtime of its own
//! ([`ClientRuntime`]) and blocks on it, so a `.so` sink works the same
//! whether the host uses tokio or not, and its tokio (its own copy, in a
//! `.so`) never meets the host's.
//!
//! Delivery is per event: one message per record, its body the record's JSON
//! ([`ixn_plugin_api::event_json`], schema `wit/sink/event.schema.json`) and
//! its id `origin/sequence`, so that a consumer, or the broker itself, can drop
//! the copies a retried batch sends again.
#![deny(missing_docs)]

pub mod runtime;
pub mod settings;
pub mod tally;
pub mod tls;

pub use runtime::ClientRuntime;
pub use settings::{BrokerSettings, first_problem, read_settings};
