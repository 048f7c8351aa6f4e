//! Helpers shared by the tests.

use ixn_plugin_api::storage::{
    ClaimRequest, CustomField, FieldType, NewInteraction, OpenSettings, Property, State,
    StorageBackend, Value,
};
use ixn_storage_sqlite::SqliteBackend;
use tempfile::TempDir;

/// A temporary directory and the database path in it.
pub struct Db {
    pub dir: TempDir,
}

impl Db {
    pub fn new() -> Db {
        Db {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> String {
        self.dir
            .path()
            .join("ixn.db")
            .to_string_lossy()
            .into_owned()
    }

    pub fn settings(&self, custom_fields: Vec<CustomField>) -> OpenSettings {
        OpenSettings {
            settings: serde_json::json!({ "path": self.path() }).to_string(),
            custom_fields,
        }
    }

    /// Opens with the [`standard_fields`].
    pub fn open(&self) -> SqliteBackend {
        SqliteBackend::open(self.settings(standard_fields())).unwrap()
    }
}

/// `Category` text(16) → `category`, `Score` integer → `score`, `Due` timestamp → `due`.
pub fn standard_fields() -> Vec<CustomField> {
    vec![
        field("Category", "category", FieldType::Text, 16),
        field("Score", "score", FieldType::Integer, 0),
        field("Due", "due", FieldType::Timestamp, 0),
    ]
}

pub fn field(key: &str, column: &str, field_type: FieldType, length: u32) -> CustomField {
    CustomField {
        key: key.into(),
        column: column.into(),
        field_type,
        length,
        to_delete: false,
    }
}

pub fn prop(key: &str, value: Value) -> Property {
    Property {
        key: key.into(),
        value,
    }
}

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
pub fn ids(v: &[ixn_plugin_api::storage::Interaction]) -> Vec<String> {
    v.iter().map(|i| i.id.clone()).collect()
}

/// Runs `f` on a connection of its own to the database, as an operator
/// would from outside.
fn on_own_connection<T>(db: &Db, f: impl AsyncFnOnce(&mut sqlx::SqliteConnection) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::ConnectOptions;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db.path())
            .connect()
            .await
            .unwrap();
        f(&mut conn).await
    })
}

/// Runs SQL from outside.
pub fn outside(db: &Db, sql: &'static str) {
    on_own_connection(db, async |conn| {
        sqlx::raw_sql(sql).execute(conn).await.unwrap();
    });
}

/// One `SELECT COUNT(*) …` from outside.
pub fn count(db: &Db, sql: &'static str) -> i64 {
    on_own_connection(db, async |conn| {
        sqlx::query_scalar(sql).fetch_one(conn).await.unwrap()
    })
}
