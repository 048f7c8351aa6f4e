//! EventCustomReporting from a BP component (`ixn:bp@0.1.1` `report`),
//! stored in the table each logger's `custom-events` names, counted in the
//! tables and files. The components built against `ixn:bp@0.1.0`
//! (`wit/bp-0.1.0`, the hostile fixtures) keep loading beside it.

use std::time::Duration;

use ixn_tests::TestHost;
use serde_json::Value as Json;

/// A `sql` logger on `${data-dir}/<name>.db` with `custom-events` lines.
fn sql_logger(name: &str, custom_events: &str) -> String {
    format!(
        r#"
[[event-logger]]
name = "{name}"
  [event-logger.logger-settings]
  delivery-protocol = "event-log"
  storing-timeout = 500
  [event-logger.sink-settings]
  path = "${{data-dir}}/{name}.db"
  delete-on-stop = false
  [event-logger.custom-events]
  {custom_events}
"#
    )
}

async fn rows(db: &std::path::Path, table: &str) -> i64 {
    ixn_tests::sqlite_count(
        db,
        &format!("SELECT COUNT(*) FROM {table} WHERE event_name = 'EventCustomReporting'"),
    )
    .await
    .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_reports_custom_events_into_the_table_custom_events_names() {
    const VIP: usize = 7;
    const OTHERS: usize = 13;
    let config = ixn_tests::one_step_config(ixn_bp_artifacts::ROUTER, "")
        + "\n[lookup-table.vip-senders]\n\"vip@example.com\" = \"gold\"\n"
        + &sql_logger("unmapped", "")
        + &sql_logger("mapped", "\"1\" = \"interaction\"\n  \"2\" = \"agent\"");
    let host = TestHost::start(&config).await.expect("host starts");
    for i in 0..VIP + OTHERS {
        let mut mail = ixn_tests::email(&format!("report {i}"));
        if i < VIP {
            mail["properties"]["FromAddress"] = Json::from("vip@example.com");
        }
        let (status, body) = host.submit(&mail).await.expect("submit");
        assert_eq!(status, 201, "{body}");
    }
    host.wait_finished("bp.Error", (VIP + OTHERS) as u64, Duration::from_secs(30))
        .await
        .expect("all finish");
    assert_eq!(host.count("bp.Error", "queued").await.expect("count"), 0);
    let TestHost { server, dir, .. } = host;
    server.shutdown().await;
    let data = dir.path().join("data");

    // One report per VIP interaction, in the custom table unless mapped.
    let (unmapped, mapped) = (data.join("unmapped.db"), data.join("mapped.db"));
    assert_eq!(rows(&unmapped, "rpt_custom").await, VIP as i64);
    assert_eq!(rows(&unmapped, "rpt_interaction").await, 0);
    assert_eq!(rows(&mapped, "rpt_interaction").await, VIP as i64);
    assert_eq!(rows(&mapped, "rpt_custom").await, 0);
    assert_eq!(rows(&mapped, "rpt_agent").await, 0);

    // The JSON line: id 182, the custom event id, the strategy, the content,
    // and just before the outcome of the same call.
    let text = std::fs::read_to_string(data.join("events.jsonl")).expect("events file");
    let lines: Vec<Json> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let reports: Vec<(usize, &Json)> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l["event_name"] == "EventCustomReporting")
        .collect();
    assert_eq!(reports.len(), VIP);
    for (at, r) in reports {
        assert_eq!(r["event_id"], 182);
        assert_eq!(r["activity"], "custom");
        assert_eq!(r["fields"]["custom_event_id"], 1);
        assert_eq!(r["fields"]["actor"], "s");
        assert_eq!(r["fields"]["content.Segment"], "gold");
        assert_eq!(r["fields"]["content.FromAddress"], "vip@example.com");
        let next = &lines[at + 1];
        assert_eq!(next["interaction_id"], r["interaction_id"]);
        assert_eq!(
            next["sequence"].as_u64(),
            r["sequence"].as_u64().map(|s| s + 1),
            "the call's outcome follows its report"
        );
    }
}
