//! What a reload would change: the running config against a new one, one
//! [`Change`] per thing an operator names (`View `classify` changed:
//! condition, limit.`), and which of them cannot change without a restart.
//!
//! Pure: it compares two validated configs and reads nothing. A component
//! rebuilt at the same path is not seen here (the reload compares its bytes).

use std::collections::BTreeMap;
use std::fmt;

use super::{BusinessProcess, Config, EventLoggerConfig, Queue, StrategyConfig, View};

/// One difference between two configs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What changed: `[server]`, `View `classify``, …
    pub subject: String,
    /// How.
    pub kind: ChangeKind,
}

/// How a thing changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// New in the new config.
    Added,
    /// Gone from the new config.
    Removed,
    /// These settings differ; a reload applies them live.
    Changed(Vec<&'static str>),
    /// These settings differ and cannot change while the server runs.
    NeedsRestart(Vec<&'static str>),
}

impl Change {
    /// Whether applying it needs a restart.
    pub fn needs_restart(&self) -> bool {
        matches!(self.kind, ChangeKind::NeedsRestart(_))
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ChangeKind::Added => write!(f, "{} added.", self.subject),
            ChangeKind::Removed => write!(f, "{} removed.", self.subject),
            ChangeKind::Changed(fields) => {
                write!(f, "{} changed: {}.", self.subject, fields.join(", "))
            }
            ChangeKind::NeedsRestart(fields) => write!(
                f,
                "{} changed: {}; this needs a restart.",
                self.subject,
                fields.join(", ")
            ),
        }
    }
}

/// Every change from `old` to `new`, in config order.
pub fn diff(old: &Config, new: &Config) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut push = |subject: String, kind: ChangeKind| changes.push(Change { subject, kind });

    // What the process is bound to for its life: its identity and its data.
    let (a, b) = (&old.server, &new.server);
    let restart = fields([
        ("node-id", a.node_id != b.node_id),
        ("data-dir", a.data_dir != b.data_dir),
    ]);
    if !restart.is_empty() {
        push("[server]".into(), ChangeKind::NeedsRestart(restart));
    }
    let live = fields([
        ("listen", a.listen != b.listen),
        ("lease-timeout", a.lease_timeout != b.lease_timeout),
        (
            "recovery-interval",
            a.recovery_interval != b.recovery_interval,
        ),
        ("shutdown-timeout", a.shutdown_timeout != b.shutdown_timeout),
        (
            "header-read-timeout",
            a.header_read_timeout != b.header_read_timeout,
        ),
        (
            "body-read-timeout",
            a.body_read_timeout != b.body_read_timeout,
        ),
        ("max-connections", a.max_connections != b.max_connections),
        ("watch-files", a.watch_files != b.watch_files),
    ]);
    if !live.is_empty() {
        push("[server]".into(), ChangeKind::Changed(live));
    }

    let storage = fields([
        ("plugin", old.storage != new.storage),
        ("settings", old.storage_settings != new.storage_settings),
    ]);
    if !storage.is_empty() {
        push("[storage]".into(), ChangeKind::NeedsRestart(storage));
    }

    let (a, b) = (&old.wasm, &new.wasm);
    let wasm = fields([
        ("cache-dir", a.cache_dir != b.cache_dir),
        (
            "memory-limit-mb",
            a.memory_limit_bytes != b.memory_limit_bytes,
        ),
        ("call-timeout-ms", a.call_timeout != b.call_timeout),
        ("fuel", a.fuel != b.fuel),
        (
            "recycle-after-calls",
            a.recycle_after_calls != b.recycle_after_calls,
        ),
        (
            "instances-per-component",
            a.instances_per_component != b.instances_per_component,
        ),
    ]);
    if !wasm.is_empty() {
        push("[wasm]".into(), ChangeKind::Changed(wasm));
    }

    let by_key = |c: &Config| -> BTreeMap<String, _> {
        c.custom_fields
            .iter()
            .map(|f| (f.key.clone(), f.clone()))
            .collect()
    };
    keyed(
        &by_key(old),
        &by_key(new),
        "Custom field",
        &mut push,
        |a, b| {
            fields([
                ("column", a.column != b.column),
                ("type", a.field_type != b.field_type || a.length != b.length),
                ("to-delete", a.to_delete != b.to_delete),
            ])
        },
    );
    keyed(
        &old.lookup_tables,
        &new.lookup_tables,
        "Lookup table",
        &mut push,
        |a, b| fields([("entries", a != b)]),
    );
    keyed(
        &old.strategies,
        &new.strategies,
        "Strategy",
        &mut push,
        |a: &StrategyConfig, b| {
            fields([
                ("component", a.component != b.component),
                ("config", a.config != b.config),
                ("canary", a.canary != b.canary),
            ])
        },
    );

    let processes = |c: &Config| -> BTreeMap<String, BusinessProcess> {
        c.business_processes
            .iter()
            .map(|p| (p.name.clone(), p.clone()))
            .collect()
    };
    keyed(
        &processes(old),
        &processes(new),
        "Business process",
        &mut push,
        |a, b| {
            fields([
                ("entry-queue", a.entry_queue != b.entry_queue),
                ("error-queue", a.error_queue != b.error_queue),
            ])
        },
    );
    let queues = |c: &Config| -> BTreeMap<String, Queue> {
        c.queues().map(|q| (q.name.clone(), q.clone())).collect()
    };
    keyed(&queues(old), &queues(new), "Queue", &mut push, |a, b| {
        fields([
            ("business-process", a.business_process != b.business_process),
            ("replaces", a.replaces != b.replaces),
        ])
    });
    let views = |c: &Config| -> BTreeMap<String, View> {
        c.views().map(|v| (v.name.clone(), v.clone())).collect()
    };
    keyed(&views(old), &views(new), "View", &mut push, view_changes);

    let loggers = |c: &Config| -> BTreeMap<String, EventLoggerConfig> {
        c.event_loggers
            .iter()
            .map(|l| (l.name.clone(), l.clone()))
            .collect()
    };
    keyed(
        &loggers(old),
        &loggers(new),
        "Event logger",
        &mut push,
        logger_changes,
    );
    changes
}

