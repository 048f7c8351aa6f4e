//! Invalid configurations: each `tests/ui/invalid/<case>.toml` must be refused
//! with exactly the text in `<case>.err` (file:line:column and reason).
//! `IXN_BLESS=1` rewrites the `.err` files from the current output; review the diff.

use std::path::Path;

use ixn::config::Config;
use ixn_tests::repo_root;

#[test]
fn invalid_configs_report_file_line_and_reason() {
    let dir = repo_root().join("tests/ui/invalid");
    let bless = std::env::var_os("IXN_BLESS").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/ui/invalid exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 10,
        "expected the golden cases in {}",
        dir.display()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let name = case
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 file name");
        let text = std::fs::read_to_string(case).expect("readable case");
        // Parse as if the file were named by its bare name, so the golden text has no machine paths.
        let error = match Config::parse(Path::new(name), &text) {
            Ok(_) => {
                failures.push(format!("{name}: accepted, but it is invalid"));
                continue;
            }
            Err(e) => e.to_string(),
        };
        let golden = case.with_extension("err");
        if bless {
            std::fs::write(&golden, format!("{error}\n")).expect("write golden");
            continue;
        }
        let expected = std::fs::read_to_string(&golden)
            .unwrap_or_else(|_| format!("<missing {}>", golden.display()));
        if expected.trim_end() != error.trim_end() {
            failures.push(format!(
                "{name}:\n--- expected\n{}\n--- got\n{error}",
                expected.trim_end()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_sample_config_is_valid() {
    let config =
        Config::load(&repo_root().join("config/ixn.toml")).expect("config/ixn.toml is valid");
    assert_eq!(config.business_processes.len(), 1);
    assert!(
        config
            .views()
            .all(|v| config.strategies.contains_key(&v.strategy))
    );
}

#[test]
fn a_queue_name_with_a_comma_is_refused_with_its_position() {
    let text = std::fs::read_to_string(repo_root().join("tests/ui/invalid/queue_name_comma.toml"))
        .expect("case");
    let err = Config::parse(Path::new("x.toml"), &text).expect_err("comma in a queue name");
    let p = err
        .problems()
        .iter()
        .find(|p| p.message.contains("`,`"))
        .expect("a problem about the comma");
    // The queue's `name = "Inbound,EMEA"` line.
    let line = text
        .lines()
        .position(|l| l.trim_start().starts_with("name = \"Inbound,EMEA\""))
        .expect("line")
        + 1;
    assert_eq!(p.line, line);
}

/// Issue 6: `check-config` said OK for a strategy whose component is missing,
/// not WebAssembly, a core module or a component of another world, and for
/// a storage or sink plugin that does not exist or is not a plugin; `serve`
/// then failed after creating the data directory and databases, with errors
/// that repeated `(os error 2)` or dumped lines of bytes. Both now refuse the
/// config first, one clear line per problem, and `serve` creates nothing.
#[test]
fn what_the_config_names_is_checked_before_anything_is_created() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    std::fs::write(d.join("notes.wasm"), "this is not WebAssembly\n".repeat(40)).expect("write");
    // The smallest core module, and the smallest component (no exports at all).
    std::fs::write(d.join("core.wasm"), b"\0asm\x01\0\0\0").expect("write");
    std::fs::write(d.join("empty-component.wasm"), b"\0asm\x0d\0\x01\0").expect("write");
    std::fs::write(d.join("libnot-a-plugin.so"), b"not an ELF file").expect("write");
    let config = format!(
        r#"
[server]
data-dir = "data"

[storage]
plugin = "oracle"
[storage.settings]
path = "x.db"

[strategy.missing]
component = "nowhere.wasm"
[strategy.text]
component = "notes.wasm"
[strategy.core]
component = "core.wasm"
[strategy.other-world]
component = "empty-component.wasm"
[strategy.good]
component = "{router}"

[[business-process]]
name = "bp"
entry-queue = "bp.In"
error-queue = "bp.Error"
  [[business-process.queue]]
  name = "bp.In"
  [[business-process.queue]]
  name = "bp.Error"

[[event-logger]]
name = "broken"
  [event-logger.logger-settings]
  plugin = "libnot-a-plugin.so"
"#,
        router = ixn_bp_artifacts::ROUTER
    );
    let path = d.join("ixn.toml");
    std::fs::write(&path, config).expect("write config");
    let ixn = ixn_tests::profile_dir().join("ixn");
    let run = |command: &str| {
        std::process::Command::new(&ixn)
            .args([command, "--config"])
            .arg(&path)
            .output()
            .expect("run ixn")
    };

    let out = run("check-config");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let expected: [&[&str]; 6] = [
        &[
            "[storage] plugin",
            "no built-in storage plugin named `oracle`",
            "sqlite",
        ],
        &["event logger `broken`", "not an ixn plugin"],
        &[
            "strategy `core`",
            "core WebAssembly module, not a component",
        ],
        &["strategy `missing`", "nowhere.wasm", "cannot read"],
        &[
            "strategy `other-world`",
            "does not implement world ixn:bp/business-process",
        ],
        &["strategy `text`", "is not a WebAssembly component"],
    ];
    let problems: Vec<&str> = stderr.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(
        problems.len(),
        expected.len(),
        "one line per problem:\n{stderr}"
    );
    for (line, needles) in problems.iter().zip(expected) {
        for needle in needles {
            assert!(
                line.contains(needle),
                "`{needle}` not in `{line}`\n{stderr}"
            );
        }
    }
    assert!(!stderr.contains("strategy `good`"), "{stderr}");

    let out = run("serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("strategy `core`"), "{stderr}");
    assert!(
        !d.join("data").exists(),
        "serve created its data directory:\n{stderr}"
    );
}

/// Issue 7 §0: `check-config` and the plugins disagreed. The host's own
/// custom-data check accepted `field;string;0` and a fourth part that the sql
/// sink refuses at open; a `jsonl` logger refused `itx-custom-data` only at
/// start; an unknown storage setting passed too. Each plugin now judges its
/// own settings through `validate`, before anything is opened, and every
/// problem is named with its setting and where it was written, all at once.
#[test]
fn plugin_settings_are_judged_by_the_plugin_before_anything_is_opened() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let config = format!(
        r#"
[server]
data-dir = "data"

[storage]
plugin = "sqlite"
[storage.settings]
path = "${{data-dir}}/ixn.db"
jurnal = "wal"
max-connections = "0"

[strategy.good]
component = "{router}"

[[business-process]]
name = "bp"
entry-queue = "bp.In"
error-queue = "bp.Error"
  [[business-process.queue]]
  name = "bp.In"
  [[business-process.queue]]
  name = "bp.Error"

[[event-logger]]
name = "reporting"
  [event-logger.logger-settings]
  delivery-protocol = "event-log"
  [event-logger.sink-settings]
  path = "${{data-dir}}/reporting.db"
  [event-logger.itx-custom-data]
  Segment = "segment;string;0"
  Region = "region;string;32;extra"

[[event-logger]]
name = "file"
  [event-logger.logger-settings]
  delivery-protocol = "jsonl"
  [event-logger.sink-settings]
  path = "${{data-dir}}/events.jsonl"
  [event-logger.itx-custom-data]
  Segment = "segment;string;32"
"#,
        router = ixn_bp_artifacts::ROUTER
    );
    let path = d.join("ixn.toml");
    std::fs::write(&path, config).expect("write config");
    let out = check_config(&path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let expected: [&[&str]; 5] = [
        &["[storage.settings] `jurnal`", "unknown field `jurnal`"],
        &["[storage.settings] `max-connections`", "expected u32"],
        &[
            "event logger `reporting`",
            "`itx-custom-data.Region`",
            "field;type;length",
        ],
        &[
            "event logger `reporting`",
            "`itx-custom-data.Segment`",
            "positive number",
        ],
        &[
            "event logger `file`",
            "setting `itx-custom-data`",
            "unknown field `itx-custom-data`",
        ],
    ];
    let problems: Vec<&str> = stderr.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(
        problems.len(),
        expected.len(),
        "one line per problem:\n{stderr}"
    );
    for needles in expected {
        assert!(
            problems
                .iter()
                .any(|line| needles.iter().all(|n| line.contains(n))),
            "no line with all of {needles:?}\n{stderr}"
        );
    }
    // Each at the line that wrote the setting.
    let text = std::fs::read_to_string(&path).expect("read config");
    for (key, written) in [
        ("`jurnal`", "jurnal ="),
        ("`max-connections`", "max-connections ="),
        ("`itx-custom-data.Region`", "Region ="),
    ] {
        let line = text
            .lines()
            .position(|l| l.contains(written))
            .expect("written")
            + 1;
        let at = format!("ixn.toml:{line}:");
        assert!(
            problems.iter().any(|l| l.contains(key) && l.contains(&at)),
            "{key} not reported at {at}\n{stderr}"
        );
    }
    assert!(!d.join("data").exists(), "check-config created data");
}

/// Issue 7 §3: `check-config --diff FILE` prints what a reload from FILE to
/// the checked config would change, one line each, restarts marked.
#[test]
fn check_config_diff_names_each_change() {
    let dir = tempfile::tempdir().expect("temp dir");
    let old = ixn_tests::one_step_config(ixn_bp_artifacts::ROUTER, "");
    let new = old
        .replace("limit = 20", "limit = 50")
        .replace("lease-timeout = 30", "lease-timeout = 30\nnode-id = \"other\"")
        .replace(
            "  [[business-process.queue]]\n  name = \"bp.Error\"",
            "  [[business-process.queue]]\n  name = \"bp.Error\"\n  [[business-process.queue]]\n  name = \"bp.Parked\"",
        );
    std::fs::write(dir.path().join("old.toml"), old).expect("write");
    std::fs::write(dir.path().join("new.toml"), new).expect("write");
    let out = std::process::Command::new(ixn_tests::profile_dir().join("ixn"))
        .current_dir(dir.path())
        .args(["check-config", "-c", "new.toml", "--diff", "old.toml"])
        .output()
        .expect("run ixn");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().skip(1).collect();
    assert_eq!(
        lines,
        [
            "3 change(s) from old.toml:",
            "  [server] changed: node-id; this needs a restart.",
            "  Queue `bp.Parked` added.",
            "  View `work` changed: limit.",
        ],
        "{stdout}"
    );
}

/// Issue 8: each message-queue sink judges its own settings, before
/// anything connects, and each problem is shown where it was written.
#[test]
fn broker_sink_settings_are_judged_by_their_sinks_before_anything_connects() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let config = format!(
        r#"
[server]
data-dir = "data"

[storage]
plugin = "sqlite"
[storage.settings]
path = "${{data-dir}}/ixn.db"

[strategy.good]
component = "{router}"

[[business-process]]
name = "bp"
entry-queue = "bp.In"
error-queue = "bp.Error"
  [[business-process.queue]]
  name = "bp.In"
  [[business-process.queue]]
  name = "bp.Error"

[[event-logger]]
name = "rabbit"
  [event-logger.logger-settings]
  delivery-protocol = "amqp"
  delivery-queue-name = "ixn.events"
  [event-logger.sink-settings]
  url = "http://127.0.0.1:5672"

[[event-logger]]
name = "rabbit2"
  [event-logger.logger-settings]
  delivery-protocol = "amqp"
  delivery-queue-name = "ixn.events"
  [event-logger.sink-settings]
  url = "amqp://127.0.0.1:5672"
  durable = true

[[event-logger]]
name = "jetstream"
  [event-logger.logger-settings]
  delivery-protocol = "nats"
  delivery-queue-name = "ixn.events"
  [event-logger.sink-settings]
  url = "nats://127.0.0.1:4222"
  stream = "ixn.events"

[[event-logger]]
name = "mosquitto"
  [event-logger.logger-settings]
  delivery-protocol = "mqtt"
  delivery-queue-name = "ixn/#"
  [event-logger.sink-settings]
  url = "mqtt://127.0.0.1:1883"
  max-message-size = 10
"#,
        router = ixn_bp_artifacts::ROUTER
    );
    let path = d.join("ixn.toml");
    std::fs::write(&path, config).expect("write config");
    let out = check_config(&path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let text = std::fs::read_to_string(&path).expect("read config");
    let line_of = |written: &str| {
        text.lines()
            .position(|l| l.contains(written))
            .expect("written")
            + 1
    };
    let problems: Vec<&str> = stderr.lines().filter(|l| l.starts_with("  ")).collect();
    // (logger, key, reason, where it was written; None: the logger's table)
    let expected = [
        ("rabbit", "`url`", "amqp://host:port", Some("url = \"http")),
        ("rabbit2", "`durable`", "unknown field", Some("durable =")),
        (
            "jetstream",
            "`stream`",
            "not a stream name",
            Some("stream = "),
        ),
        ("mosquitto", "`delivery-queue-name`", "no wildcards", None),
        (
            "mosquitto",
            "`max-message-size`",
            "1024..=268435455",
            Some("max-message-size ="),
        ),
    ];
    assert_eq!(
        problems.len(),
        expected.len(),
        "one line per problem:\n{stderr}"
    );
    for (logger, key, reason, written) in expected {
        let line = problems
            .iter()
            .find(|l| l.contains(&format!("event logger `{logger}`")) && l.contains(key))
            .unwrap_or_else(|| panic!("no problem of `{logger}` {key}:\n{stderr}"));
        assert!(line.contains(reason), "{line}");
        if let Some(written) = written {
            let at = format!("ixn.toml:{}:", line_of(written));
            assert!(line.contains(&at), "{key} not reported at {at}: {line}");
        }
    }
    assert!(!d.join("data").exists(), "check-config created data");
}

/// Issue 9: `config/postgres.toml` passes `check-config`, and a partition
/// plan that puts one queue in two partitions is refused by the postgres
/// plugin before anything connects, naming the queue and both partitions.
#[test]
fn the_postgres_sample_checks_and_a_plan_with_a_queue_twice_is_refused() {
    let sample = repo_root().join("config/postgres.toml");
    let out = check_config(&sample);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(&sample).expect("read sample");
    let target = repo_root().join("target");
    let bad = text
        .replace("\"../target/", &format!("\"{}/", target.display()))
        .replace(
            "queues = [\"email.Billing\",",
            "queues = [\"email.Inbound\", \"email.Billing\",",
        );
    assert_ne!(bad, text);
    let path = dir.path().join("ixn.toml");
    std::fs::write(&path, bad).expect("write config");
    let out = check_config(&path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let problems: Vec<&str> = stderr.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(problems.len(), 1, "{stderr}");
    assert!(
        problems[0].contains("[storage.settings] `partitions`")
            && problems[0].contains(
                "queue `email.Inbound` is in partition `inbound` and in partition `categories`"
            )
            && problems[0].contains("ixn.toml:"),
        "{stderr}"
    );
}

/// `ixn check-config --config path`, run as a user would.
fn check_config(path: &Path) -> std::process::Output {
    std::process::Command::new(ixn_tests::profile_dir().join("ixn"))
        .args(["check-config", "--config"])
        .arg(path)
        .output()
        .expect("run ixn")
}
