//! Loading a plugin `.so`.
//!
//! Before `dlopen` runs any of the file's code, its dynamic symbol table is
//! read (with `object`) to find exactly one `ixn_plugin_entry_*` symbol: a file
//! that is not an ixn plugin is refused without being loaded. After loading,
//! the entry's table is checked for ABI version, layout and contract.

use std::path::{Path, PathBuf};

use ixn_plugin_api::abi::{
    AbiMismatch, ENTRY_PREFIX, EntryFn, PluginKind, PluginTable, check_table,
};
use object::{Object, ObjectSymbol};

/// Why a plugin file was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("plugin {}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a shared library, or one without an ixn entry symbol.
    #[error("{}: not an ixn plugin: {reason}", path.display())]
    NotAPlugin {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// `dlopen` failed.
    #[error("plugin {}: cannot load: {source}", path.display())]
    Dlopen {
        /// The file.
        path: PathBuf,
        /// libloading's error.
        source: libloading::Error,
    },
    /// The ABI record does not match this host.
    #[error("plugin {}: refused: {mismatch}", path.display())]
    Abi {
        /// The file.
        path: PathBuf,
        /// What differs.
        mismatch: AbiMismatch,
    },
}

/// A loaded plugin library; keep it alive while any instance opened from it lives.
pub struct LoadedLibrary {
    table: &'static PluginTable,
    path: PathBuf,
    // Held, never used directly: dropping it would unload the code `table` points into.
    _library: libloading::Library,
}

impl LoadedLibrary {
    /// The checked table.
    pub fn table(&self) -> &'static PluginTable {
        self.table
    }

    /// The file it came from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Finds the one entry symbol of a shared library without loading it.
fn entry_symbol(path: &Path, bytes: &[u8]) -> Result<String, LoadError> {
    let not = |reason: String| LoadError::NotAPlugin {
        path: path.to_path_buf(),
        reason,
    };
    let file =
        object::File::parse(bytes).map_err(|e| not(format!("not a shared library ({e})")))?;
    let entries: Vec<String> = file
        .dynamic_symbols()
        .filter(|s| s.is_definition())
        .filter_map(|s| s.name().ok().map(str::to_string))
        .filter(|n| n.starts_with(ENTRY_PREFIX))
        .collect();
    match entries.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(not(format!("it exports no `{ENTRY_PREFIX}*` symbol"))),
        many => Err(not(format!(
            "it exports several entry symbols: {}",
            many.join(", ")
        ))),
    }
}

/// Loads and checks a plugin file of the given kind.
pub fn load(path: &Path, kind: PluginKind) -> Result<LoadedLibrary, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let symbol = entry_symbol(path, &bytes)?;
    drop(bytes);
    // SAFETY: the file is an ELF shared library exporting an ixn entry symbol;
    // loading runs its initialisers, which is what loading a plugin means.
    let library =
        unsafe { libloading::Library::new(path) }.map_err(|source| LoadError::Dlopen {
            path: path.to_path_buf(),
            source,
        })?;
    // SAFETY: every ixn entry symbol has the `EntryFn` signature (ABI version 1 and later).
    let entry = unsafe { library.get::<EntryFn>(symbol.as_bytes()) }.map_err(|source| {
        LoadError::Dlopen {
            path: path.to_path_buf(),
            source,
        }
    })?;
    // SAFETY: calling the entry only returns a pointer to static data.
    let raw = unsafe { entry() };
    // SAFETY: the pointer is null or points at a table that starts with the version field.
    let table = unsafe { check_table(raw, kind) }.map_err(|mismatch| LoadError::Abi {
        path: path.to_path_buf(),
        mismatch,
    })?;
    tracing::info!(path = %path.display(), plugin = %table.name(), "Plugin loaded.");
    Ok(LoadedLibrary {
        table,
        path: path.to_path_buf(),
        _library: library,
    })
}
