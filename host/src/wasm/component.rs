//! One BP component ready to run: pre-instantiated once, with a pool of
//! instances reused across calls.
//!
//! An instance is replaced after a trap (wasmtime refuses further calls into
//! it) and after `recycle-after-calls` calls, so a guest that leaks memory
//! cannot grow forever. Each call gets an epoch deadline (and fuel where
//! configured); the memory limit is enforced by the store's limiter.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};

use wasmtime::component::Linker;
use wasmtime::{Store, StoreLimitsBuilder, Trap};

use super::bindings::{BusinessProcess, BusinessProcessPre, Decision, Interaction, ViewContext};
use super::engine::{EngineError, WasmEngine};
use super::host_fns::{HostEnv, HostFault, Report, StoreState};
use crate::config::StrategyConfig;

/// Why a call produced no decision. Each sends only its interaction to the error queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The guest trapped.
    #[error("trap: {0}")]
    Trap(String),
    /// The call ran past `call-timeout-ms`.
    #[error("timeout: the call ran longer than {0} ms")]
    Timeout(u128),
    /// The call used up its fuel.
    #[error("out of fuel")]
    OutOfFuel,
    /// The guest tried to grow its memory past `memory-limit-mb`.
    #[error("memory limit exceeded: {0}")]
    MemoryLimit(String),
    /// The guest returned `err`.
    #[error("strategy error: {0}")]
    Guest(String),
    /// A host function failed.
    #[error("{0}")]
    HostFault(String),
    /// A fresh instance could not be made (init refused, allocator exhausted).
    #[error("instantiation failed: {0}")]
    Instantiate(String),
}

struct Slot {
    store: Store<StoreState>,
    bindings: BusinessProcess,
    calls: u64,
}

struct Pool {
    idle: Vec<Slot>,
    /// Instances in existence, idle or in a call.
    live: u32,
}

/// A loaded BP component.
pub struct BpComponent {
    name: Arc<str>,
    version: Arc<str>,
    strategy: StrategyConfig,
    engine: Arc<WasmEngine>,
    env: Arc<HostEnv>,
    config: Arc<BTreeMap<String, String>>,
    init_config: Vec<(String, String)>,
    pre: BusinessProcessPre<StoreState>,
    has_init: bool,
    pool: Mutex<Pool>,
    freed: Condvar,
}

impl BpComponent {
    /// Compiles (or loads from cache) and links a strategy's component, and makes
    /// one instance to prove it instantiates and its `init` accepts the config.
    pub fn load(
        engine: &Arc<WasmEngine>,
        env: &Arc<HostEnv>,
        strategy: &StrategyConfig,
    ) -> Result<Arc<Self>, EngineError> {
        let path = &strategy.component;
        let fail = |message: String| EngineError::Compile {
            path: path.clone(),
            message,
        };
        let compiled = engine.load_component(path)?;
        let (pre, has_init) = link(engine, &compiled.component).map_err(fail)?;
        let this = Arc::new(BpComponent {
            name: strategy.name.as_str().into(),
            version: compiled.version.into(),
            strategy: strategy.clone(),
            engine: engine.clone(),
            env: env.clone(),
            config: Arc::new(strategy.config.iter().cloned().collect()),
            init_config: strategy.config.clone(),
            pre,
            has_init,
            pool: Mutex::new(Pool {
                idle: Vec::new(),
                live: 0,
            }),
            freed: Condvar::new(),
        });
        let first = this
            .instantiate()
            .map_err(|e| fail(format!("strategy `{}`: {e}", strategy.name)))?;
        if let Ok(mut pool) = this.pool.lock() {
            pool.live = 1;
            pool.idle.push(first);
        }
        Ok(this)
    }

