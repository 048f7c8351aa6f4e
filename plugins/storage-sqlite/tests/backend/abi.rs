//! The backend through the C ABI, as the host sees a built-in plugin.

use ixn_plugin_api::abi::{PluginKind, check_table};
use ixn_plugin_api::storage::ApplyOutcome;
use ixn_plugin_api::storage::{DecisionRecord, ErrorKind, Outcome, State, StorageClient, Value};
use ixn_storage_conformance::common::*;

use crate::harness::new_db;

#[test]
fn submit_claim_apply_through_the_plugin_table() {
    let table = ixn_storage_sqlite::plugin_table();
    // SAFETY: a pointer to this crate's own static table.
    let table = unsafe { check_table(table, PluginKind::Storage) }.unwrap();
    assert_eq!(table.name(), "sqlite");
    let entry = ixn_storage_sqlite::ixn_plugin_entry_sqlite();
    assert!(std::ptr::eq(entry, table));

    let db = new_db();
    let client = StorageClient::open(table, &db.settings(standard_fields()), None).unwrap();
    assert_eq!(client.name(), "sqlite");
    let mut n = new_ix("abi-1", "q");
    n.properties = vec![
        str_prop("Category", "gold"),
        str_prop("Subject", "こんにちは"),
    ];
    client.submit(&[n, new_ix("abi-2", "q")]).unwrap();

    let claimed = client.claim(&claim_req("q", "bp", 1, 2000)).unwrap();
    assert_eq!(ids(&claimed), ["abi-1"]);
    assert_eq!(claimed[0].state, State::Routing);
    assert_eq!(
        claimed[0].properties,
        vec![
            str_prop("Category", "gold"),
            str_prop("Subject", "こんにちは")
        ]
    );

    let decision = DecisionRecord {
        id: "abi-1".into(),
        owner: "bp".into(),
        outcome: Outcome::MoveToQueue("done".into()),
        set_properties: vec![prop("Handled", Value::Boolean(true))],
        remove_properties: vec!["Category".into()],
        component_version: None,
        now: 3000,
    };
    assert_eq!(
        client.apply(std::slice::from_ref(&decision)).unwrap(),
        [ApplyOutcome::Applied]
    );
    assert_eq!(
        client.apply(&[decision]).unwrap(),
        [ApplyOutcome::LeaseLost]
    );
    let got = client.get("abi-1").unwrap().unwrap();
    assert_eq!(got.queue, "done");
    assert_eq!(
        got.properties,
        vec![
            prop("Handled", Value::Boolean(true)),
            str_prop("Subject", "こんにちは")
        ]
    );
    assert_eq!(client.counts().unwrap().len(), 2);
    assert!(client.recover_expired(10_000_000).unwrap().is_empty());

    // Errors cross the boundary with their kind, named after the plugin.
    let e = client.submit(&[new_ix("abi-2", "q")]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(
        e.message.contains("storage plugin `sqlite`") && e.message.contains("`abi-2`"),
        "{e}"
    );
    let mut bad = db.settings(vec![]);
    bad.settings = serde_json::json!({"path": db.database().path(), "colour": "blue"}).to_string();
    let e = StorageClient::open(table, &bad, None).err().unwrap();
    assert!(e.message.contains("`colour`"), "{e}");
}