/// What differs between two definitions of a view; empty when its pullers
/// can go on as they are.
pub fn view_changes(a: &View, b: &View) -> Vec<&'static str> {
    fields([
        ("queue", a.queue != b.queue),
        ("business-process", a.business_process != b.business_process),
        ("strategy", a.strategy != b.strategy),
        ("condition", a.condition_text != b.condition_text),
        ("order", a.order != b.order),
        ("check-interval", a.check_interval != b.check_interval),
        ("limit", a.limit != b.limit),
        ("concurrency", a.concurrency != b.concurrency),
        ("enabled", a.enabled != b.enabled),
    ])
}

/// What differs between two definitions of an event logger; empty when it
/// can go on as it is.
pub fn logger_changes(a: &EventLoggerConfig, b: &EventLoggerConfig) -> Vec<&'static str> {
    fields([
        ("sink", a.sink != b.sink),
        ("sink-settings", a.sink_settings != b.sink_settings),
        ("batch-size", a.batch_size != b.batch_size),
        ("max-queue-size", a.max_queue_size != b.max_queue_size),
        ("storing-timeout", a.storing_timeout != b.storing_timeout),
        (
            "reconnect-timeout",
            a.reconnect_timeout != b.reconnect_timeout,
        ),
        ("event-filtering", a.filter != b.filter),
        ("itx-custom-data", a.itx_custom_keys != b.itx_custom_keys),
    ])
}

/// The names whose flag is set, in order.
fn fields<const N: usize>(checks: [(&'static str, bool); N]) -> Vec<&'static str> {
    checks
        .into_iter()
        .filter(|(_, differs)| *differs)
        .map(|(name, _)| name)
        .collect()
}

/// Added, removed and changed entries of two maps by name.
fn keyed<T>(
    old: &BTreeMap<String, T>,
    new: &BTreeMap<String, T>,
    what: &str,
    push: &mut impl FnMut(String, ChangeKind),
    differs: impl Fn(&T, &T) -> Vec<&'static str>,
) {
    for (name, a) in old {
        match new.get(name) {
            None => push(format!("{what} `{name}`"), ChangeKind::Removed),
            Some(b) => {
                let changed = differs(a, b);
                if !changed.is_empty() {
                    push(format!("{what} `{name}`"), ChangeKind::Changed(changed));
                }
            }
        }
    }
    for name in new.keys().filter(|n| !old.contains_key(*n)) {
        push(format!("{what} `{name}`"), ChangeKind::Added);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use std::path::Path;

    use super::*;

    const BASE: &str = r#"
[server]
node-id = "a"
[storage]
plugin = "sqlite"
[storage.settings]
path = "x.db"
[custom-fields]
Category = { column = "category", type = "string(32)" }
[lookup-table.langs]
en = "English"
[strategy.s]
component = "s.wasm"
[[business-process]]
name = "bp"
entry-queue = "bp.In"
error-queue = "bp.Error"
  [[business-process.queue]]
  name = "bp.In"
    [[business-process.queue.view]]
    name = "work"
    strategy = "s"
    condition = "priority > 1"
    limit = 10
  [[business-process.queue]]
  name = "bp.Error"
[[event-logger]]
name = "file"
  [event-logger.logger-settings]
  delivery-protocol = "jsonl"
  [event-logger.sink-settings]
  path = "e.jsonl"
"#;

    fn lines(new_text: &str) -> Vec<String> {
        let old = Config::parse(Path::new("/c/ixn.toml"), BASE).unwrap();
        let new = Config::parse(Path::new("/c/ixn.toml"), new_text).unwrap();
        diff(&old, &new).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_same_config_changes_nothing() {
        assert!(lines(BASE).is_empty());
    }

    #[test]
    fn each_kind_of_change_is_one_line() {
        let new = BASE
            .replace("node-id = \"a\"", "node-id = \"b\"\nlease-timeout = 120")
            .replace("path = \"x.db\"", "path = \"y.db\"")
            .replace("en = \"English\"", "en = \"English\"\nfr = \"French\"")
            .replace("condition = \"priority > 1\"", "condition = \"priority > 2\"")
            .replace("limit = 10", "limit = 20\n    enabled = false")
            .replace("path = \"e.jsonl\"", "path = \"f.jsonl\"")
            .replace(
                "  [[business-process.queue]]\n  name = \"bp.Error\"",
                "  [[business-process.queue]]\n  name = \"bp.Error\"\n  [[business-process.queue]]\n  name = \"bp.Later\"",
            );
        assert_eq!(
            lines(&new),
            [
                "[server] changed: node-id; this needs a restart.",
                "[server] changed: lease-timeout.",
                "[storage] changed: settings; this needs a restart.",
                "Lookup table `langs` changed: entries.",
                "Queue `bp.Later` added.",
                "View `work` changed: condition, limit, enabled.",
                "Event logger `file` changed: sink-settings.",
            ]
        );
    }

    #[test]
    fn removals_are_named() {
        let new = BASE
            .replace("[lookup-table.langs]\nen = \"English\"\n", "")
            .replace(
                "Category = { column = \"category\", type = \"string(32)\" }",
                "Category = { column = \"category\", type = \"string(64)\" }",
            );
        assert_eq!(
            lines(&new),
            [
                "Custom field `Category` changed: type.",
                "Lookup table `langs` removed.",
            ]
        );
    }
}
