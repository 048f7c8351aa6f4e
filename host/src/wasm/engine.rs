//! The wasmtime engine: pooling allocator, epoch ticker, on-disk cache of
//! compiled components.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::config::WasmConfig;

/// How often the epoch advances; call deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Instances the pooling allocator reserves slots for, across all components.
const POOL_INSTANCES: u32 = 512;

/// Why a component could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine could not be built.
    #[error("WASM engine: {0}")]
    Engine(String),
    /// The component file could not be read.
    #[error("component {}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid component.
    #[error("component {}: {message}", path.display())]
    Compile {
        /// The file.
        path: PathBuf,
        /// wasmtime's error.
        message: String,
    },
}

/// Reads a component file and refuses, in one line, what is not a component:
/// a missing file, a file that is not WebAssembly, a core module.
fn read_component_file(path: &Path) -> Result<Vec<u8>, EngineError> {
    let bytes = std::fs::read(path).map_err(|source| EngineError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let refuse = |message: &str| EngineError::Compile {
        path: path.to_path_buf(),
        message: message.to_string(),
    };
    // The preamble: `\0asm`, then a 16-bit version and a 16-bit layer, which is
    // 0 for a core module and 1 for a component.
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', _, _, 1, 0]) => Ok(bytes),
        Some([0, b'a', b's', b'm', _, _, 0, 0]) => Err(refuse(
            "is a core WebAssembly module, not a component (build a cdylib for wasm32-wasip2, \
             or wrap the module with `wasm-tools component new`)",
        )),
        _ => Err(refuse("is not a WebAssembly component")),
    }
}

/// The version of the component in `path`: SHA-256 of its bytes, hex, as
/// [`Compiled::version`] would say. Refuses what is not a component.
pub fn file_version(path: &Path) -> Result<String, EngineError> {
    read_component_file(path).map(|bytes| crate::digest::sha256_hex(&bytes))
}

/// A compiled component and the version it was compiled from.
pub struct Compiled {
    /// Ready to link.
    pub component: Component,
    /// SHA-256 of the file's bytes, hex: the version decisions are stamped with.
    pub version: String,
}

/// The shared engine and its epoch ticker.
pub struct WasmEngine {
    engine: Engine,
    config: WasmConfig,
    stop: Arc<AtomicBool>,
}

impl WasmEngine {
    /// Builds an engine for these limits and starts its epoch ticker.
    pub fn new(config: &WasmConfig) -> Result<Arc<Self>, EngineError> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(POOL_INSTANCES)
            .total_core_instances(POOL_INSTANCES * 2)
            .total_memories(POOL_INSTANCES)
            .total_tables(POOL_INSTANCES * 2)
            .max_memory_size(config.memory_limit_bytes as usize);
        let mut c = wasmtime::Config::new();
        c.wasm_component_model(true)
            .epoch_interruption(true)
            .consume_fuel(config.fuel.is_some())
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&c).map_err(|e| EngineError::Engine(e.to_string()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (ticker, flag) = (engine.weak(), stop.clone());
        std::thread::Builder::new()
            .name("ixn-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match ticker.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => return,
                    }
                }
            })
            .map_err(|e| EngineError::Engine(format!("cannot start the epoch thread: {e}")))?;
        Ok(Arc::new(WasmEngine {
            engine,
            config: config.clone(),
            stop,
        }))
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The limits it was built with.
    pub fn config(&self) -> &WasmConfig {
        &self.config
    }

    /// Epoch ticks of one call's budget.
    pub fn deadline_ticks(&self) -> u64 {
        (self.config.call_timeout.as_micros() / EPOCH_TICK.as_micros()).max(1) as u64 + 1
    }

    /// Compiles a component, or loads it from the cache when this engine
    /// compiled the same bytes before. The key covers the wasmtime version,
    /// the engine's settings and the bytes, so a stale entry is never used.
    pub fn load_component(&self, path: &Path) -> Result<Compiled, EngineError> {
        self.component(path, true)
    }

    /// [`WasmEngine::load_component`] that writes nothing: what `check-config`
    /// uses, before anything exists on disk.
    pub fn check_component(&self, path: &Path) -> Result<Compiled, EngineError> {
        self.component(path, false)
    }

    fn component(&self, path: &Path, write_cache: bool) -> Result<Compiled, EngineError> {
        let bytes = read_component_file(path)?;
        let version = crate::digest::sha256_hex(&bytes);
        let key = self.cache_key(&bytes);
        let cached = self.config.cache_dir.join(format!("{key}.cwasm"));
        if cached.is_file() {
            // SAFETY: the cache directory holds only files this host serialised with an
            // engine of the same version and settings (both are in the file name).
            match unsafe { Component::deserialize_file(&self.engine, &cached) } {
                Ok(c) => {
                    tracing::debug!(component = %path.display(), "Component loaded from the compilation cache.");
                    return Ok(Compiled {
                        component: c,
                        version,
                    });
                }
                Err(e) => {
                    tracing::warn!(cache = %cached.display(), error = %e, "Unusable cache entry; compiling again.")
                }
            }
        }
        let component = Component::new(&self.engine, &bytes).map_err(|e| EngineError::Compile {
            path: path.to_path_buf(),
            message: format!("{e:#}"),
        })?;
        if write_cache && let Err(e) = self.store_cache(&cached, &component) {
            tracing::warn!(cache = %cached.display(), error = %e, "Cannot write the compilation cache; going on without it.");
        }
        Ok(Compiled { component, version })
    }

    fn store_cache(&self, cached: &Path, component: &Component) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.config.cache_dir)?;
        let serialized = component.serialize().map_err(|e| anyhow::anyhow!("{e}"))?;
        let tmp = cached.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, serialized)?;
        std::fs::rename(&tmp, cached)?;
        Ok(())
    }

    fn cache_key(&self, bytes: &[u8]) -> String {
        struct ShaHasher(Sha256);
        impl Hasher for ShaHasher {
            fn finish(&self) -> u64 {
                0
            }
            fn write(&mut self, bytes: &[u8]) {
                self.0.update(bytes);
            }
        }
        let mut h = ShaHasher(Sha256::new());
        h.0.update(concat!("ixn-", env!("CARGO_PKG_VERSION"), ";wasmtime-48.0.8;").as_bytes());
        self.engine.precompile_compatibility_hash().hash(&mut h);
        h.0.update(bytes);
        let digest = h.0.finalize();
        digest.iter().take(20).map(|b| format!("{b:02x}")).collect()
    }
}

impl Drop for WasmEngine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
