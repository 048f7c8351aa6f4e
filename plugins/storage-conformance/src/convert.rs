//! Custom fields changed on a running backend (`update-fields`) and the
//! conversion between blob and columns (`convert-start`, `convert-step`).

use ixn_plugin_api::storage::{
    ApplyOutcome, CompareOp, Condition, DecisionRecord, ExprNode, FieldType, Literal, Outcome,
    StorageBackend, Value,
};

use crate::common::*;
use crate::{Db, Harness, count};

/// `column = 'text'`.
fn equals(column: &str, text: &str) -> Condition {
    Condition {
        nodes: vec![
            ExprNode::Column(column.into()),
            ExprNode::Literal(Literal::Str(text.into())),
            ExprNode::Compare((CompareOp::Eq, 0, 1)),
        ],
        root: 2,
    }
}

fn with_property(id: &str, key: &str, value: &str) -> ixn_plugin_api::storage::NewInteraction {
    let mut n = new_ix(id, "in");
    n.properties = vec![str_prop(key, value)];
    n
}

fn property(b: &impl StorageBackend, id: &str, key: &str) -> Option<Value> {
    b.get(id.into())
        .unwrap()
        .expect("stored")
        .properties
        .into_iter()
        .find(|p| p.key == key)
        .map(|p| p.value)
}

fn claim_where(b: &impl StorageBackend, condition: Condition) -> Vec<String> {
    let mut req = claim_req("in", "bp", 10, 2000);
    req.condition = Some(condition);
    ids(&b.claim(req).unwrap())
}

fn with_region() -> Vec<ixn_plugin_api::storage::CustomField> {
    let mut fields = standard_fields();
    fields.push(field("Region", "region", FieldType::Text, 8));
    fields
}

pub fn a_new_field_takes_its_column_live_and_old_values_wait_for_the_conversion<H: Harness>(h: &H) {
    let db = Db::new(h);
    let b = db.open();
    b.submit(vec![with_property("old", "Region", "north")])
        .unwrap();

    b.update_fields(with_region()).unwrap();
    assert!(
        db.has_index("interactions_cf_region"),
        "the column is indexed"
    );
    // Reads find the old value in the blob; a condition sees the column only.
    assert_eq!(
        property(&b, "old", "Region"),
        Some(Value::Str("north".into()))
    );
    b.submit(vec![with_property("new", "Region", "north")])
        .unwrap();
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM interactions WHERE region = 'north'"
        ),
        1,
        "a new write goes to the column"
    );
    assert_eq!(claim_where(&b, equals("region", "north")), ["new"]);

    let started = b.convert_start(false).unwrap();
    assert_eq!(
        (started.done, started.total, started.finished),
        (0, 2, false)
    );
    let step = b.convert_step(100).unwrap();
    assert_eq!((step.done, step.to_columns, step.finished), (2, 1, true));
    assert_eq!(claim_where(&b, equals("region", "north")), ["old"]);
    assert_eq!(
        property(&b, "old", "Region"),
        Some(Value::Str("north".into()))
    );
}

pub fn a_change_that_would_hide_or_break_stored_values_is_refused_and_changes_nothing<
    H: Harness,
>(
    h: &H,
) {
    let db = Db::new(h);
    let b = db.open();
    let mut n = with_property("x", "Category", "abcdefghij");
    n.properties.push(prop("Score", Value::Int(5)));
    b.submit(vec![n]).unwrap();

    let without_category: Vec<_> = standard_fields()
        .into_iter()
        .filter(|f| f.key != "Category")
        .collect();
    let e = b.update_fields(without_category).unwrap_err();
    assert!(
        e.message
            .contains("`Category` is removed but 1 interaction(s)")
            && e.message.contains("to-delete"),
        "{e}"
    );
    let mut retyped = standard_fields();
    retyped[1].field_type = FieldType::Text;
    retyped[1].length = 8;
    let e = b.update_fields(retyped).unwrap_err();
    assert!(
        e.message.contains("is integer and cannot become text"),
        "{e}"
    );
    let mut shorter = standard_fields();
    shorter[0].length = 4;
    let e = b.update_fields(shorter).unwrap_err();
    assert!(
        e.message
            .contains("1 stored value(s) of column `category` are longer than the new length 4"),
        "{e}"
    );
    // Still the old fields: a 16-character Category fits, a 17-character one does not.
    b.submit(vec![with_property("y", "Category", &"c".repeat(16))])
        .unwrap();
    assert!(
        b.submit(vec![with_property("z", "Category", &"c".repeat(17))])
            .is_err()
    );

    // What holds no value may go, and a length that every value fits may shrink.
    let mut fine = standard_fields();
    fine[0].length = 16;
    fine.retain(|f| f.key != "Due");
    b.update_fields(fine).unwrap();
}

