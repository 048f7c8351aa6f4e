//! View conditions: text → AST (the host) → SQL (the sqlite storage). A
//! condition the host accepts must render, and every value in it must be a
//! bound parameter: the SQL text holds no quote, no number of the input and
//! exactly one `?` per bound value.
#![no_main]

use ixn::bp::condition::{Schema, parse_condition, parse_order};
use ixn_plugin_api::storage::{CustomField, FieldType};
use libfuzzer_sys::fuzz_target;

fn custom_fields() -> Vec<CustomField> {
    vec![
        CustomField {
            key: "Category".into(),
            column: "category".into(),
            field_type: FieldType::Text,
            length: 32,
        },
        CustomField {
            key: "Score".into(),
            column: "score".into(),
            field_type: FieldType::Integer,
            length: 0,
        },
        CustomField {
            key: "Due".into(),
            column: "due".into(),
            field_type: FieldType::Timestamp,
            length: 0,
        },
    ]
}

/// The SQL with quoted identifiers and the renderer's own constant (the
/// milliseconds of `_time_in_queue`) taken out: what is left is operators,
/// keywords and placeholders.
fn outside_identifiers(sql: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for c in sql.chars() {
        if c == '"' {
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out.replace("/ 1000)", "/ )")
}

fuzz_target!(|text: &str| {
    let custom = custom_fields();
    let schema = Schema::new(&custom);
    let _ = parse_order(text, &schema);
    let Ok(condition) = parse_condition(text, &schema) else {
        return;
    };
    let (sql, bound) = ixn_storage_sqlite::fuzzing::render(&condition, &custom, 1_700_000_000_000)
        .unwrap_or_else(|e| {
            panic!("the host accepted `{text}` but storage cannot render it: {e:?}")
        });
    let bare = outside_identifiers(&sql);
    assert_eq!(
        bare.matches('?').count(),
        bound,
        "placeholders and values differ: {sql}"
    );
    assert!(!bare.contains('\''), "a string inlined: {sql}");
    assert!(
        !bare.chars().any(|c| c.is_ascii_digit()),
        "a number inlined: {sql}"
    );
});
