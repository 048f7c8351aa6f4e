//! submit / get round trips, attached data, all-or-nothing batches.

use ixn_plugin_api::storage::{ErrorKind, FieldType, State, StorageBackend, Value};

use crate::common::*;
use crate::{Db, Harness, count};

pub fn round_trip_with_custom_fields_and_non_latin_text<H: Harness>(h: &H) {
    let db = Db::new(h);
    let b = db.open();
    let subjects = [
        ("ja", "お問い合わせ：注文番号１２３"),
        ("ar", "استفسار عن الطلب"),
        ("ru", "Вопрос о заказе №5"),
    ];
    let mut batch = Vec::new();
    for (id, subject) in subjects {
        let mut n = new_ix(id, "inbound");
        n.priority = 7;
        n.external_id = Some(format!("ext-{id}"));
        n.parent_id = Some("parent".into());
        n.properties = vec![
            str_prop("Subject", subject),
            // 16 characters of multi-byte text fit a 16-character column.
            str_prop("Category", "日本語のカテゴリー名です一二三四"),
            prop("Score", Value::Int(-42)),
            prop("Due", Value::Timestamp(1_700_000_000_000)),
            prop("Weight", Value::Float(0.25)),
            prop("Vip", Value::Boolean(true)),
            prop("Seen", Value::Timestamp(5)),
            prop("Count", Value::Int(3)),
        ];
        batch.push(n);
    }
    b.submit(batch.clone()).unwrap();

    for n in batch {
        let got = b.get(n.id.clone()).unwrap().unwrap();
        assert_eq!(got.id, n.id);
        assert_eq!(got.tenant, "t1");
        assert_eq!(got.media_type, "email");
        assert_eq!(got.interaction_type, "Inbound");
        assert_eq!(got.interaction_subtype, "InboundNew");
        assert_eq!(got.external_id, n.external_id);
        assert_eq!(got.parent_id.as_deref(), Some("parent"));
        assert_eq!(got.queue, "inbound");
        assert_eq!(got.state, State::Queued);
        assert!(!got.is_locked);
        assert_eq!(got.priority, 7);
        assert_eq!(got.submitted_by, "tester");
        assert_eq!(got.submitted_at, 1000);
        assert_eq!(got.placed_in_queue_at, 1000);
        assert_eq!(got.moved_to_queue_at, None);
        assert_eq!(got.lease_owner, None);
        assert_eq!(got.lease_until, None);
        assert_eq!(got.lease_expiries, 0);
        assert_eq!(got.stopped_at, None);
        let mut want = n.properties.clone();
        want.sort_by(|a, b| a.key.cmp(&b.key));
        assert_eq!(got.properties, want, "attached data of {}", n.id);
    }
    assert_eq!(b.get("missing".into()).unwrap(), None);
}

/// The custom fields are in their typed columns, each indexed. (What the blob
/// holds, and how, is each backend's own: its tests look at that.)
pub fn custom_fields_have_typed_columns<H: Harness>(h: &H) {
    let db = Db::new(h);
    let b = db.open();
    let mut n = new_ix("a", "q");
    n.properties = vec![
        str_prop("Category", "gold"),
        prop("Score", Value::Int(9)),
        str_prop("Subject", "s"),
    ];
    b.submit(vec![n]).unwrap();
    drop(b);
    // Look at the database directly: the custom fields are in their columns, the rest in the blob.
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM interactions WHERE id = 'a' \
             AND category = 'gold' AND score = 9 AND due IS NULL \
             AND flexible_properties IS NOT NULL"
        ),
        1,
        "category, score and due in their columns, Subject in the blob"
    );
    for want in [
        "interactions_cf_category",
        "interactions_cf_due",
        "interactions_cf_score",
        "interactions_claim",
        "interactions_lease_until",
    ] {
        assert!(db.has_index(want), "index {want}");
    }
}

pub fn duplicate_id_stores_nothing<H: Harness>(h: &H) {
    let db = Db::new(h);
    let b = db.open();
    b.submit(vec![new_ix("a", "q")]).unwrap();
    let e = b
        .submit(vec![new_ix("b", "q"), new_ix("a", "q"), new_ix("c", "q")])
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(e.message.contains("`a`"), "{e}");
    assert_eq!(b.get("b".into()).unwrap(), None);
    assert_eq!(b.get("c".into()).unwrap(), None);

    // A duplicate inside one batch, too.
    let e = b
        .submit(vec![new_ix("x", "q"), new_ix("x", "q")])
        .unwrap_err();
    assert!(e.message.contains("`x`"), "{e}");
    assert_eq!(b.get("x".into()).unwrap(), None);
    assert_eq!(b.counts().unwrap()[0].queued, 1);
}

