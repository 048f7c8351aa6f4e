//! The connection pool and the layout, shared by the operations
//! (`submit.rs`, `claim.rs`, `apply.rs`, `read.rs`, `lease.rs`, `convert.rs`).

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ixn_plugin_api::storage::{CustomField, StorageError, WorkNotice};
use ixn_sql::interactions::errors::{context, db, db_with};
use ixn_sql::interactions::fields_change::check_change;
use ixn_sql::interactions::row::select_list_with_blob_as_text;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::notices::{self, Listener};
use crate::partitions::{self, PlanChange};
use crate::schema::{self, Schema};
use crate::settings::Settings;
use crate::view_index;

/// A layout and the select list that reads it (the JSONB blob as text).
pub(crate) struct Layout {
    pub schema: Schema,
    pub select_list: String,
}

impl Layout {
    pub(crate) fn new(schema: Schema) -> Layout {
        let select_list = select_list_with_blob_as_text(&schema);
        Layout {
            schema,
            select_list,
        }
    }
}

/// An open database.
pub(crate) struct Store {
    pub pool: PgPool,
    /// The PostgreSQL schema holding the tables (every connection's `search_path`).
    pub db_schema: String,
    /// Swapped whole by `update_fields`; each operation takes it once.
    layout: RwLock<Arc<Layout>>,
    /// The view indexes looked at so far.
    pub view_indexes: view_index::Known,
    /// The schema's NOTIFY channel and its listener; `None` with `poll-only`.
    notices: Option<(String, Listener)>,
}

impl Store {
    /// Connects, creates the schema if missing, runs the migrations and adds
    /// the custom-field columns.
    pub async fn open(settings: Settings, schema: Schema) -> Result<Store, StorageError> {
        let what = format!("open postgres schema `{}`", settings.schema);
        let pool = connect(&settings).await.map_err(context(&what))?;
        create_schema(&pool, &settings.schema)
            .await
            .map_err(context(&what))?;
        schema::migrator().run(&pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => db(format!("{what}: migrate"), e),
            other => StorageError::permanent(format!("{what}: migrate: {other}")),
        })?;
        let mut tx = pool
            .begin()
            .await
            .map_err(db_with(format!("{what}: begin")))?;
        schema::add_custom_columns(&mut tx, &settings.schema, &schema)
            .await
            .map_err(context(&what))?;
        let change = partitions::apply_plan(&mut tx, &settings.partitions)
            .await
            .map_err(context(format!("{what}: apply the partition plan")))?;
        tx.commit()
            .await
            .map_err(db_with(format!("{what}: commit")))?;
        if change != PlanChange::default() {
            tracing::info!(
                schema = %settings.schema,
                created = ?change.created,
                dropped = ?change.dropped,
                moved = change.moved,
                "postgres storage: applied the partition plan"
            );
        }
        let notices = if settings.poll_only {
            None
        } else {
            let channel = notices::channel(&settings.schema);
            // Named, so an operator sees which connection it is.
            let options = connect_options(&settings)?
                .application_name(&format!("ixn-listen:{}", settings.schema));
            let listener = Listener::start(options, channel.clone(), settings.connect_timeout);
            Some((channel, listener))
        };
        Ok(Store {
            pool,
            db_schema: settings.schema,
            layout: RwLock::new(Arc::new(Layout::new(schema))),
            view_indexes: view_index::Known::default(),
            notices,
        })
    }

    /// Tells every host listening on this schema that work was placed in
    /// `queues`; with `conn` a transaction, at its commit. Nothing with `poll-only`.
    pub async fn announce<'c>(
        &self,
        conn: impl sqlx::PgExecutor<'c>,
        queues: &BTreeSet<String>,
    ) -> Result<(), StorageError> {
        match &self.notices {
            Some((channel, _)) => notices::announce(conn, channel, queues)
                .await
                .map_err(db_with("announce the placed work")),
            None => Ok(()),
        }
    }

    /// `wait-for-work`: the queues the listener heard of, waiting up to
    /// `timeout` for one; `Unsupported` with `poll-only`.
    pub async fn wait_for_work(&self, timeout: Duration) -> WorkNotice {
        match &self.notices {
            Some((_, listener)) => listener.wait(timeout).await,
            None => WorkNotice::Unsupported,
        }
    }

    /// The layout now; an operation holds on to it from start to end.
    pub fn layout(&self) -> Arc<Layout> {
        // A poisoned lock still holds a whole layout: only a swap writes it.
        match self.layout.read() {
            Ok(l) => l.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Takes a new set of custom fields: checks, in one transaction, that no
    /// stored value would be hidden or broken by it, adds the new columns
    /// and indexes, then swaps the layout.
    pub async fn update_fields(&self, fields: Vec<CustomField>) -> Result<(), StorageError> {
        let what = "take new custom fields";
        let new = Schema::new(fields)?;
        let old = self.layout();
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db_with(format!("{what}: begin")))?;
        check_change(&mut *tx, &old.schema, &new)
            .await
            .map_err(context(what))?;
        schema::add_custom_columns(&mut tx, &self.db_schema, &new)
            .await
            .map_err(context(what))?;
        tx.commit()
            .await
            .map_err(db_with(format!("{what}: commit")))?;
        let mut slot = match self.layout.write() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = Arc::new(Layout::new(new));
        Ok(())
    }
}

/// The connection options of `settings`: its URL, `search_path` its schema.
fn connect_options(settings: &Settings) -> Result<PgConnectOptions, StorageError> {
    Ok(PgConnectOptions::from_str(&settings.url)
        .map_err(|e| StorageError::permanent(format!("postgres settings: `url`: {e}")))?
        .options([("search_path", settings.schema.as_str())]))
}

/// A pool on `settings`, every connection's `search_path` its schema.
pub(crate) async fn connect(settings: &Settings) -> Result<PgPool, StorageError> {
    let options = connect_options(settings)?;
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.connect_timeout)
        .connect_with(options)
        .await
        .map_err(db_with("connect"))
}

/// `CREATE SCHEMA IF NOT EXISTS` under an advisory lock: two hosts opening
/// at once would otherwise race on the catalogue's unique name.
async fn create_schema(pool: &PgPool, name: &str) -> Result<(), StorageError> {
    let mut tx = pool.begin().await.map_err(db_with("begin"))?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('ixn:create-schema'))")
        .execute(&mut *tx)
        .await
        .map_err(db_with("lock schema creation"))?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {}",
        ixn_sql::quote(name)
    )))
    .execute(&mut *tx)
    .await
    .map_err(db_with(format!("create schema `{name}`")))?;
    tx.commit().await.map_err(db_with("commit"))
}
