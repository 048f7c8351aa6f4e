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