pub fn a_to_delete_field_writes_to_the_blob_and_the_conversion_empties_its_column<H: Harness>(
    h: &H,
) {
    let db = Db::new(h);
    let b = db.open();
    b.submit(vec![
        with_property("kept", "Category", "gold"),
        with_property("changed", "Category", "gold"),
    ])
    .unwrap();
    let mut retiring = standard_fields();
    retiring[0].to_delete = true;
    b.update_fields(retiring).unwrap();

    // The column is no longer a place to select on.
    let mut req = claim_req("in", "bp", 10, 2000);
    req.condition = Some(equals("category", "gold"));
    assert!(b.claim(req).is_err());

    // A new value goes to the blob and empties the column, so it is what reads show.
    let claimed = b.claim(claim_req("in", "bp", 1, 2000)).unwrap();
    let id = claimed[0].id.clone();
    let applied = b
        .apply(vec![DecisionRecord {
            id: id.clone(),
            owner: "bp".into(),
            outcome: Outcome::Release(None),
            set_properties: vec![str_prop("Category", "a value far longer than sixteen")],
            remove_properties: vec![],
            component_version: None,
            now: 2001,
        }])
        .unwrap();
    assert_eq!(applied, [ApplyOutcome::Applied]);
    assert_eq!(
        property(&b, &id, "Category"),
        Some(Value::Str("a value far longer than sixteen".into()))
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM interactions WHERE category IS NOT NULL"
        ),
        1
    );

    b.convert_start(false).unwrap();
    let done = b.convert_step(1).unwrap();
    let done = if done.finished {
        done
    } else {
        b.convert_step(1000).unwrap()
    };
    assert_eq!((done.to_blob, done.finished), (1, true));
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM interactions WHERE category IS NOT NULL"
        ),
        0
    );
    for id in ["kept", "changed"] {
        assert!(
            property(&b, id, "Category").is_some(),
            "{id} keeps its value"
        );
    }
}

pub fn the_conversion_resumes_after_its_checkpoint_and_a_reset_starts_over<H: Harness>(h: &H) {
    let db = Db::new(h);
    let b = db.open_with(vec![]).unwrap();
    let batch: Vec<_> = (0..10)
        .map(|i| with_property(&format!("ix-{i}"), "Region", "south"))
        .collect();
    b.submit(batch).unwrap();
    drop(b);

    let b = db.open_with(with_region()).unwrap();
    assert!(
        b.convert_step(3).is_err(),
        "a step before a start has no checkpoint"
    );
    b.convert_start(false).unwrap();
    let first = b.convert_step(3).unwrap();
    assert_eq!((first.done, first.to_columns), (3, 3));
    drop(b);

    // Reopened (as after a kill): the checkpoint is where the last commit left it.
    let b = db.open_with(with_region()).unwrap();
    let resumed = b.convert_start(false).unwrap();
    assert_eq!((resumed.done, resumed.to_columns), (3, 3));
    let mut p = resumed;
    while !p.finished {
        p = b.convert_step(4).unwrap();
    }
    assert_eq!((p.done, p.total, p.to_columns), (10, 10, 10));
    assert_eq!(
        b.convert_start(false).unwrap().done,
        10,
        "a finished pass stays finished"
    );
    let reset = b.convert_start(true).unwrap();
    assert_eq!(
        (reset.done, reset.to_columns, reset.finished),
        (0, 0, false)
    );

    for bad in [0, 1001] {
        let e = b.convert_step(bad).unwrap_err();
        assert!(e.message.contains("must be 1 to 1000"), "{e}");
    }
}
