//! open: custom fields checked against the schema. (The settings document,
//! and what a database can be made to fail with, are each backend's own.)

use ixn_plugin_api::storage::{ErrorKind, FieldType};

use crate::common::*;
use crate::{Db, Harness};

pub fn bad_custom_fields_are_refused<H: Harness>(h: &H) {
    let db = Db::new(h);
    for (fields, needle) in [
        (
            vec![field("X", "Bad Name", FieldType::Text, 8)],
            "must match",
        ),
        (
            vec![field("X", "priority", FieldType::Integer, 0)],
            "standard column",
        ),
        (
            vec![
                field("X", "x", FieldType::Text, 8),
                field("Y", "x", FieldType::Text, 8),
            ],
            "another custom field",
        ),
    ] {
        let e = db.open_with(fields).err().unwrap();
        assert_eq!(e.kind, ErrorKind::Permanent);
        assert!(e.message.contains(needle), "{e}");
    }
    // A field whose existing column has another type.
    db.open_with(vec![field("X", "x", FieldType::Text, 8)])
        .unwrap();
    let e = db
        .open_with(vec![field("X", "x", FieldType::Integer, 0)])
        .err()
        .unwrap();
    assert!(e.message.contains("`x`"), "{e}");
}
