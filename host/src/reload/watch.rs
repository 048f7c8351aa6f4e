//! Watching the config file and every file it names (components, plugin
//! libraries), so that saving one reloads.
//!
//! Directories are watched, not files: an editor that writes a temporary
//! file and renames it over the old one, and a Kubernetes ConfigMap that
//! swaps a `..data` symlink, both replace the inode a file watch would hold.
//! An event counts when it names a watched file or one of the `..`-entries
//! a ConfigMap swaps; events are debounced, so one save is one reload, and
//! the reload itself finds out whether anything changed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::ReloadRequest;
use crate::config::{Config, PluginRef};

/// Quiet time after the last event before the reload: a save is several events.
pub(super) const DEBOUNCE: Duration = Duration::from_millis(50);
/// The longest a stream of events delays a reload.
const MAX_DELAY: Duration = Duration::from_secs(1);

/// The files a reload reads: the config and what it names.
pub fn files_of(config: &Config) -> Vec<PathBuf> {
    let mut files = vec![config.source.clone()];
    for s in config.strategies.values() {
        files.extend(
            super::components::arms(s)
                .into_iter()
                .map(|(_, a)| a.component),
        );
    }
    let plugins =
        std::iter::once(&config.storage).chain(config.event_loggers.iter().map(|l| &l.sink));
    files.extend(plugins.filter_map(|p| match p {
        PluginRef::Library(path) => Some(path.clone()),
        PluginRef::Builtin(_) => None,
    }));
    files
}

/// The trigger of the reloads a watch asks for.
pub(super) const TRIGGER: &str = "file change";

/// The files to watch: [`files_of`], or none where `watch-files = false`
/// (the watch keeps running, so a reload can turn it back on).
pub fn watched(config: &Config) -> Vec<PathBuf> {
    if config.server.watch_files {
        files_of(config)
    } else {
        Vec::new()
    }
}

/// A running watch; dropping it stops watching.
pub struct Watcher {
    inner: notify::RecommendedWatcher,
    dirs: BTreeSet<PathBuf>,
    wanted: Arc<Mutex<Wanted>>,
}

#[derive(Default)]
struct Wanted {
    files: BTreeSet<PathBuf>,
    dirs: BTreeSet<PathBuf>,
}

impl Wanted {
    fn matches(&self, path: &Path) -> bool {
        if self.files.contains(path) {
            return true;
        }
        let swapped = path
            .file_name()
            .is_some_and(|n| n.as_encoded_bytes().starts_with(b".."));
        swapped && path.parent().is_some_and(|d| self.dirs.contains(d))
    }
}

impl Watcher {
    /// Watches `files` and asks for a reload on `requests` after each burst of changes.
    pub fn start(
        files: &[PathBuf],
        reloads: &super::ReloadHandle,
        stop: CancellationToken,
    ) -> notify::Result<Watcher> {
        let requests = reloads.tx.clone();
        let wanted = Arc::new(Mutex::new(Wanted::default()));
        let (tx, rx) = mpsc::unbounded_channel();
        let w = wanted.clone();
        let inner =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
                Ok(event) => {
                    let relevant = w
                        .lock()
                        .is_ok_and(|w| event.paths.iter().any(|p| w.matches(p)));
                    if relevant {
                        let _ = tx.send(());
                    }
                }
                Err(e) => tracing::warn!(error = %e, "Watching the config files failed."),
            })?;
        tokio::spawn(debounce(rx, requests, stop));
        let mut watcher = Watcher {
            inner,
            dirs: BTreeSet::new(),
            wanted,
        };
        watcher.watch(files);
        Ok(watcher)
    }

    /// Watches these files from now on (and stops watching directories no
    /// file is in any more).
    pub fn watch(&mut self, files: &[PathBuf]) {
        let mut wanted = Wanted::default();
        for f in files {
            let f = std::path::absolute(f).unwrap_or_else(|_| f.clone());
            // A symlinked file changes where it points to as well.
            let real = std::fs::canonicalize(&f).ok();
            for f in std::iter::once(f).chain(real) {
                if let Some(dir) = f.parent() {
                    wanted.dirs.insert(dir.to_path_buf());
                }
                wanted.files.insert(f);
            }
        }
        for gone in self.dirs.difference(&wanted.dirs) {
            let _ = self.inner.unwatch(gone);
        }
        for dir in wanted.dirs.difference(&self.dirs) {
            if let Err(e) = self.inner.watch(dir, RecursiveMode::NonRecursive) {
                tracing::warn!(dir = %dir.display(), error = %e, "Cannot watch a config directory; reload with SIGHUP or POST /v1/admin/reload.");
            }
        }
        self.dirs = wanted.dirs.clone();
        if let Ok(mut w) = self.wanted.lock() {
            *w = wanted;
        }
    }
}

async fn debounce(
    mut events: mpsc::UnboundedReceiver<()>,
    requests: mpsc::Sender<ReloadRequest>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            e = events.recv() => if e.is_none() { return },
            _ = stop.cancelled() => return,
        }
        let latest = tokio::time::Instant::now() + MAX_DELAY;
        loop {
            match tokio::time::timeout(DEBOUNCE, events.recv()).await {
                Ok(Some(())) if tokio::time::Instant::now() < latest => continue,
                Ok(Some(())) | Err(_) => break,
                Ok(None) => return,
            }
        }
        let request = ReloadRequest {
            trigger: TRIGGER.to_string(),
            reply: None,
        };
        if requests.send(request).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_files_of_a_config_include_every_component_it_runs() {
        let text = r#"
[server]
[storage]
plugin = "sqlite"
[storage.settings]
path = "x.db"
[strategy.s]
component = "s.wasm"
canary = { component = "s-next.wasm", percent = 5 }
[[business-process]]
name = "bp"
entry-queue = "bp.In"
error-queue = "bp.Error"
  [[business-process.queue]]
  name = "bp.In"
    [[business-process.queue.view]]
    name = "work"
    strategy = "s"
  [[business-process.queue]]
  name = "bp.Error"
"#;
        let config = Config::parse(Path::new("/c/ixn.toml"), text).expect("a valid config");
        assert_eq!(
            files_of(&config),
            [
                PathBuf::from("/c/ixn.toml"),
                PathBuf::from("/c/s.wasm"),
                PathBuf::from("/c/s-next.wasm"),
            ]
        );
    }
}