pub fn too_long_custom_text_is_refused_and_nothing_stored<H: Harness>(h: &H) {
    let db = Db::new(h);
    let b = db.open();
    let mut long = new_ix("long", "q");
    long.properties = vec![str_prop("Category", &"я".repeat(17))];
    let e = b.submit(vec![new_ix("ok", "q"), long]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(
        e.message.contains("`Category`") && e.message.contains("17 characters"),
        "{e}"
    );
    assert_eq!(b.get("ok".into()).unwrap(), None);
    assert_eq!(b.get("long".into()).unwrap(), None);
    assert!(b.counts().unwrap().is_empty());
}

pub fn wrong_custom_type_is_refused<H: Harness>(h: &H) {
    let db = Db::new(h);
    let b = db.open();
    let mut n = new_ix("a", "q");
    n.properties = vec![str_prop("Score", "ten")];
    let e = b.submit(vec![n]).unwrap_err();
    assert!(
        e.message.contains("`Score`") && e.message.contains("integer"),
        "{e}"
    );
    let mut n = new_ix("a", "q");
    n.properties = vec![prop("Due", Value::Int(5))]; // an Int is accepted for a timestamp
    b.submit(vec![n]).unwrap();
    let got = b.get("a".into()).unwrap().unwrap();
    assert_eq!(got.properties, vec![prop("Due", Value::Timestamp(5))]);
}

pub fn adding_a_custom_field_on_reopen_keeps_the_data<H: Harness>(h: &H) {
    let db = Db::new(h);
    let b = db
        .open_with(vec![field("Category", "category", FieldType::Text, 16)])
        .unwrap();
    let mut n = new_ix("a", "q");
    n.properties = vec![
        str_prop("Category", "gold"),
        str_prop("Region", "EMEA"),
        prop("Level", Value::Int(2)),
    ];
    let mut m = new_ix("b", "q");
    m.properties = vec![str_prop("Region", "a region name far longer than eight")];
    b.submit(vec![n, m]).unwrap();
    drop(b);

    let fields = vec![
        field("Category", "category", FieldType::Text, 16),
        field("Region", "region", FieldType::Text, 8),
        field("Level", "level", FieldType::Integer, 0),
    ];
    let b = db.open_with(fields.clone()).unwrap();
    let got = b.get("a".into()).unwrap().unwrap();
    assert_eq!(
        got.properties,
        vec![
            prop("Category", Value::Str("gold".into())),
            prop("Level", Value::Int(2)),
            str_prop("Region", "EMEA")
        ]
    );
    // Reads merge the blob; a condition sees the new column only once
    // `convert-fields` has moved the values there (opening does not rewrite rows).
    let mut req = claim_req("q", "o", 10, 2000);
    req.condition = Some(eq_str("region", "EMEA"));
    assert!(b.claim(req.clone()).unwrap().is_empty());
    b.convert_start(false).unwrap();
    assert!(b.convert_step(100).unwrap().finished);
    assert_eq!(ids(&b.claim(req).unwrap()), ["a"]);
    // Too long for the new column: it stays in the blob, still readable.
    let got = b.get("b".into()).unwrap().unwrap();
    assert_eq!(
        got.properties,
        vec![str_prop("Region", "a region name far longer than eight")]
    );
    drop(b);

    // Opening again with the same fields changes nothing; with fewer, the column stays.
    db.open_with(fields).unwrap();
    let b = db.open_with(vec![]).unwrap();
    let got = b.get("a".into()).unwrap().unwrap();
    // Columns of fields no longer configured are kept but not read back.
    assert!(got.properties.is_empty(), "{:?}", got.properties);
    assert_eq!(got.queue, "q");
}

fn eq_str(column: &str, value: &str) -> ixn_plugin_api::storage::Condition {
    use ixn_plugin_api::storage::{CompareOp, Condition, ExprNode, Literal};
    Condition {
        nodes: vec![
            ExprNode::Column(column.into()),
            ExprNode::Literal(Literal::Str(value.into())),
            ExprNode::Compare((CompareOp::Eq, 0, 1)),
        ],
        root: 2,
    }
}
