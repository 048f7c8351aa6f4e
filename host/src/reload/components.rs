//! BP components across a reload: which versions the new config names,
//! which strategies need a new load, and loading those off the hot path
//! while the running ones keep serving.
//!
//! A strategy has one component per [`Arm`]: its primary and, while
//! configured, its canary. Each arm is versioned, compared and loaded on
//! its own, so changing a canary leaves the primary's warm instances alone.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::bp::strategy::{Arm, Canary, Strategy};
use crate::config::diff::{Change, ChangeKind};
use crate::config::{Config, StrategyConfig};
use crate::wasm::engine::file_version;
use crate::wasm::{BpComponent, HostEnv, WasmEngine};

/// The version (content hash) of each arm's component file, keyed by
/// strategy and arm.
pub type Versions = BTreeMap<(String, Arm), String>;

/// What each arm of `strategy` is loaded for.
pub fn arms(strategy: &StrategyConfig) -> Vec<(Arm, StrategyConfig)> {
    let mut arms = vec![(Arm::Primary, strategy.primary())];
    arms.extend(strategy.canary_arm().map(|c| (Arm::Canary, c)));
    arms
}

/// How errors name an arm: ``strategy `x` `` or ``strategy `x` canary``.
pub(crate) fn label(name: &str, arm: Arm) -> String {
    match arm {
        Arm::Primary => format!("strategy `{name}`"),
        Arm::Canary => format!("strategy `{name}` canary"),
    }
}

/// The version of every arm's component file, or a line per arm whose file
/// cannot be read or is not a component.
pub fn versions(config: &Config) -> Result<Versions, Vec<String>> {
    let mut versions = BTreeMap::new();
    let mut errors = Vec::new();
    for s in config.strategies.values() {
        for (arm, a) in arms(s) {
            match file_version(&a.component) {
                Ok(v) => {
                    versions.insert((s.name.clone(), arm), v);
                }
                Err(e) => errors.push(format!("{}: {e}", label(&s.name, arm))),
            }
        }
    }
    if errors.is_empty() {
        Ok(versions)
    } else {
        Err(errors)
    }
}

/// Arms whose settings did not change but whose component file did: a new
/// build at the same path, which the config diff cannot see.
pub fn rebuilt(
    running: &BTreeMap<String, Strategy>,
    new: &Config,
    versions: &Versions,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for s in new.strategies.values() {
        for (arm, a) in arms(s) {
            let Some(old) = running.get(&s.name).and_then(|r| r.arm(arm)) else {
                continue;
            };
            let key = (s.name.clone(), arm);
            let rebuilt = versions.get(&key).is_some_and(|v| v != old.version());
            if old.strategy() == &a && rebuilt {
                changes.push(Change {
                    subject: format!("Strategy `{}`", s.name),
                    kind: ChangeKind::Changed(vec![match arm {
                        Arm::Primary => "component version",
                        Arm::Canary => "canary version",
                    }]),
                });
            }
        }
    }
    changes
}

/// The components `new` runs: a running one where it already serves that
/// arm at that version with that engine (warm instances kept), a new load
/// otherwise. Every arm that fails is a line; nothing running changes.
pub async fn load(
    engine: &Arc<WasmEngine>,
    env: &Arc<HostEnv>,
    new: &Config,
    versions: &Versions,
    running: &BTreeMap<String, Strategy>,
) -> Result<BTreeMap<String, Strategy>, Vec<String>> {
    let mut loaded = BTreeMap::new();
    let mut errors = Vec::new();
    for s in new.strategies.values() {
        let mut components = BTreeMap::new();
        for (arm, a) in arms(s) {
            let version = versions
                .get(&(s.name.clone(), arm))
                .map(String::as_str)
                .unwrap_or("");
            if let Some(c) = running
                .get(&s.name)
                .and_then(|r| r.arm(arm))
                .filter(|c| c.serves(&a, engine, version))
            {
                components.insert(arm, c.clone());
                continue;
            }
            let (e, v) = (engine.clone(), env.clone());
            match tokio::task::spawn_blocking(move || BpComponent::load(&e, &v, &a)).await {
                Ok(Ok(c)) => {
                    tracing::info!(strategy = %s.name, ?arm, version = %c.version(), "Component loaded.");
                    components.insert(arm, c);
                }
                Ok(Err(e)) => errors.push(format!(
                    "{}: {}",
                    label(&s.name, arm),
                    crate::check::first_line(&e.to_string())
                )),
                Err(e) => errors.push(format!("{}: loading failed: {e}", label(&s.name, arm))),
            }
        }
        let Some(primary) = components.remove(&Arm::Primary) else {
            continue;
        };
        let canary =
            components
                .remove(&Arm::Canary)
                .zip(s.canary.as_ref())
                .map(|(component, c)| Canary {
                    component,
                    percent: c.percent,
                });
        loaded.insert(s.name.clone(), Strategy { primary, canary });
    }
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(errors)
    }
}
