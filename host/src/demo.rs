//! `ixn demo`: the sample business process end to end, through the real HTTP API.
//!
//! Starts the host on the given config in a fresh data directory and on a
//! free port, submits realistic e-mails (several languages and scripts,
//! categories, auto-replies, VIP senders) concurrently, waits until every one
//! has stopped or landed in an error queue, flushes the event loggers and
//! counts what their sinks hold. A database outside the data directory (on
//! PostgreSQL) keeps earlier runs: only what this run adds is counted.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value as Json, json};

use crate::config::{Config, Overrides};
use crate::server::Server;

/// Options of `ixn demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// E-mails to submit.
    #[arg(long, default_value_t = 10_000)]
    pub interactions: usize,
    /// Concurrent HTTP submitters.
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// Seed of the e-mail generator.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Print the summary as one JSON object on the last line.
    #[arg(long)]
    pub json: bool,
    /// Give up when nothing progresses for this many seconds.
    #[arg(long, default_value_t = 120)]
    pub stall_timeout: u64,
}

/// The measured outcome of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DemoSummary {
    /// Interactions accepted by the API.
    pub submitted: usize,
    /// Interactions whose processing stopped.
    pub stopped: u64,
    /// Interactions in error queues.
    pub in_error: u64,
    /// Events the host produced.
    pub events_produced: u64,
    /// The fewest events any logger's sink holds: equal to `events_produced`
    /// only when every sink holds every event. Counted in the sink: a table
    /// or file counts its rows, a broker's events are consumed and counted
    /// by id.
    pub events_logged: u64,
    /// Events each logger's sink holds (distinct ids, for a broker).
    pub events_logged_by_logger: serde_json::Map<String, Json>,
    /// Copies of events a broker delivered more than once (at-least-once
    /// sinks after a retry), per broker logger.
    pub events_duplicated_by_logger: serde_json::Map<String, Json>,
    /// Stopped interactions per queue they stopped in.
    pub stopped_by_queue: serde_json::Map<String, Json>,
    /// Wall time from the first submission to the last stop.
    pub elapsed_ms: u128,
    /// `submitted / elapsed`.
    pub interactions_per_sec: f64,
}

