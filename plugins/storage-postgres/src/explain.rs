//! `ixn explain-views`: the seed's step 2 ("analyze the execution plans …
//! create appropriate indexes") done for the user. Each view's claim SELECT,
//! exactly as `claim` sends it, with PostgreSQL's plan for it, and a warning
//! where the plan reads a large table or partition sequentially.

use ixn_plugin_api::storage::{ClaimRequest, CustomField, StorageError};
use ixn_sql::interactions::errors::{context, db_with};
use sqlx::{PgPool, Row};

use crate::claim::claimable;
use crate::schema::Schema;
use crate::store::Layout;

/// A sequential scan of a relation with more rows than this is warned of.
pub const LARGE_RELATION_ROWS: i64 = 10_000;

/// One view's claim SELECT and its plan.
#[derive(Debug, Clone)]
pub struct ViewPlan {
    /// The view, as the caller named it.
    pub view: String,
    /// The SELECT, placeholders as `$n`.
    pub sql: String,
    /// `EXPLAIN`'s text, one line per node.
    pub plan: String,
    /// Sequential scans of large relations, each a sentence.
    pub warnings: Vec<String>,
}

/// Explains each `(view, request)` on `pool` with the layout of `custom_fields`.
pub(crate) async fn explain(
    pool: &PgPool,
    custom_fields: Vec<CustomField>,
    views: Vec<(String, ClaimRequest)>,
) -> Result<Vec<ViewPlan>, StorageError> {
    let layout = Layout::new(Schema::new(custom_fields)?);
    let mut plans = Vec::with_capacity(views.len());
    for (view, req) in views {
        let what = format!("explain view `{view}`");
        let sql = claimable(&layout, &req, "")
            .map_err(context(&what))?
            .sql()
            .as_str()
            .to_string();
        let text: Vec<String> = claimable(&layout, &req, "EXPLAIN ")
            .map_err(context(&what))?
            .build()
            .fetch_all(pool)
            .await
            .map_err(db_with(&what))?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<_, _>>()
            .map_err(db_with(&what))?;
        // The plan is of type `json`, whose binary form is its text (sqlx's
        // `json` feature is not on: this is its one use).
        let json_text: String = claimable(&layout, &req, "EXPLAIN (FORMAT JSON) ")
            .map_err(context(&what))?
            .build()
            .fetch_one(pool)
            .await
            .and_then(|r| r.try_get_unchecked::<String, _>(0))
            .map_err(db_with(&what))?;
        let json: serde_json::Value = serde_json::from_str(&json_text)
            .map_err(|e| StorageError::permanent(format!("{what}: the plan is not JSON: {e}")))?;
        let mut scans = Vec::new();
        seq_scans(&json, &mut scans);
        let mut warnings = Vec::new();
        for relation in scans {
            let rows: i64 = sqlx::query_scalar(
                "SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass($1)",
            )
            .bind(format!("\"{relation}\""))
            .fetch_optional(pool)
            .await
            .map_err(db_with(&what))?
            .unwrap_or(0);
            if rows > LARGE_RELATION_ROWS {
                warnings.push(format!(
                    "sequential scan of `{relation}` (about {rows} rows): every claim of this view reads the whole of it; \
                     index the columns of its condition and order, or give queue `{}` a partition of its own",
                    req.queue
                ));
            }
        }
        plans.push(ViewPlan {
            view,
            sql,
            plan: text.join("\n"),
            warnings,
        });
    }
    Ok(plans)
}

/// The relations read by a `Seq Scan` node anywhere in an `EXPLAIN (FORMAT JSON)` plan.
fn seq_scans(node: &serde_json::Value, out: &mut Vec<String>) {
    match node {
        serde_json::Value::Array(items) => items.iter().for_each(|n| seq_scans(n, out)),
        serde_json::Value::Object(map) => {
            if map.get("Node Type").and_then(|t| t.as_str()) == Some("Seq Scan")
                && let Some(r) = map.get("Relation Name").and_then(|r| r.as_str())
            {
                out.push(r.to_string());
            }
            map.values().for_each(|v| seq_scans(v, out));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_scans_are_found_at_any_depth() {
        let plan = serde_json::json!([{ "Plan": {
            "Node Type": "Limit",
            "Plans": [{ "Node Type": "Append", "Plans": [
                { "Node Type": "Index Scan", "Relation Name": "interactions_part_a" },
                { "Node Type": "Seq Scan", "Relation Name": "interactions_default" }
            ]}]
        }}]);
        let mut out = Vec::new();
        seq_scans(&plan, &mut out);
        assert_eq!(out, ["interactions_default"]);
    }
}
