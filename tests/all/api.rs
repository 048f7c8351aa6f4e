//! The HTTP API end to end, on a real host over real HTTP.
//!
//! Every malformed request gets a 4xx whose body is JSON `{"error": "..."}`
//! saying what is wrong, and leaves nothing behind: the queue counts stay as
//! they were and an id the request named is not found afterwards. A good
//! submission comes back from `GET` with every field and property as sent.
//!
//! The host runs a config whose only view is disabled, so a submitted
//! interaction stays queued, untouched, in its entry queue.

use std::time::Duration;

use ixn_tests::TestHost;
use reqwest::Method;
use serde_json::{Value as Json, json};

/// One business process `bp` (queues `bp.In`, `bp.Other`, `bp.Error`) whose
/// only view is disabled, and three custom fields: `Category` (string(8)),
/// `Score` (integer), `DueAt` (timestamp).
fn api_config() -> String {
    format!(
        r#"
[server]
lease-timeout = 30
recovery-interval = 1

[storage]
plugin = "sqlite"
[storage.settings]
path = "${{data-dir}}/ixn.db"

[wasm]
cache-dir = "${{data-dir}}/wasm-cache"
call-timeout-ms = 300
memory-limit-mb = 32
instances-per-component = 1

[custom-fields]
Category = {{ column = "category", type = "string(8)" }}
Score = {{ column = "score", type = "integer" }}
DueAt = {{ column = "due_at", type = "timestamp" }}

[strategy.s]
component = "{component}"

[[business-process]]
name = "bp"
entry-queue = "bp.In"
error-queue = "bp.Error"
  [[business-process.queue]]
  name = "bp.In"
    [[business-process.queue.view]]
    name = "work"
    strategy = "s"
    check-interval = 0.05
    enabled = false
  [[business-process.queue]]
  name = "bp.Other"
  [[business-process.queue]]
  name = "bp.Error"
"#,
        component = ixn_bp_artifacts::HOSTILE_ERR
    )
}

async fn start() -> TestHost {
    TestHost::start(&api_config())
        .await
        .expect("the test host starts")
}

/// An HTTP answer as it came over the wire.
struct Reply {
    status: u16,
    content_type: String,
    text: String,
}

impl Reply {
    /// The `error` text of a JSON error body, or why the body is not one.
    fn error_text(&self) -> Result<String, String> {
        let body: Json = serde_json::from_str(&self.text).map_err(|e| {
            format!(
                "the body is not JSON ({e}); content-type `{}`, body {:?}",
                self.content_type,
                truncate(&self.text)
            )
        })?;
        if !self.content_type.starts_with("application/json") {
            return Err(format!(
                "content-type is `{}`, not application/json",
                self.content_type
            ));
        }
        match body
            .as_object()
            .and_then(|o| o.get("error"))
            .and_then(Json::as_str)
        {
            Some(e) if !e.trim().is_empty() => Ok(e.to_string()),
            _ => Err(format!("the body has no non-empty `error` string: {body}")),
        }
    }