/// Runs the demo and prints its summary; fails unless every interaction stopped
/// cleanly and every sink holds every event.
pub async fn run(config_path: &Path, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let summary = run_demo(config_path, &args).await?;
    print_summary(&summary, args.json);
    let logged_all = summary.events_logged == summary.events_produced;
    if summary.stopped as usize != summary.submitted || summary.in_error != 0 || !logged_all {
        eprintln!(
            "demo FAILED: not every interaction stopped cleanly, or a sink is missing events"
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs the demo and returns what it measured.
pub async fn run_demo(config_path: &Path, args: &DemoArgs) -> anyhow::Result<DemoSummary> {
    let probe = Config::load(config_path)?;
    let data_dir = probe.server.data_dir.join("demo");
    if data_dir.exists() {
        std::fs::remove_dir_all(&data_dir)
            .with_context(|| format!("clearing {}", data_dir.display()))?;
    }
    let overrides = Overrides {
        data_dir: Some(data_dir),
        listen: Some(([127, 0, 0, 1], 0).into()),
    };
    let config = Config::load_with(config_path, &overrides)?;
    let server = Server::start(config, &crate::builtins::registry()).await?;
    // Subscribed before the first event: an MQTT broker keeps nothing for a
    // subscriber that was not there.
    let mut consumers = std::collections::BTreeMap::new();
    for logger in &server.config().event_loggers {
        if let Some(bodies) = consume::start(logger).await? {
            consumers.insert(logger.name.clone(), bodies);
        }
    }
    let result = drive(&server, args).await;
    let bus = server.bus().clone();
    server.shutdown().await;
    let mut summary = result?;
    summary.events_produced = bus.produced();
    let mut fewest = None::<u64>;
    for logger in bus.loggers() {
        let wanted = summary.events_produced - logger.stats().filtered.load(Ordering::Relaxed);
        let count = match consumers.get_mut(logger.name()) {
            Some(bodies) => {
                let tally =
                    ixn_broker::tally::count(bodies, bus.origin(), wanted, Duration::from_secs(10))
                        .await;
                summary
                    .events_duplicated_by_logger
                    .insert(logger.name().to_string(), json!(tally.duplicates));
                Some(tally.distinct)
            }
            None => logger
                .stored_count()
                .await
                .with_context(|| format!("counting the sink of `{}`", logger.name()))?,
        };
        fewest = Some(fewest.unwrap_or(u64::MAX).min(count.unwrap_or(0)));
        summary
            .events_logged_by_logger
            .insert(logger.name().to_string(), json!(count));
    }
    summary.events_logged = fewest.unwrap_or(0);
    Ok(summary)
}

/// Reading a broker logger's events back, to count them.
mod consume {
    use tokio::sync::mpsc::UnboundedReceiver;

    use crate::config::EventLoggerConfig;

    /// A consumer of the logger's queue, subject or topic; `None` for a
    /// sink that counts what it holds itself (a table, a file).
    pub async fn start(
        logger: &EventLoggerConfig,
    ) -> anyhow::Result<Option<UnboundedReceiver<Vec<u8>>>> {
        let doc = logger.sink_settings.as_str();
        let bodies = match logger.protocol.as_str() {
            "amqp" => ixn_sink_amqp::consume::start(doc).await,
            "nats" => ixn_sink_nats::consume::start(doc, true).await,
            "mqtt" => ixn_sink_mqtt::consume::start(doc).await,
            _ => return Ok(None),
        };
        bodies
            .map(Some)
            .map_err(|e| anyhow::anyhow!("event logger `{}`: {e}", logger.name))
    }
}

/// The rows of `GET /v1/queues`: per queue, its counts by state and stopped.
async fn queue_counts(client: &reqwest::Client, base: &str) -> anyhow::Result<Vec<Json>> {
    let counts: Json = client
        .get(format!("{base}/v1/queues"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(counts["queues"].as_array().cloned().unwrap_or_default())
}

async fn drive(server: &Server, args: &DemoArgs) -> anyhow::Result<DemoSummary> {
    let base = format!("http://{}", server.addr());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()?;
    let mails: Arc<Vec<Json>> = Arc::new(generate(args.interactions, args.seed));
    let error_queues: Vec<String> = server
        .config()
        .business_processes
        .iter()
        .map(|b| b.error_queue.clone())
        .collect();

    // What a database that outlives the data directory (PostgreSQL) holds
    // from earlier runs is not this run's: it is counted before and taken off.
    let before = queue_counts(&client, &base).await?;
    let earlier = |rows: &[Json], queue: &Json, column: &str| -> u64 {
        rows.iter()
            .find(|r| &r["queue"] == queue)
            .and_then(|r| r[column].as_u64())
            .unwrap_or(0)
    };

    let bar = indicatif::ProgressBar::new(args.interactions as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} finished  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let mut submitters = Vec::new();
    for _ in 0..args.clients.max(1) {
        let (client, mails, next, accepted, url) = (
            client.clone(),
            mails.clone(),
            next.clone(),
            accepted.clone(),
            format!("{base}/v1/interactions"),
        );
        submitters.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(mail) = mails.get(i) else {
                    return Ok::<(), anyhow::Error>(());
                };
                let resp = client
                    .post(&url)
                    .json(mail)
                    .send()
                    .await
                    .context("submitting")?;
                if resp.status() != reqwest::StatusCode::CREATED {
                    bail!(
                        "submission {i} refused: {} {}",
                        resp.status(),
                        resp.text().await.unwrap_or_default()
                    );
                }
                accepted.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    let mut last_progress = (0u64, Instant::now());
    let (stopped, in_error, by_queue) = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let rows = queue_counts(&client, &base).await?;
        let this_run = |r: &Json, column: &str| {
            r[column]
                .as_u64()
                .unwrap_or(0)
                .saturating_sub(earlier(&before, &r["queue"], column))
        };
        let stopped: u64 = rows.iter().map(|r| this_run(r, "stopped")).sum();
        let in_error: u64 = rows
            .iter()
            .filter(|r| error_queues.iter().any(|q| r["queue"] == json!(q)))
            .map(|r| this_run(r, "queued"))
            .sum();
        let by_queue: serde_json::Map<String, Json> = rows
            .iter()
            .filter(|r| this_run(r, "stopped") > 0)
            .filter_map(|r| {
                Some((
                    r["queue"].as_str()?.to_string(),
                    json!(this_run(r, "stopped")),
                ))
            })
            .collect();
        let done = stopped + in_error;
        bar.set_position(done);
        bar.set_message(format!(
            "{} submitted, {} in error",
            accepted.load(Ordering::Relaxed),
            in_error
        ));
        if done as usize >= args.interactions
            && accepted.load(Ordering::Relaxed) >= args.interactions
        {
            break (stopped, in_error, by_queue);
        }
        if done != last_progress.0 {
            last_progress = (done, Instant::now());
        } else if last_progress.1.elapsed() > Duration::from_secs(args.stall_timeout) {
            bar.abandon();
            bail!(
                "no progress for {} s: {done} of {} finished",
                args.stall_timeout,
                args.interactions
            );
        }
        if submitters.iter().all(|s| s.is_finished())
            && accepted.load(Ordering::Relaxed) < args.interactions
        {
            break (stopped, in_error, by_queue);
        }
    };
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    for s in submitters {
        s.await.context("submitter task")??;
    }
    let submitted = accepted.load(Ordering::Relaxed);
    Ok(DemoSummary {
        submitted,
        stopped,
        in_error,
        events_produced: 0,
        events_logged: 0,
        events_logged_by_logger: serde_json::Map::new(),
        events_duplicated_by_logger: serde_json::Map::new(),
        stopped_by_queue: by_queue,
        elapsed_ms: elapsed.as_millis(),
        interactions_per_sec: submitted as f64 / elapsed.as_secs_f64().max(1e-9),
    })
}

fn print_summary(s: &DemoSummary, as_json: bool) {
    println!(
        "ixn demo: {} e-mails submitted through the HTTP API, sample business process run to completion",
        s.submitted
    );
    println!("  stopped            {}", s.stopped);
    println!("  in error queues    {}", s.in_error);
    for (q, n) in &s.stopped_by_queue {
        println!("    stopped in {q:<20} {n}");
    }
    println!("  events produced    {}", s.events_produced);
    for (l, n) in &s.events_logged_by_logger {
        match s.events_duplicated_by_logger.get(l) {
            Some(d) => println!(
                "  events in sink of {l:<16} {n} (consumed from the broker; {d} duplicates)"
            ),
            None => println!("  events in sink of {l:<16} {n}"),
        }
    }
    println!(
        "  elapsed            {} ms ({:.0} interactions/s end to end)",
        s.elapsed_ms, s.interactions_per_sec
    );
    if as_json {
        println!(
            "{}",
            serde_json::to_string(s).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        );
    }
}

struct Template {
    subject: &'static str,
    body: &'static str,
}

/// (category hint, language, subject, body) — the classifier decides for itself.
const MAILS: &[(&str, Template)] = &[
    (
        "en",
        Template {
            subject: "Question about my invoice #{n}",
            body: "Hello, I was charged twice on my last invoice. Could you refund the duplicate payment?",
        },
    ),
    (
        "en",
        Template {
            subject: "App crashes on startup",
            body: "Since the last update the app shows an error and crashes. Please help, it is not working.",
        },
    ),
    (
        "en",
        Template {
            subject: "Pricing for 50 licences",
            body: "We would like a quote for an enterprise plan and a demo for our team.",
        },
    ),
    (
        "en",
        Template {
            subject: "Change of address",
            body: "Please update my postal address in your records. Thanks.",
        },
    ),
    (
        "en",
        Template {
            subject: "Out of office: back on Monday",
            body: "I am currently out of the office with limited access to e-mail.",
        },
    ),
    (
        "de",
        Template {
            subject: "Frage zu meiner Rechnung {n}",
            body: "Guten Tag, die Rechnung ist falsch, bitte um Erstattung der Zahlung.",
        },
    ),
    (
        "de",
        Template {
            subject: "Fehler beim Login",
            body: "Ich kann mich nicht anmelden, das Passwort funktioniert nicht und die Seite zeigt einen Fehler.",
        },
    ),
    (
        "de",
        Template {
            subject: "Abwesenheitsnotiz",
            body: "Ich bin bis zum 3. nicht im Büro. Ihre Nachricht wird nicht weitergeleitet.",
        },
    ),
    (
        "fr",
        Template {
            subject: "Facture incorrecte {n}",
            body: "Bonjour, ma facture contient une erreur de paiement, merci de me rembourser.",
        },
    ),
    (
        "fr",
        Template {
            subject: "Demande de devis",
            body: "Bonjour, pourriez-vous nous envoyer un devis et les tarifs pour votre offre ?",
        },
    ),
    (
        "es",
        Template {
            subject: "Problema con la factura {n}",
            body: "Hola, el pago de mi factura se cobró dos veces. ¿Pueden devolver el importe?",
        },
    ),
    (
        "es",
        Template {
            subject: "La aplicación no funciona",
            body: "Hola, la aplicación da un error al iniciar sesión desde ayer.",
        },
    ),
    (
        "ru",
        Template {
            subject: "Вопрос по счёту {n}",
            body: "Здравствуйте, по счёту прошла двойная оплата, верните, пожалуйста, деньги.",
        },
    ),
    (
        "ru",
        Template {
            subject: "Ошибка в приложении",
            body: "Приложение не работает и выдаёт ошибку при входе.",
        },
    ),
    (
        "ja",
        Template {
            subject: "請求書について {n}",
            body: "お世話になっております。請求書の金額が間違っているようです。返金をお願いします。",
        },
    ),
    (
        "ja",
        Template {
            subject: "ログインできません",
            body: "アプリでエラーが表示され、ログインできません。",
        },
    ),
    (
        "ar",
        Template {
            subject: "استفسار عن فاتورة {n}",
            body: "مرحبا، تم خصم المبلغ مرتين من الفاتورة، أرجو استرداد الدفعة.",
        },
    ),
    (
        "ar",
        Template {
            subject: "طلب عرض سعر",
            body: "نرغب في الحصول على عرض سعر لخمسين مستخدما.",
        },
    ),
];

const SENDERS: &[&str] = &[
    "anna.schmidt@example.de",
    "j.martin@example.fr",
    "carlos@example.es",
    "olga@example.ru",
    "tanaka@example.jp",
    "layla@example.ae",
    "pat@example.com",
    "ceo@bigcustomer.example",
    "cfo@bigcustomer.example",
];

/// `n` e-mail submissions, deterministic for a seed.
pub fn generate(n: usize, seed: u64) -> Vec<Json> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let (lang, t) = &MAILS[rng.random_range(0..MAILS.len())];
            let from = SENDERS[rng.random_range(0..SENDERS.len())];
            let number = format!("{}", 10_000 + rng.random_range(0..90_000));
            json!({
                "media_type": "email",
                "interaction_type": "Inbound",
                "interaction_subtype": "InboundNew",
                "priority": rng.random_range(0..5),
                "submitted_by": "demo-mail-server",
                "external_id": format!("<demo-{seed}-{i}@mail.example>"),
                "properties": {
                    "Subject": t.subject.replace("{n}", &number),
                    "Body": t.body,
                    "FromAddress": from,
                    "Mailbox": "support@example.com",
                    "ExpectedLanguage": lang,
                },
            })
        })
        .collect()
}