    /// Checks without writing or running anything that a strategy's component
    /// compiles (or is in the cache) and implements world `business-process`.
    pub fn check(engine: &Arc<WasmEngine>, strategy: &StrategyConfig) -> Result<(), EngineError> {
        let compiled = engine.check_component(&strategy.component)?;
        link(engine, &compiled.component)
            .map(|_| ())
            .map_err(|message| EngineError::Compile {
                path: strategy.component.clone(),
                message,
            })
    }

    /// The strategy's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// SHA-256 of the component file it was compiled from, hex: the version
    /// that made each decision.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The strategy settings it was loaded for.
    pub fn strategy(&self) -> &StrategyConfig {
        &self.strategy
    }

    /// Whether this is what `strategy` asks for, built by `engine` from a
    /// file of `version`: a reload keeps it and its warm instances then.
    pub fn serves(
        &self,
        strategy: &StrategyConfig,
        engine: &Arc<WasmEngine>,
        version: &str,
    ) -> bool {
        self.strategy == *strategy && Arc::ptr_eq(&self.engine, engine) && &*self.version == version
    }

    fn instantiate(&self) -> Result<Slot, CallError> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.engine.config().memory_limit_bytes as usize)
            .trap_on_grow_failure(true)
            .build();
        let state = StoreState {
            limits,
            env: self.env.clone(),
            strategy: self.name.clone(),
            config: self.config.clone(),
            reports: Vec::new(),
        };
        let mut store = Store::new(self.engine.engine(), state);
        store.limiter(|s| &mut s.limits);
        self.arm(&mut store)?;
        let instance = self
            .pre
            .instance_pre()
            .instantiate(&mut store)
            .map_err(|e| CallError::Instantiate(format!("{e:#}")))?;
        let bindings = BusinessProcess::new(&mut store, &instance)
            .map_err(|e| CallError::Instantiate(format!("{e:#}")))?;
        if self.has_init {
            let init = instance
                .get_typed_func::<(Vec<(String, String)>,), (Result<(), String>,)>(
                    &mut store, "init",
                )
                .map_err(|e| {
                    CallError::Instantiate(format!("export `init` has the wrong type: {e:#}"))
                })?;
            self.arm(&mut store)?;
            match init.call(&mut store, (self.init_config.clone(),)) {
                Ok((Ok(()),)) => {}
                Ok((Err(msg),)) => {
                    return Err(CallError::Instantiate(format!(
                        "init refused the config: {msg}"
                    )));
                }
                Err(e) => return Err(classify(e, &self.engine)),
            }
        }
        Ok(Slot {
            store,
            bindings,
            calls: 0,
        })
    }

    /// Sets a fresh deadline and fuel budget before a call.
    fn arm(&self, store: &mut Store<StoreState>) -> Result<(), CallError> {
        store.set_epoch_deadline(self.engine.deadline_ticks());
        store.epoch_deadline_trap();
        if let Some(fuel) = self.engine.config().fuel {
            store
                .set_fuel(fuel)
                .map_err(|e| CallError::Instantiate(e.to_string()))?;
        }
        Ok(())
    }

    fn acquire(&self) -> Result<Slot, CallError> {
        let max = self.engine.config().instances_per_component;
        let mut pool = self
            .pool
            .lock()
            .map_err(|_| CallError::HostFault("instance pool poisoned".into()))?;
        loop {
            if let Some(slot) = pool.idle.pop() {
                return Ok(slot);
            }
            if pool.live < max {
                pool.live += 1;
                drop(pool);
                return self.instantiate().inspect_err(|_| {
                    if let Ok(mut p) = self.pool.lock() {
                        p.live = p.live.saturating_sub(1);
                    }
                    self.freed.notify_one();
                });
            }
            pool = self
                .freed
                .wait(pool)
                .map_err(|_| CallError::HostFault("instance pool poisoned".into()))?;
        }
    }

    fn release(&self, slot: Slot, discard: bool) {
        if let Ok(mut pool) = self.pool.lock() {
            if discard || slot.calls >= self.engine.config().recycle_after_calls {
                pool.live = pool.live.saturating_sub(1);
            } else {
                pool.idle.push(slot);
            }
        }
        self.freed.notify_one();
    }

    /// Instances currently alive (idle or in a call).
    pub fn live_instances(&self) -> u32 {
        self.pool.lock().map(|p| p.live).unwrap_or(0)
    }

    /// Runs `handle` for one interaction. Blocks: call it from a blocking thread.
    pub fn handle(
        &self,
        interaction: &Interaction,
        context: &ViewContext,
    ) -> Result<Decision, CallError> {
        self.handle_reporting(interaction, context).0
    }

    /// [`BpComponent::handle`], with what the call gave `report`, in order
    /// (also when the call then failed).
    pub fn handle_reporting(
        &self,
        interaction: &Interaction,
        context: &ViewContext,
    ) -> (Result<Decision, CallError>, Vec<Report>) {
        let mut slot = match self.acquire() {
            Ok(slot) => slot,
            Err(e) => return (Err(e), Vec::new()),
        };
        slot.store.data_mut().reports.clear();
        if let Err(e) = self.arm(&mut slot.store) {
            self.release(slot, true);
            return (Err(e), Vec::new());
        }
        slot.calls += 1;
        let result = slot
            .bindings
            .call_handle(&mut slot.store, interaction, context);
        let reports = std::mem::take(&mut slot.store.data_mut().reports);
        let result = match result {
            Ok(Ok(decision)) => {
                self.release(slot, false);
                Ok(decision)
            }
            Ok(Err(message)) => {
                self.release(slot, false);
                Err(CallError::Guest(message))
            }
            Err(e) => {
                // After a trap an instance refuses further calls: replace it.
                self.release(slot, true);
                Err(classify(e, &self.engine))
            }
        };
        (result, reports)
    }
}