    /// Checks a 4xx JSON error whose text contains every one of `needles`.
    fn check_error(&self, status: u16, needles: &[&str]) -> Result<(), String> {
        let mut problems = Vec::new();
        if self.status != status {
            problems.push(format!("status {} (want {status})", self.status));
        }
        match self.error_text() {
            Ok(e) => {
                let missing: Vec<&&str> = needles.iter().filter(|n| !e.contains(**n)).collect();
                if !missing.is_empty() {
                    problems.push(format!("error {e:?} does not mention {missing:?}"));
                }
            }
            Err(e) => problems.push(e),
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 300 {
        format!("{}…", s.chars().take(300).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Sends any request; `body` goes as `application/json`.
async fn request(host: &TestHost, method: Method, path: &str, body: Option<Vec<u8>>) -> Reply {
    let mut r = host
        .client
        .request(method.clone(), format!("{}{path}", host.base));
    if let Some(body) = body {
        r = r.header("content-type", "application/json").body(body);
    }
    let response = r
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = response
        .text()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: reading the body: {e}"));
    Reply {
        status,
        content_type,
        text,
    }
}

async fn post(host: &TestHost, body: impl Into<Vec<u8>>) -> Reply {
    request(host, Method::POST, "/v1/interactions", Some(body.into())).await
}

async fn get(host: &TestHost, id: &str) -> Reply {
    request(host, Method::GET, &format!("/v1/interactions/{id}"), None).await
}

/// Interactions in any queue and state, from `/v1/queues`.
async fn total(host: &TestHost) -> u64 {
    let rows = host.queues().await.expect("GET /v1/queues");
    rows.iter()
        .map(|r| {
            ["queued", "cached", "routing", "handled", "stopped"]
                .iter()
                .map(|k| r[*k].as_u64().unwrap_or(0))
                .sum::<u64>()
        })
        .sum()
}

/// A malformed submission, what it must answer and what the error must mention.
struct Case {
    what: &'static str,
    body: Vec<u8>,
    status: u16,
    needles: &'static [&'static str],
    /// An id the body names that must not be found afterwards.
    id: Option<&'static str>,
}

fn case(
    what: &'static str,
    body: impl Into<Vec<u8>>,
    status: u16,
    needles: &'static [&'static str],
) -> Case {
    Case {
        what,
        body: body.into(),
        status,
        needles,
        id: None,
    }
}

/// A case whose body is `fields` plus `"id": id`.
fn with_id(
    what: &'static str,
    id: &'static str,
    mut fields: Json,
    status: u16,
    needles: &'static [&'static str],
) -> Case {
    fields["id"] = json!(id);
    Case {
        what,
        body: fields.to_string().into(),
        status,
        needles,
        id: Some(id),
    }
}

fn malformed_submissions() -> Vec<Case> {
    let long_id = "x".repeat(65);
    vec![
        case(
            "invalid JSON (truncated)",
            r#"{"media_type": "email", "properties": {"#,
            400,
            &["invalid submission", "EOF"],
        ),
        case(
            "invalid JSON (not JSON at all)",
            "media_type=email",
            400,
            &["invalid submission", "expected"],
        ),
        case(
            "invalid JSON (trailing comma)",
            r#"{"media_type": "email",}"#,
            400,
            &["invalid submission", "trailing comma"],
        ),
        case(
            "invalid UTF-8",
            b"{\"media_type\": \"\xff\xfe\"}",
            400,
            &["invalid submission"],
        ),
        case("empty body", "", 400, &["invalid submission", "EOF"]),
        case(
            "a number too large for JSON",
            r#"{"media_type": "email", "properties": {"N": 1e400}}"#,
            400,
            &["number out of range"],
        ),
        case(
            "JSON string, not an object",
            r#""email""#,
            400,
            &["invalid type"],
        ),
        case("JSON null, not an object", "null", 400, &["invalid type"]),
        case("JSON number, not an object", "42", 400, &["invalid type"]),
        case(
            "JSON array, not an object",
            r#"["email"]"#,
            400,
            &["invalid"],
        ),
        with_id(
            "missing media_type",
            "bad-no-media",
            json!({ "properties": { "Subject": "x" } }),
            400,
            &["missing field", "media_type"],
        ),
        with_id(
            "blank media_type",
            "bad-blank-media",
            json!({ "media_type": "  " }),
            400,
            &["media_type", "empty"],
        ),
        with_id(
            "media_type not a string",
            "bad-media-type",
            json!({ "media_type": 5 }),
            400,
            &["invalid type"],
        ),
        with_id(
            "unknown field",
            "bad-unknown-field",
            json!({ "media_type": "email", "colour": "red" }),
            400,
            &["unknown field", "colour"],
        ),
        with_id(
            "misspelt field",
            "bad-misspelt",
            json!({ "media_type": "email", "propertes": {} }),
            400,
            &["unknown field", "propertes"],
        ),
        with_id(
            "priority not a number",
            "bad-priority",
            json!({ "media_type": "email", "priority": "high" }),
            400,
            &["invalid type", "high"],
        ),
        with_id(
            "priority beyond i32",
            "bad-priority-range",
            json!({ "media_type": "email", "priority": 3_000_000_000u64 }),
            400,
            &["invalid value"],
        ),
        with_id(
            "properties not an object",
            "bad-props-array",
            json!({ "media_type": "email", "properties": ["a", "b"] }),
            400,
            &["invalid type"],
        ),
        with_id(
            "property value is an array",
            "bad-prop-array",
            json!({ "media_type": "email", "properties": { "Subject": "ok", "Tags": ["a", "b"] } }),
            400,
            &["`Tags`", "not a string, number, boolean"],
        ),
        with_id(
            "property value is an object",
            "bad-prop-object",
            json!({ "media_type": "email", "properties": { "Nested": { "a": 1 } } }),
            400,
            &["`Nested`", "not a string, number, boolean"],
        ),
        with_id(
            "property value is null",
            "bad-prop-null",
            json!({ "media_type": "email", "properties": { "Gone": null } }),
            400,
            &["`Gone`", "null"],
        ),
        with_id(
            "timestamp that is not an integer",
            "bad-prop-ts-text",
            json!({ "media_type": "email", "properties": { "At": { "timestamp": "yesterday" } } }),
            400,
            &["`At`", "timestamp"],
        ),
        with_id(
            "timestamp with a second key",
            "bad-prop-ts-extra",
            json!({ "media_type": "email", "properties": { "At": { "timestamp": 1, "zone": "UTC" } } }),
            400,
            &["`At`", "timestamp"],
        ),
        with_id(
            "unknown queue",
            "bad-queue",
            json!({ "media_type": "email", "queue": "no.such.queue" }),
            400,
            &["no queue", "no.such.queue"],
        ),
        with_id(
            "unknown business process",
            "bad-bp",
            json!({ "media_type": "email", "business_process": "nobody" }),
            400,
            &["no business process", "nobody"],
        ),
        // Issue 6: what other backends cannot store, or what no one meant.
        case(
            "id that walks up a path",
            json!({ "id": "../../etc/passwd", "media_type": "email" }).to_string(),
            400,
            &["id: `../../etc/passwd`", "A-Z a-z 0-9"],
        ),
        case(
            "id with a slash",
            json!({ "id": "a/b", "media_type": "email" }).to_string(),
            400,
            &["id: `a/b`"],
        ),
        with_id(
            "NUL in a property value",
            "nul-value",
            json!({ "media_type": "email", "properties": { "Subject": "a\u{0}b" } }),
            400,
            &["properties.Subject", "NUL"],
        ),
        with_id(
            "NUL in a property key",
            "nul-key",
            json!({ "media_type": "email", "properties": { "Sub\u{0}ject": "x" } }),
            400,
            &["properties: key", "NUL"],
        ),
        with_id(
            "NUL in the tenant",
            "nul-tenant",
            json!({ "media_type": "email", "tenant": "t\u{0}1" }),
            400,
            &["tenant", "NUL"],
        ),
        with_id(
            "NUL in the media type",
            "nul-media",
            json!({ "media_type": "e\u{0}mail" }),
            400,
            &["media_type", "NUL"],
        ),
        with_id(
            "a queue with an unknown business process",
            "queue-unknown-bp",
            json!({ "media_type": "email", "queue": "bp.In", "business_process": "nobody" }),
            400,
            &["business_process", "nobody"],
        ),
        with_id(
            "a queue of another business process",
            "queue-other-bp",
            json!({ "media_type": "email", "queue": "bp.In", "business_process": "other" }),
            400,
            &["business_process", "other"],
        ),
        with_id(
            "an empty property key",
            "empty-key",
            json!({ "media_type": "email", "properties": { "": "x" } }),
            400,
            &["properties", "empty"],
        ),
        case(
            "id with spaces",
            json!({ "id": "has space", "media_type": "email" }).to_string(),
            400,
            &["id: `has space`", "A-Z a-z 0-9"],
        ),
        case(
            "empty id",
            json!({ "id": "", "media_type": "email" }).to_string(),
            400,
            &["id: ``", "1-64"],
        ),
        case(
            "id of 65 characters",
            json!({ "id": long_id, "media_type": "email" }).to_string(),
            400,
            &["1-64"],
        ),
        case(
            "id not ASCII",
            json!({ "id": "идентификатор", "media_type": "email" }).to_string(),
            400,
            &["A-Z a-z 0-9"],
        ),
        case(
            "id not a string",
            json!({ "id": 17, "media_type": "email" }).to_string(),
            400,
            &["invalid type"],
        ),
        // Refused by the storage plugin: a custom field's column type or length.
        with_id(
            "custom integer field given text",
            "bad-custom-type",
            json!({ "media_type": "email", "properties": { "Score": "high" } }),
            422,
            &["Score", "integer"],
        ),
        with_id(
            "custom string field too long",
            "bad-custom-length",
            json!({ "media_type": "email", "properties": { "Category": "much-too-long" } }),
            422,
            &["Category", "longer than"],
        ),
        with_id(
            "custom timestamp field given a float",
            "bad-custom-ts",
            json!({ "media_type": "email", "properties": { "DueAt": 1.5 } }),
            422,
            &["DueAt", "timestamp"],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_submissions_get_a_json_4xx_and_store_nothing() {
    let host = start().await;
    let mut failures = Vec::new();
    for c in malformed_submissions() {
        let reply = post(&host, c.body.clone()).await;
        if let Err(e) = reply.check_error(c.status, c.needles) {
            failures.push(format!(
                "{}: body {}: {e}",
                c.what,
                truncate(&String::from_utf8_lossy(&c.body))
            ));
        }
        if let Some(id) = c.id {
            let after = get(&host, id).await;
            if let Err(e) = after.check_error(404, &[id]) {
                failures.push(format!("{}: GET {id} afterwards: {e}", c.what));
            }
        }
    }
    let stored = total(&host).await;
    if stored != 0 {
        failures.push(format!(
            "{stored} interactions were stored: {:#?}",
            host.queues().await.expect("queues")
        ));
    }
    assert!(
        failures.is_empty(),
        "{} malformed submissions were mishandled:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A JSON array is not a submission object. serde's derived `Deserialize`
/// also accepts a struct as a sequence of its fields in declaration order, so
/// an array with one element per field must be refused too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_positional_json_array_is_not_a_submission() {
    let host = start().await;
    // id, tenant, media_type, interaction_type, interaction_subtype, queue,
    // business_process, priority, external_id, parent_id, submitted_by, properties
    let body = json!([
        "positional-1",
        "default",
        "email",
        "Inbound",
        "",
        null,
        null,
        0,
        null,
        null,
        "api",
        {}
    ]);
    let reply = post(&host, body.to_string()).await;
    let stored = total(&host).await;
    let after = get(&host, "positional-1").await;
    assert!(
        reply.check_error(400, &[]).is_ok() && stored == 0 && after.status == 404,
        "a JSON array was taken as a submission: POST answered {} {}; {stored} interactions stored; \
         GET positional-1 answered {} {}",
        reply.status,
        reply.text,
        after.status,
        after.text
    );
}

/// An integer beyond the 64-bit range must not silently become a float.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_integer_beyond_64_bits_is_refused_not_rounded() {
    let host = start().await;
    let body =
        r#"{"id": "huge-int", "media_type": "email", "properties": {"Big": 18446744073709551615}}"#;
    let reply = post(&host, body).await;
    let after = get(&host, "huge-int").await;
    assert!(
        reply.check_error(400, &["`Big`"]).is_ok() && after.status == 404,
        "u64::MAX as a property: POST answered {} {}; GET answered {} {}",
        reply.status,
        reply.text,
        after.status,
        after.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_id_gets_422_and_the_first_stays_intact() {
    let host = start().await;
    let first = json!({
        "id": "dup-1", "media_type": "email", "priority": 3,
        "properties": { "Subject": "the first", "Score": 1 }
    });
    let (status, body) = host.submit(&first).await.expect("first submit");
    assert_eq!(status, 201, "the first submission is stored: {body}");
    assert_eq!(body, json!({ "id": "dup-1", "queue": "bp.In" }));
    let before = get(&host, "dup-1").await;
    assert_eq!(before.status, 200, "{}", before.text);

    let second = json!({
        "id": "dup-1", "media_type": "chat", "queue": "bp.Other", "priority": 9,
        "properties": { "Subject": "the second", "Score": 2, "Extra": true }
    });
    let reply = post(&host, second.to_string()).await;
    reply
        .check_error(422, &["dup-1", "already exists"])
        .unwrap_or_else(|e| panic!("second submit of dup-1: {e}"));

    let after = get(&host, "dup-1").await;
    assert_eq!(after.status, 200, "{}", after.text);
    assert_eq!(
        after.text, before.text,
        "the first interaction changed after the refused duplicate"
    );
    assert_eq!(
        total(&host).await,
        1,
        "{:#?}",
        host.queues().await.expect("queues")
    );
}

/// Concurrent submissions are stored in one transaction per batch; a batch
/// holding duplicates and refused values must still store exactly the good ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicates_and_bad_values_do_not_sink_good_submissions() {
    let host = start().await;
    let mut tasks = Vec::new();
    for i in 0..60u32 {
        let (client, base) = (host.client.clone(), host.base.clone());
        let body = match i % 3 {
            // Ten tries each of two ids.
            0 => {
                json!({ "id": format!("same-{}", i % 2), "media_type": "email", "properties": { "Subject": "dup" } })
            }
            // Refused by storage: text in an integer column.
            1 => {
                json!({ "id": format!("bad-{i}"), "media_type": "email", "properties": { "Score": "NaN" } })
            }
            _ => {
                json!({ "id": format!("good-{i}"), "media_type": "email", "properties": { "Score": i } })
            }
        };
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(format!("{base}/v1/interactions"))
                .json(&body)
                .send()
                .await
                .expect("submit");
            let status = r.status().as_u16();
            let reply: Json = r.json().await.expect("a JSON answer");
            (body, status, reply)
        }));
    }
    let mut created = 0;
    let mut failures = Vec::new();
    let mut same_ok = [0u32; 2];
    for t in tasks {
        let (body, status, reply) = t.await.expect("task");
        let id = body["id"].as_str().unwrap_or_default().to_string();
        if let Some(n) = id.strip_prefix("same-") {
            match status {
                201 => same_ok[if n == "0" { 0 } else { 1 }] += 1,
                422 if reply["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("already exists")) => {}
                _ => failures.push(format!("{id}: {status} {reply}")),
            }
        } else if id.starts_with("bad-") {
            if status != 422 || !reply["error"].as_str().is_some_and(|e| e.contains("Score")) {
                failures.push(format!("{id}: want 422 naming Score, got {status} {reply}"));
            }
        } else if status != 201 {
            failures.push(format!("{id}: want 201, got {status} {reply}"));
        }
        if status == 201 {
            created += 1;
        }
    }
    if same_ok != [1, 1] {
        failures.push(format!(
            "each duplicated id should be stored exactly once; stored {same_ok:?} times"
        ));
    }
    for i in 0..60u32 {
        let (id, want) = match i % 3 {
            1 => (format!("bad-{i}"), 404),
            2 => (format!("good-{i}"), 200),
            _ => continue,
        };
        let r = get(&host, &id).await;
        if r.status != want {
            failures.push(format!(
                "GET {id}: want {want}, got {} {}",
                r.status, r.text
            ));
        }
    }
    let stored = total(&host).await;
    if stored != created {
        failures.push(format!(
            "{created} submissions answered 201 but {stored} interactions are stored"
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(created, 22, "20 good ones plus one per duplicated id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_errors_are_json() {
    let host = start().await;
    let mut failures = Vec::new();
    let long = "y".repeat(65);
    let cases: Vec<(String, u16, Vec<String>)> = vec![
        (
            "/v1/interactions/0000000000000000".into(),
            404,
            vec!["no interaction `0000000000000000`".into()],
        ),
        (
            "/v1/interactions/never-submitted".into(),
            404,
            vec!["never-submitted".into()],
        ),
        (
            "/v1/interactions/has%20space".into(),
            400,
            vec!["has space".into(), "not an interaction id".into()],
        ),
        (
            format!("/v1/interactions/{long}"),
            400,
            vec!["not an interaction id".into()],
        ),
        (
            "/v1/interactions/%D0%B8%D0%B4".into(),
            400,
            vec!["not an interaction id".into()],
        ),
        // Not UTF-8 once percent-decoded.
        ("/v1/interactions/%FF%FE".into(), 400, vec![]),
    ];
    for (path, status, needles) in cases {
        let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        if let Err(e) = request(&host, Method::GET, &path, None)
            .await
            .check_error(status, &needles)
        {
            failures.push(format!("GET {path}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_get_json_errors() {
    let host = start().await;
    let mut failures = Vec::new();
    let cases: &[(Method, &str, u16)] = &[
        (Method::GET, "/", 404),
        (Method::GET, "/v2/interactions", 404),
        (Method::GET, "/v1/interaction/abc", 404),
        (Method::POST, "/v1/queues/extra", 404),
        (Method::GET, "/v1/interactions/a/b", 404),
        (Method::GET, "/health/", 404),
        (Method::GET, "/v1/interactions/", 404),
        // The path exists, the method does not.
        (Method::GET, "/v1/interactions", 405),
        (Method::DELETE, "/v1/interactions/abc", 405),
        (Method::POST, "/v1/queues", 405),
        (Method::PUT, "/health", 405),
    ];
    for (method, path, status) in cases {
        let body = (*method == Method::POST)
            .then(|| json!({ "media_type": "email" }).to_string().into_bytes());
        if let Err(e) = request(&host, method.clone(), path, body)
            .await
            .check_error(*status, &[])
        {
            failures.push(format!("{method} {path}: {e}"));
        }
    }
    assert_eq!(total(&host).await, 0);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A body over the size limit is refused like any other bad body: a 4xx with a JSON error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_gets_a_json_error() {
    let host = start().await;
    let body = json!({ "id": "huge-body", "media_type": "email", "properties": { "Body": "x".repeat(2 << 20) } });
    let reply = post(&host, body.to_string()).await;
    let checked = match reply.error_text() {
        Ok(_) if (400..500).contains(&reply.status) => Ok(()),
        Ok(e) => Err(format!("status {} with error {e:?}", reply.status)),
        Err(e) => Err(format!("status {}: {e}", reply.status)),
    };
    // The server may close that connection without reading the rest of the
    // body; ask on a fresh one.
    let host = TestHost {
        client: reqwest::Client::new(),
        ..host
    };
    assert_eq!(get(&host, "huge-body").await.status, 404);
    assert_eq!(total(&host).await, 0);
    checked.unwrap_or_else(|e| panic!("a submission of just over 2 MiB: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_comes_back_with_every_value_as_sent() {
    let host = start().await;
    let properties = json!({
        "Subject": "Invoice #42 — overdue",
        "Japanese": "日本語のテキスト、こんにちは世界",
        "Arabic": "مرحبا بالعالم، هذا نص عربي",
        "Emoji": "📧✅ 👍🏽 👨‍👩‍👧‍👦 🇯🇵",
        "Mixed": "abc 日本 عربي 🎉 \u{1}\u{7f}",
        "Escapes": "quote \" backslash \\ newline \n tab \t",
        "Empty": "",
        "件名": "a key in Japanese",
        "Count": 42,
        "Zero": 0,
        "Negative": -7,
        "Max": i64::MAX,
        "Min": i64::MIN,
        "Ratio": 0.125,
        "Pi": std::f64::consts::PI,
        "Tiny": 1e-300,
        "Huge": 1.7976931348623157e308,
        "NegativeFloat": -2.5,
        "WholeFloat": 3.0,
        "Yes": true,
        "No": false,
        "ReceivedAt": { "timestamp": 1_700_000_000_123i64 },
        "Epoch": { "timestamp": 0 },
        "Before1970": { "timestamp": -86_400_000 },
        // Custom fields, stored in their own columns.
        "Category": "日本語テキスト",
        "Score": -12345,
        "DueAt": { "timestamp": 1_800_000_000_000i64 },
    });
    let submission = json!({
        "id": "full-1",
        "tenant": "acme",
        "media_type": "email",
        "interaction_type": "Outbound",
        "interaction_subtype": "Reply",
        "business_process": "bp",
        "priority": -5,
        "external_id": "ext-42",
        "parent_id": "parent-7",
        "submitted_by": "tester",
        "properties": properties,
    });
    let (status, body) = host.submit(&submission).await.expect("submit");
    assert_eq!(status, 201, "{body}");
    assert_eq!(body, json!({ "id": "full-1", "queue": "bp.In" }));

    let (status, got) = host.get("full-1").await.expect("get");
    assert_eq!(status, 200, "{got}");
    for key in [
        "id",
        "tenant",
        "media_type",
        "interaction_type",
        "interaction_subtype",
        "priority",
        "external_id",
        "parent_id",
        "submitted_by",
    ] {
        assert_eq!(
            got[key], submission[key],
            "field `{key}` came back changed: {got:#}"
        );
    }
    assert_eq!(got["queue"], json!("bp.In"));
    assert_eq!(
        got["state"],
        json!(ixn_plugin_api::storage::State::Queued.code()),
        "{got:#}"
    );
    assert_eq!(got["is_locked"], json!(false));
    assert!(
        got["submitted_at"]
            .as_i64()
            .is_some_and(|t| t > 1_600_000_000_000),
        "{got:#}"
    );
    assert_eq!(got["placed_in_queue_at"], got["submitted_at"]);
    for key in [
        "stopped_at",
        "stop_reason",
        "lease_owner",
        "lease_until",
        "assigned_to",
        "workbin",
    ] {
        assert!(
            got[key].is_null(),
            "`{key}` is set on a queued interaction: {got:#}"
        );
    }
    let sent = properties.as_object().expect("an object");
    let came = got["properties"]
        .as_object()
        .expect("properties come back as an object");
    let mut differences = Vec::new();
    for (key, value) in sent {
        match came.get(key) {
            Some(v) if v == value => {}
            Some(v) => differences.push(format!("`{key}`: sent {value}, got {v}")),
            None => differences.push(format!("`{key}`: sent {value}, missing")),
        }
    }
    for key in came.keys().filter(|k| !sent.contains_key(*k)) {
        differences.push(format!("`{key}`: not sent, got {}", came[key]));
    }
    assert!(
        differences.is_empty(),
        "properties came back changed:\n{}",
        differences.join("\n")
    );

    // A minimal submission gets the documented defaults and a generated id.
    let (status, body) = host
        .submit(&json!({ "media_type": "chat", "queue": "bp.Other" }))
        .await
        .expect("submit");
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("an id").to_string();
    assert_eq!(id.len(), 16, "a generated id has 16 characters: {id}");
    assert_eq!(body["queue"], json!("bp.Other"));
    let (status, got) = host.get(&id).await.expect("get");
    assert_eq!(status, 200, "{got}");
    let defaults = json!({
        "id": id, "tenant": "default", "media_type": "chat", "interaction_type": "Inbound",
        "interaction_subtype": "", "queue": "bp.Other", "priority": 0, "external_id": null,
        "parent_id": null, "submitted_by": "api", "properties": {},
    });
    for (key, want) in defaults.as_object().expect("an object") {
        assert_eq!(
            &got[key], want,
            "field `{key}` of a minimal submission: {got:#}"
        );
    }

    // Nothing touched them while we looked: both still queued where they were put.
    assert_eq!(host.count("bp.In", "queued").await.expect("count"), 1);
    assert_eq!(host.count("bp.Other", "queued").await.expect("count"), 1);
    assert_eq!(total(&host).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_ok() {
    let host = start().await;
    let reply = request(&host, Method::GET, "/health", None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body: Json = serde_json::from_str(&reply.text).expect("/health answers JSON");
    assert_eq!(body["status"], json!("ok"), "{body:#}");
    assert_eq!(
        body["storage"].as_str().map(|s| !s.is_empty()),
        Some(true),
        "{body:#}"
    );
    assert_eq!(body["events_produced"], json!(0), "{body:#}");
    let views = body["views"].as_array().expect("views");
    assert_eq!(views.len(), 1, "{body:#}");
    assert_eq!(views[0]["name"], json!("work"));
    assert_eq!(views[0]["claimed"], json!(0));

    // Still ok after traffic, and counting it.
    let (status, _) = host
        .submit(&ixn_tests::email("hello"))
        .await
        .expect("submit");
    assert_eq!(status, 201);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let body: Json =
            serde_json::from_str(&request(&host, Method::GET, "/health", None).await.text)
                .expect("JSON");
        assert_eq!(body["status"], json!("ok"));
        if body["events_produced"].as_u64() >= Some(2) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the submission's events were not counted: {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Issue 7 §1: `GET /v1/config` says which config runs: its generation, the
/// SHA-256 of the file's text, when it was applied, and the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_reports_which_file_runs() {
    use sha2::{Digest, Sha256};
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let host =
        ixn_tests::TestHost::start(&ixn_tests::one_step_config(ixn_bp_artifacts::ROUTER, ""))
            .await
            .expect("host starts");
    let r = host
        .client
        .get(format!("{}/v1/config", host.base))
        .send()
        .await
        .expect("GET /v1/config");
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = r.json().await.expect("JSON");
    let path = host.dir.path().join("ixn.toml");
    let text = std::fs::read(&path).expect("read config");
    let hash: String = Sha256::digest(&text)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v["generation"], 1, "{v}");
    assert_eq!(v["hash"], hash.as_str(), "{v}");
    assert_eq!(v["source"], path.display().to_string().as_str(), "{v}");
    assert!(v["applied_at"].as_i64().is_some_and(|t| t >= before), "{v}");
    assert!(v["last_rejected"].is_null(), "{v}");
    host.server.shutdown().await;
}
