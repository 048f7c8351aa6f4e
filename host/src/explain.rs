//! `ixn explain-views`: each view's claim SELECT on the PostgreSQL storage,
//! exactly as a claim sends it, with PostgreSQL's plan and a warning where
//! the plan reads a large table or partition sequentially — the seed's
//! "analyze the execution plans of the SQL statements", done for the user.

use std::path::Path;

use ixn_plugin_api::storage::{ClaimRequest, State};
use ixn_storage_postgres::ViewPlan;

use crate::config::Config;

/// The plans of every view of the config at `config_path`, in config order.
pub async fn run(config_path: &Path) -> anyhow::Result<Vec<ViewPlan>> {
    let config = Config::load(config_path)?;
    crate::partitions::ensure_postgres(&config, "explain-views")?;
    let views = config
        .views()
        .map(|v| {
            let name = format!("{} (queue {})", v.name, v.queue);
            let request = ClaimRequest {
                queue: v.queue.clone(),
                state: State::Routing,
                condition: v.condition.clone(),
                order: v.order.clone(),
                limit: v.limit,
                owner: "explain".into(),
                lease_ms: 0,
                now: crate::time::now_ms(),
            };
            (name, request)
        })
        .collect();
    ixn_storage_postgres::explain_views(
        &config.storage_settings,
        config.custom_fields.clone(),
        views,
    )
    .await
    .map_err(anyhow::Error::msg)
}

/// The plans as text; the warnings last, counted.
pub fn report(plans: &[ViewPlan]) -> String {
    let mut out = String::new();
    for p in plans {
        out.push_str(&format!("view {}\n  {}\n", p.view, p.sql));
        for line in p.plan.lines() {
            out.push_str(&format!("    {line}\n"));
        }
        for w in &p.warnings {
            out.push_str(&format!("  WARNING: {w}\n"));
        }
        out.push('\n');
    }
    let warned = plans.iter().map(|p| p.warnings.len()).sum::<usize>();
    out.push_str(&format!(
        "{} view(s) explained, {warned} sequential scan(s) of a large relation\n",
        plans.len()
    ));
    out
}