fn classify(e: wasmtime::Error, engine: &WasmEngine) -> CallError {
    if let Some(fault) = e.downcast_ref::<HostFault>() {
        return CallError::HostFault(fault.to_string());
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => CallError::Timeout(engine.config().call_timeout.as_millis()),
        Some(Trap::OutOfFuel) => CallError::OutOfFuel,
        _ => {
            let text = format!("{e:#}");
            if text.contains("growing memory") || text.contains("memory minimum size") {
                CallError::MemoryLimit(format!(
                    "limit is {} MiB",
                    engine.config().memory_limit_bytes >> 20
                ))
            } else {
                CallError::Trap(text.lines().next().unwrap_or("trap").to_string())
            }
        }
    }
}

/// Links a component against the host functions and checks it implements
/// world `business-process`; answers the pre-instantiated component and
/// whether it exports `init`.
fn link(
    engine: &WasmEngine,
    component: &wasmtime::component::Component,
) -> Result<(BusinessProcessPre<StoreState>, bool), String> {
    let mut linker: Linker<StoreState> = Linker::new(engine.engine());
    BusinessProcess::add_to_linker::<StoreState, wasmtime::component::HasSelf<StoreState>>(
        &mut linker,
        |s| s,
    )
    .map_err(|e| format!("linking host functions: {e}"))?;
    super::compat::add_host_v0_1_0(&mut linker)
        .map_err(|e| format!("linking the host functions of ixn:bp@0.1.0: {e}"))?;
    // Rust's std makes components import WASI interfaces the BP logic never
    // calls; they trap if called instead of pulling in a WASI implementation.
    linker
        .define_unknown_imports_as_traps(component)
        .map_err(|e| format!("{e}"))?;
    let has_init = component.get_export_index(None, "init").is_some();
    let instance_pre = linker
        .instantiate_pre(component)
        .map_err(|e| format!("{e:#}"))?;
    let pre = BusinessProcessPre::new(instance_pre)
        .map_err(|e| format!("does not implement world ixn:bp/business-process: {e:#}"))?;
    Ok((pre, has_init))
}
