//! BP components across a reload: which versions the new config names,
//! which strategies need a new load, and loading those off the hot path
//! while the running ones keep serving.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::Config;
use crate::config::diff::{Change, ChangeKind};
use crate::wasm::engine::file_version;
use crate::wasm::{BpComponent, HostEnv, WasmEngine};

/// The version (content hash) of each strategy's component file, or a line
/// per strategy whose file cannot be read or is not a component.
pub fn versions(config: &Config) -> Result<BTreeMap<String, String>, Vec<String>> {
    let mut versions = BTreeMap::new();
    let mut errors = Vec::new();
    for s in config.strategies.values() {
        match file_version(&s.component) {
            Ok(v) => {
                versions.insert(s.name.clone(), v);
            }
            Err(e) => errors.push(format!("strategy `{}`: {e}", s.name)),
        }
    }
    if errors.is_empty() {
        Ok(versions)
    } else {
        Err(errors)
    }
}

/// Strategies whose settings did not change but whose component file did:
/// a new build at the same path, which the config diff cannot see.
pub fn rebuilt(
    running: &BTreeMap<String, Arc<BpComponent>>,
    new: &Config,
    versions: &BTreeMap<String, String>,
) -> Vec<Change> {
    new.strategies
        .values()
        .filter_map(|s| {
            let old = running.get(&s.name)?;
            let same_settings = old.strategy() == s;
            let rebuilt = versions.get(&s.name).is_some_and(|v| v != old.version());
            (same_settings && rebuilt).then(|| Change {
                subject: format!("Strategy `{}`", s.name),
                kind: ChangeKind::Changed(vec!["component version"]),
            })
        })
        .collect()
}

/// The components `new` runs: a running one where it already serves its
/// strategy at that version with that engine (warm instances kept), a new
/// load otherwise. Every strategy that fails is a line; nothing running changes.
pub async fn load(
    engine: &Arc<WasmEngine>,
    env: &Arc<HostEnv>,
    new: &Config,
    versions: &BTreeMap<String, String>,
    running: &BTreeMap<String, Arc<BpComponent>>,
) -> Result<BTreeMap<String, Arc<BpComponent>>, Vec<String>> {
    let mut loaded = BTreeMap::new();
    let mut errors = Vec::new();
    for s in new.strategies.values() {
        let version = versions.get(&s.name).map(String::as_str).unwrap_or("");
        if let Some(c) = running
            .get(&s.name)
            .filter(|c| c.serves(s, engine, version))
        {
            loaded.insert(s.name.clone(), c.clone());
            continue;
        }
        let (e, v, st) = (engine.clone(), env.clone(), s.clone());
        match tokio::task::spawn_blocking(move || BpComponent::load(&e, &v, &st)).await {
            Ok(Ok(c)) => {
                tracing::info!(strategy = %s.name, version = %c.version(), "Component loaded.");
                loaded.insert(s.name.clone(), c);
            }
            Ok(Err(e)) => errors.push(format!(
                "strategy `{}`: {}",
                s.name,
                crate::check::first_line(&e.to_string())
            )),
            Err(e) => errors.push(format!("strategy `{}`: loading failed: {e}", s.name)),
        }
    }
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(errors)
    }
}
