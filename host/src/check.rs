//! What `check-config` and `serve` verify before anything is created: every
//! strategy's component compiles (or is in the cache) and implements world
//! `business-process`, every plugin named exists with this host's ABI, and
//! each plugin's `validate` accepts the settings it would be opened with (the
//! plugin, not the host, knows its settings).
//!
//! The config itself is valid by then (`Config::load`); this is the part of
//! validation that reads the files the config names. Nothing is written: no
//! data directory, no database, no cache entry.

use crate::config::Config;
use crate::plugins::Registry;
use crate::reload::components::{arms, label};
use crate::wasm::{BpComponent, WasmEngine};

/// Every problem found, one line each, in config order.
#[derive(Debug, thiserror::Error)]
#[error("the configuration names what cannot run:\n  {}", .0.join("\n  "))]
pub struct NotRunnable(pub Vec<String>);

/// Checks every component and plugin `config` names; blocking (it compiles
/// components that are not cached and loads plugin files).
pub fn runnable(config: &Config, registry: &Registry) -> Result<(), NotRunnable> {
    let mut problems = plugins(config, registry);
    problems.extend(components(config));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(NotRunnable(problems))
    }
}

/// What is wrong with the plugins `config` names and their settings, one
/// line each. A reload runs this alone: it validates components by loading them.
pub fn plugins(config: &Config, registry: &Registry) -> Vec<String> {
    let mut problems = Vec::new();
    match registry.validate_storage(&config.storage, &config.storage_open_settings()) {
        Ok(found) => problems.extend(found.into_iter().map(|(key, message)| {
            let place = config.storage_setting_places.of(&key);
            format!("{place}: [storage.settings] `{key}`: {message}")
        })),
        Err(e) => problems.push(format!("[storage] plugin: {e}")),
    }
    for l in &config.event_loggers {
        match registry.validate_sink(&l.sink, &l.sink_settings) {
            Ok(found) => problems.extend(found.into_iter().map(|(key, message)| {
                let place = l.setting_places.of(&key);
                format!(
                    "{place}: event logger `{}`: setting `{key}`: {message}",
                    l.name
                )
            })),
            Err(e) => problems.push(format!("event logger `{}`: sink: {e}", l.name)),
        }
    }
    problems
}

/// What keeps `config`'s components from running, one line each.
fn components(config: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    match WasmEngine::new(&config.wasm) {
        Ok(engine) => {
            for s in config.strategies.values() {
                for (arm, a) in arms(s) {
                    if let Err(e) = BpComponent::check(&engine, &a) {
                        problems.push(format!(
                            "{}: {}",
                            label(&s.name, arm),
                            first_line(&e.to_string())
                        ));
                    }
                }
            }
        }
        Err(e) => problems.push(e.to_string()),
    }
    problems
}

/// A message cut to its first line: a compiler's multi-line report stays a line.
pub fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or(message)
}
