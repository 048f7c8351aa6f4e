//! Builders of what the tests submit and claim: the standard custom fields,
//! attached data, new interactions, claim requests.

use ixn_plugin_api::storage::{
    ClaimRequest, CustomField, FieldType, Interaction, NewInteraction, Property, State, Value,
};

/// `Category` text(16) → `category`, `Score` integer → `score`, `Due` timestamp → `due`.
pub fn standard_fields() -> Vec<CustomField> {
    vec![
        field("Category", "category", FieldType::Text, 16),
        field("Score", "score", FieldType::Integer, 0),
        field("Due", "due", FieldType::Timestamp, 0),
    ]
}

/// A custom field `key` in `column`, not to be deleted.
pub fn field(key: &str, column: &str, field_type: FieldType, length: u32) -> CustomField {
    CustomField {
        key: key.into(),
        column: column.into(),
        field_type,
        length,
        to_delete: false,
    }
}

/// Attached data `key = value`.
pub fn prop(key: &str, value: Value) -> Property {
    Property {
        key: key.into(),
        value,
    }
}

/// Attached data `key = "value"`.
pub fn str_prop(key: &str, value: &str) -> Property {
    prop(key, Value::Str(value.into()))
}

/// A new interaction in `queue`, submitted at 1000.
pub fn new_ix(id: &str, queue: &str) -> NewInteraction {
    NewInteraction {
        id: id.into(),
        tenant: "t1".into(),
        media_type: "email".into(),
        interaction_type: "Inbound".into(),
        interaction_subtype: "InboundNew".into(),
        external_id: None,
        parent_id: None,
        queue: queue.into(),
        priority: 0,
        submitted_by: "tester".into(),
        submitted_at: 1000,
        properties: Vec::new(),
    }
}

/// A claim of up to `limit` from `queue` for `owner` at `now`, lease 60 s, routing.
pub fn claim_req(queue: &str, owner: &str, limit: u32, now: i64) -> ClaimRequest {
    ClaimRequest {
        queue: queue.into(),
        state: State::Routing,
        condition: None,
        order: Vec::new(),
        limit,
        owner: owner.into(),
        lease_ms: 60_000,
        now,
    }
}

/// Ids of claimed interactions.
pub fn ids(v: &[Interaction]) -> Vec<String> {
    v.iter().map(|i| i.id.clone()).collect()
}
