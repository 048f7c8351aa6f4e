//! Native plugins: built-ins linked into the binary, and `.so` files loaded
//! with libloading after their ABI record is checked.

pub mod loader;

use std::collections::BTreeMap;
use std::sync::Arc;

use ixn_plugin_api::abi::{PluginKind, PluginTable};
use ixn_plugin_api::sink::SinkClient;
use ixn_plugin_api::storage::{OpenSettings, StorageClient};

use crate::config::PluginRef;
pub use loader::{LoadError, LoadedLibrary};

/// Why a plugin could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// Loading the file failed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// No built-in of that name and kind.
    #[error("no built-in {kind} plugin named `{name}` (built-in: {known})")]
    UnknownBuiltin {
        /// storage or sink.
        kind: &'static str,
        /// The name asked for.
        name: String,
        /// The names there are.
        known: String,
    },
    /// The plugin's `validate` failed (it panicked or answered an error).
    #[error("{plugin}: validate failed: {message}")]
    Validate {
        /// Which plugin.
        plugin: String,
        /// Its error.
        message: String,
    },
    /// The plugin's `open` failed.
    #[error("{plugin}: open failed: {message}")]
    Open {
        /// Which plugin.
        plugin: String,
        /// Its error.
        message: String,
    },
}

/// Plugins linked into this binary, by kind and name.
#[derive(Default, Clone)]
pub struct Registry {
    builtins: BTreeMap<(u32, String), &'static PluginTable>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a built-in table (already of this binary's ABI). Two with one
    /// name and kind are a programming error.
    pub fn register(&mut self, table: &'static PluginTable) {
        let key = (table.kind, table.name());
        assert!(
            !self.builtins.contains_key(&key),
            "built-in plugin `{}` registered twice",
            key.1
        );
        self.builtins.insert(key, table);
    }

    fn table(
        &self,
        kind: PluginKind,
        r: &PluginRef,
    ) -> Result<(&'static PluginTable, Option<Arc<LoadedLibrary>>), PluginError> {
        match r {
            PluginRef::Builtin(name) => match self.builtins.get(&(kind as u32, name.clone())) {
                Some(t) => Ok((t, None)),
                None => Err(PluginError::UnknownBuiltin {
                    kind: if kind == PluginKind::Storage {
                        "storage"
                    } else {
                        "sink"
                    },
                    name: name.clone(),
                    known: self
                        .builtins
                        .keys()
                        .filter(|(k, _)| *k == kind as u32)
                        .map(|(_, n)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            },
            PluginRef::Library(path) => {
                let lib = Arc::new(loader::load(path, kind)?);
                Ok((lib.table(), Some(lib)))
            }
        }
    }

    /// Checks that a plugin exists with this host's ABI and contract, without
    /// opening it: a built-in by name, a file by loading it (its symbols are
    /// read before `dlopen`, see [`loader::load`]).
    pub fn check(&self, kind: PluginKind, r: &PluginRef) -> Result<(), PluginError> {
        self.table(kind, r).map(|_| ())
    }

    /// Asks a storage plugin what is wrong with `settings`, opening nothing:
    /// every problem as `(key, message)`; empty when `open` would take them.
    pub fn validate_storage(
        &self,
        r: &PluginRef,
        settings: &OpenSettings,
    ) -> Result<Vec<(String, String)>, PluginError> {
        // `_lib` keeps a loaded file mapped for the call.
        let (table, _lib) = self.table(PluginKind::Storage, r)?;
        ixn_plugin_api::storage::validate(table, settings)
            .map(|problems| problems.into_iter().map(|p| (p.key, p.message)).collect())
            .map_err(|e| PluginError::Validate {
                plugin: r.to_string(),
                message: e.message,
            })
    }

    /// Asks a sink plugin what is wrong with `settings`; see
    /// [`Registry::validate_storage`].
    pub fn validate_sink(
        &self,
        r: &PluginRef,
        settings: &str,
    ) -> Result<Vec<(String, String)>, PluginError> {
        let (table, _lib) = self.table(PluginKind::Sink, r)?;
        ixn_plugin_api::sink::validate(table, settings)
            .map(|problems| problems.into_iter().map(|p| (p.key, p.message)).collect())
            .map_err(|e| PluginError::Validate {
                plugin: r.to_string(),
                message: e.message,
            })
    }

    /// Opens a storage plugin.
    pub fn open_storage(
        &self,
        r: &PluginRef,
        settings: &OpenSettings,
    ) -> Result<StorageClient, PluginError> {
        self.open_storage_versioned(r, settings)
            .map(|(storage, _)| storage)
    }

    /// Opens a storage plugin; also answers the version (SHA-256) of the
    /// file it was loaded from, `None` for a built-in.
    pub fn open_storage_versioned(
        &self,
        r: &PluginRef,
        settings: &OpenSettings,
    ) -> Result<(StorageClient, Option<String>), PluginError> {
        let (table, lib) = self.table(PluginKind::Storage, r)?;
        let version = lib.as_ref().map(|l| l.version().to_string());
        let storage = StorageClient::open(
            table,
            settings,
            lib.map(|l| l as Arc<dyn std::any::Any + Send + Sync>),
        )
        .map_err(|e| PluginError::Open {
            plugin: r.to_string(),
            message: e.to_string(),
        })?;
        Ok((storage, version))
    }

    /// Opens a sink plugin.
    pub fn open_sink(&self, r: &PluginRef, settings: &str) -> Result<SinkClient, PluginError> {
        self.open_sink_versioned(r, settings).map(|(sink, _)| sink)
    }

    /// Opens a sink plugin; also answers the version (SHA-256) of the file
    /// it was loaded from, `None` for a built-in.
    pub fn open_sink_versioned(
        &self,
        r: &PluginRef,
        settings: &str,
    ) -> Result<(SinkClient, Option<String>), PluginError> {
        let (table, lib) = self.table(PluginKind::Sink, r)?;
        let version = lib.as_ref().map(|l| l.version().to_string());
        let sink = SinkClient::open(
            table,
            settings,
            lib.map(|l| l as Arc<dyn std::any::Any + Send + Sync>),
        )
        .map_err(|e| PluginError::Open {
            plugin: r.to_string(),
            message: e.to_string(),
        })?;
        Ok((sink, version))
    }
}
