//! What a backend gives the suite ([`Harness`]), and the database of one test
//! ([`Db`]) with the calls the tests make on it.

use ixn_plugin_api::storage::{CustomField, OpenSettings, StorageBackend, StorageError};

use crate::common::standard_fields;

/// How the suite makes and inspects databases for one backend.
pub trait Harness: Sync {
    /// The backend under test.
    type Backend: StorageBackend;
    /// A fresh, empty database (a temporary directory for SQLite, a new
    /// schema for PostgreSQL); dropping it removes it.
    type Database;

    /// A fresh, empty database.
    fn fresh(&self) -> Self::Database;
    /// The `[storage.settings]` document that opens `db`, plus custom fields.
    fn settings(&self, db: &Self::Database, custom_fields: Vec<CustomField>) -> OpenSettings;
    /// Runs SQL from a connection of its own, as an operator would from outside.
    fn outside(&self, db: &Self::Database, sql: &str);
    /// One `SELECT COUNT(*) …` (or any single 64-bit integer) from outside.
    fn count(&self, db: &Self::Database, sql: &str) -> i64;
    /// Whether the `interactions` table has an index named `name` (catalogue
    /// queries differ per database).
    fn has_index(&self, db: &Self::Database, name: &str) -> bool;
    /// Why the suite cannot run here (its database server is not
    /// configured), printed by each test as it skips; `None` runs it.
    fn skip_reason(&self) -> Option<String> {
        None
    }
}

/// A fresh database of one test, and the harness that made it.
pub struct Db<'h, H: Harness> {
    harness: &'h H,
    database: H::Database,
}

impl<'h, H: Harness> Db<'h, H> {
    /// A fresh, empty database from `harness`.
    pub fn new(harness: &'h H) -> Self {
        Db {
            harness,
            database: harness.fresh(),
        }
    }

    /// The harness that made this database.
    pub fn harness(&self) -> &'h H {
        self.harness
    }

    /// The backend's own database handle (for a backend's own tests).
    pub fn database(&self) -> &H::Database {
        &self.database
    }

    /// The open settings of this database, with `custom_fields`.
    pub fn settings(&self, custom_fields: Vec<CustomField>) -> OpenSettings {
        self.harness.settings(&self.database, custom_fields)
    }

    /// Opens with the [`standard_fields`].
    pub fn open(&self) -> H::Backend {
        self.open_with(standard_fields()).unwrap()
    }

    /// Opens with `custom_fields`.
    pub fn open_with(&self, custom_fields: Vec<CustomField>) -> Result<H::Backend, StorageError> {
        H::Backend::open(self.settings(custom_fields))
    }

    /// Whether the `interactions` table has an index named `name`.
    pub fn has_index(&self, name: &str) -> bool {
        self.harness.has_index(&self.database, name)
    }
}

/// Runs SQL from outside.
pub fn outside<H: Harness>(db: &Db<'_, H>, sql: &str) {
    db.harness.outside(&db.database, sql);
}

/// One `SELECT COUNT(*) …` from outside.
pub fn count<H: Harness>(db: &Db<'_, H>, sql: &str) -> i64 {
    db.harness.count(&db.database, sql)
}
