//! Loading a plugin `.so`.
//!
//! Before `dlopen` runs any of the file's code, its dynamic symbol table is
//! read (with `object`) to find exactly one `ixn_plugin_entry_*` symbol: a file
//! that is not an ixn plugin is refused without being loaded. After loading,
//! the entry's table is checked for ABI version, layout and contract.
//!
//! What is loaded is a content-addressed copy of the bytes that were checked
//! (`<temp>/ixn-plugins/<sha256>.so`), not the file itself: `dlopen` answers
//! the library it already has for a path, so a plugin rebuilt at the same
//! path would otherwise never be loaded again, and a file rewritten between
//! the check and the load would run unchecked code. Each version stays mapped
//! while anything opened from it lives (instances hold an `Arc` of it); none
//! is unloaded under a running call.

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
    /// The content-addressed copy could not be written.
    #[error("plugin {}: cannot copy it to {}: {source}", path.display(), copy.display())]
    Copy {
        /// The file.
        path: PathBuf,
        /// Where the copy goes.
        copy: PathBuf,
        /// Why.
        source: std::io::Error,
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
    version: String,
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

    /// The SHA-256 of the bytes loaded.
    pub fn version(&self) -> &str {
        &self.version
    }
}

/// The SHA-256 of a plugin file as it is now: what [`LoadedLibrary::version`]
/// would be if it were loaded again.
pub fn file_version(path: &Path) -> Result<String, LoadError> {
    std::fs::read(path)
        .map(|bytes| crate::digest::sha256_hex(&bytes))
        .map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })
}

/// Where the copy of a version is loaded from.
fn copy_dir() -> PathBuf {
    std::env::temp_dir().join("ixn-plugins")
}

/// Writes `bytes` (whose SHA-256 is `version`) to their content-addressed
/// path unless a file with exactly these bytes is already there; answers the path.
fn content_addressed_copy(path: &Path, bytes: &[u8], version: &str) -> Result<PathBuf, LoadError> {
    let dir = copy_dir();
    let copy = dir.join(format!("{version}.so"));
    let failed = |source| LoadError::Copy {
        path: path.to_path_buf(),
        copy: copy.clone(),
        source,
    };
    // Another process (or user) may have put it there: trust it only if its bytes hash to its name.
    if std::fs::read(&copy).is_ok_and(|there| crate::digest::sha256_hex(&there) == version) {
        return Ok(copy);
    }
    std::fs::create_dir_all(&dir).map_err(failed)?;
    // Written aside and renamed: a copy is never seen half-written.
    let partial = dir.join(format!("{version}.so.{}.partial", std::process::id()));
    std::fs::write(&partial, bytes).map_err(failed)?;
    std::fs::rename(&partial, &copy).map_err(failed)?;
    Ok(copy)
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
    let version = crate::digest::sha256_hex(&bytes);
    let copy = content_addressed_copy(path, &bytes, &version)?;
    drop(bytes);
    // SAFETY: the copy holds the bytes just checked: an ELF shared library
    // exporting an ixn entry symbol; loading runs its initialisers, which is
    // what loading a plugin means.
    let library =
        unsafe { libloading::Library::new(&copy) }.map_err(|source| LoadError::Dlopen {
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
    tracing::info!(path = %path.display(), plugin = %table.name(), version = %version, "Plugin loaded.");
    Ok(LoadedLibrary {
        table,
        path: path.to_path_buf(),
        version,
        _library: library,
    })
}
