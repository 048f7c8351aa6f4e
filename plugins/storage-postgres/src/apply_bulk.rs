//! The records of an `apply` batch that change no attached data, applied as
//! one UPDATE per outcome kind (stop, move, release) over arrays, instead
//! of one UPDATE each: a batch of 100 stops is one statement.

use ixn_plugin_api::storage::{DecisionRecord, Outcome, StorageError};
use ixn_sql::interactions::errors::db;
use sqlx::PgConnection;

/// What a bulk UPDATE failed on.
pub(crate) enum BulkError {
    /// A row broke a constraint: the attempt is over (the transaction is
    /// aborted) and the batch is applied again record by record.
    Broken,
    /// Anything else: the batch fails.
    Failed(StorageError),
}

/// Records gathered for the bulk UPDATEs, each with the queue its row is in
/// (the partition key: PostgreSQL looks in that partition only).
#[derive(Default)]
pub(crate) struct Bulk {
    stops: Columns,
    moves: Columns,
    releases: Columns,
}

/// One array per column of a bulk UPDATE's `unnest`.
#[derive(Default)]
struct Columns {
    ids: Vec<String>,
    queues: Vec<String>,
    nows: Vec<i64>,
    /// The stop reason, the target queue; unused for a release.
    texts: Vec<String>,
    /// A release's `scheduled_at`.
    times: Vec<Option<i64>>,
    versions: Vec<Option<String>>,
}

impl Columns {
    fn push(&mut self, rec: &DecisionRecord, queue: &str, text: &str, time: Option<i64>) {
        self.ids.push(rec.id.clone());
        self.queues.push(queue.to_string());
        self.nows.push(rec.now);
        self.texts.push(text.to_string());
        self.times.push(time);
        self.versions.push(rec.component_version.clone());
    }
}

impl Bulk {
    /// Whether `rec` can go in a bulk UPDATE: it changes no attached data
    /// (those records are one UPDATE each) and is not refused.
    pub fn takes(rec: &DecisionRecord) -> bool {
        rec.set_properties.is_empty()
            && rec.remove_properties.is_empty()
            && !matches!(&rec.outcome, Outcome::MoveToQueue(q) if q.is_empty())
    }

    /// Adds a record [`Bulk::takes`], its row in `queue`.
    pub fn add(&mut self, rec: &DecisionRecord, queue: &str) {
        match &rec.outcome {
            Outcome::Stop(reason) => self.stops.push(rec, queue, reason, None),
            Outcome::MoveToQueue(to) => self.moves.push(rec, queue, to, None),
            Outcome::Release(at) => self.releases.push(rec, queue, "", *at),
        }
    }

    /// Runs the bulk UPDATEs on the transaction.
    pub async fn run(self, conn: &mut PgConnection) -> Result<(), BulkError> {
        const LEASE_ENDED: &str = "\"lease_owner\" = NULL, \"lease_until\" = NULL, \
             \"component_version\" = COALESCE(v.\"version\", i.\"component_version\")";
        let stop = format!(
            "UPDATE \"interactions\" AS i SET \"stopped_at\" = v.\"now\", \"stop_reason\" = v.\"text\", \
             \"state\" = 0, {LEASE_ENDED}"
        );
        let moved = format!(
            "UPDATE \"interactions\" AS i SET \"queue\" = v.\"text\", \"state\" = 0, \
             \"placed_in_queue_at\" = v.\"now\", \
             \"moved_to_queue_at\" = COALESCE(i.\"moved_to_queue_at\", v.\"now\"), \
             \"scheduled_at\" = NULL, {LEASE_ENDED}"
        );
        let release = format!(
            "UPDATE \"interactions\" AS i SET \"state\" = 0, \"scheduled_at\" = v.\"time\", {LEASE_ENDED}"
        );
        for (head, columns, what) in [
            (stop, self.stops, "stop"),
            (moved, self.moves, "move"),
            (release, self.releases, "release"),
        ] {
            if columns.ids.is_empty() {
                continue;
            }
            let n = columns.ids.len() as u64;
            let sql = format!(
                "{head} FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::int8[], $6::text[]) \
                 AS v(\"id\", \"queue\", \"now\", \"text\", \"time\", \"version\") \
                 WHERE i.\"id\" = v.\"id\" AND i.\"queue\" = v.\"queue\""
            );
            let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(columns.ids)
                .bind(columns.queues)
                .bind(columns.nows)
                .bind(columns.texts)
                .bind(columns.times)
                .bind(columns.versions)
                .execute(&mut *conn)
                .await;
            let what = format!("apply decisions: {n} × {what}");
            match done {
                Ok(done) if done.rows_affected() == n => {}
                // The rows are locked by this transaction: each is there.
                Ok(done) => {
                    return Err(BulkError::Failed(StorageError::permanent(format!(
                        "{what}: changed {} rows",
                        done.rows_affected()
                    ))));
                }
                Err(e) if crate::apply::breaks_a_constraint(&e) => return Err(BulkError::Broken),
                Err(e) => return Err(BulkError::Failed(db(&what, e))),
            }
        }
        Ok(())
    }
}
