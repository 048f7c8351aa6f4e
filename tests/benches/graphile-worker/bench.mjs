#!/usr/bin/env node
// Throughput baseline for ixn: how many jobs/s graphile-worker completes on the
// local PostgreSQL, tuned the way graphile-worker's docs advise for throughput.
//
//   node bench.mjs <postgres-url> <jobs> [schema]
//
// Stdout: exactly one line of JSON,
//   {"jobs":N,"seconds":S,"jobs_per_second":R,"version":"x.y.z","settings":{...}}
// Everything else (graphile-worker's own logs included) goes to stderr.
//
// Optional env: GW_BENCH_SETTINGS='{"concurrentJobs":8}' merges over the
// tuned worker settings below (for sweeps); GW_BENCH_TIMEOUT_S (default 600)
// bounds the timed phase.

import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";
import pg from "pg";

// Don't log one "Completed task" line per job: graphile-worker's own perfTest
// (perfTest/run.js) sets NO_LOG_SUCCESS=1 for its throughput runs. It is read
// when the module loads, hence the dynamic import after setting it.
process.env.NO_LOG_SUCCESS ??= "1";
const { run, runMigrations, Logger } = (await import("graphile-worker")).default;
const version = createRequire(import.meta.url)("graphile-worker/package.json").version;

const [url, jobsArg, schema = "graphile_worker_bench"] = process.argv.slice(2);
const jobs = Number(jobsArg);
if (!url || !Number.isInteger(jobs) || jobs < 1) {
  console.error("usage: node bench.mjs <postgres-url> <jobs> [schema]");
  process.exit(2);
}
// The schema is interpolated into SQL below: allow plain identifiers only.
if (!/^[a-z_][a-z0-9_]*$/.test(schema)) {
  console.error(`schema must match [a-z_][a-z0-9_]*, got ${JSON.stringify(schema)}`);
  process.exit(2);
}
const timeoutMs = 1000 * Number(process.env.GW_BENCH_TIMEOUT_S || 600);
const TASK = "noop";
const ENQUEUE_BATCH = 10_000; // jobs per add_jobs() call

const log = (...args) => console.error("[bench]", ...args);
// graphile-worker's default logger writes info to stdout; keep stdout for the
// JSON result only.
const logger = new Logger(() => (level, message) => {
  if (level !== "debug") console.error(`[graphile-worker] ${level}: ${message}`);
});

// Tuning. Source: https://worker.graphile.org/docs/performance ("Quick stats",
// the configuration behind the docs' ~183k jobs/s figure; the same page's
// "Without batching" run of that setup is the ~15.6k jobs/s figure).
const settings = {
  // "Quick stats" config: 24 concurrent jobs per process and a pool of
  // concurrency + 1 connections (as the docs' perfTest runs it: -j 24 -m 25).
  concurrentJobs: 24,
  maxPoolSize: 25,
  // "Batching": the local queue lets the pool fetch (and lock) up to 500 jobs
  // per query instead of one query per job; the docs say it can raise
  // throughput "sometimes by an order of magnitude". 500 is the Quick stats value.
  localQueue: { size: 500 },
  // "Batching": complete/fail asynchronously so many completions share one
  // round trip; docs: "we'd advise all users to enable these settings, even if
  // they are set to 0 for minimal delay". 0 is the Quick stats value.
  completeJobBatchDelay: 0,
  failJobBatchDelay: 0,
  // Defaults the docs do not ask to change for throughput, recorded for clarity:
  // prepared statements on (disable only for poolers that lack them),
  // PostgreSQL's clock (useNodeTime only matters for clock skew / fake time),
  // pollInterval only governs future-dated jobs and retries (ready jobs are
  // found via LISTEN/NOTIFY and the local queue's refetching).
  preparedStatements: true,
  useNodeTime: false,
  pollInterval: 2000,
  ...JSON.parse(process.env.GW_BENCH_SETTINGS || "{}"),
};

const S = `"${schema}"`;
const admin = new pg.Client({ connectionString: url });
let runner;

async function main() {
  await admin.connect();

  // 1. Fresh schema every run, then graphile-worker's own migrations.
  log(`dropping schema ${schema} and migrating (graphile-worker ${version})`);
  await admin.query(`drop schema if exists ${S} cascade`);
  await runMigrations({ connectionString: url, schema, logger });

  // 2. Enqueue (not timed): add_jobs() in batches, specs built server-side.
  const t_enq = performance.now();
  for (let done = 0; done < jobs; done += ENQUEUE_BATCH) {
    const n = Math.min(ENQUEUE_BATCH, jobs - done);
    await admin.query(
      `select count(*) from ${S}.add_jobs(array(
         select row($1, '{}'::json, null, null, null, null, null, null)::${S}.job_spec
         from generate_series(1, $2)))`,
      [TASK, n],
    );
  }
  // Give the planner real statistics for the freshly filled jobs table so the
  // timed phase is not skewed by autovacuum's analyze kicking in mid-run.
  await admin.query(`analyze ${S}._private_jobs`);
  const { rows } = await admin.query(`select count(*)::int as n from ${S}._private_jobs`);
  if (rows[0].n !== jobs) throw new Error(`enqueued ${rows[0].n} jobs, expected ${jobs}`);
  log(`enqueued ${jobs} jobs in ${((performance.now() - t_enq) / 1000).toFixed(2)}s`);

  // 3. Timed: from starting the worker until the jobs table is empty (i.e. every
  // completion, including the last batched one, is committed).
  let executed = 0;
  let allExecuted;
  const executedAll = new Promise((resolve) => (allExecuted = resolve));
  const taskList = {
    [TASK]: async () => {
      if (++executed === jobs) allExecuted();
    },
  };

  const t0 = performance.now();
  runner = await run({
    logger,
    taskList,
    parsedCronItems: [], // no cron (else it looks for a ./crontab file)
    preset: { worker: { connectionString: url, schema, ...settings } },
  });
  log(`worker started in ${((performance.now() - t0) / 1000).toFixed(3)}s`);

  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs / 1000}s with ${executed}/${jobs} jobs executed`)),
      timeoutMs,
    );
  });
  await Promise.race([executedAll, timeout]);
  // Handlers have all run; wait for the (batched) completions to land.
  while ((await admin.query(`select exists(select 1 from ${S}._private_jobs) as e`)).rows[0].e) {
    await Promise.race([new Promise((r) => setTimeout(r, 2)), timeout]);
  }
  const seconds = (performance.now() - t0) / 1000;
  clearTimeout(timer);

  await runner.stop();
  runner = undefined;

  process.stdout.write(
    JSON.stringify({
      jobs,
      seconds: Number(seconds.toFixed(4)),
      jobs_per_second: Math.round(jobs / seconds),
      version,
      settings,
    }) + "\n",
  );
}

let failed = false;
try {
  await main();
} catch (e) {
  failed = true;
  console.error("[bench] failed:", e);
} finally {
  // 5. Leave nothing behind.
  if (runner) await runner.stop().catch((e) => console.error("[bench] stop:", e));
  await admin.query(`drop schema if exists ${S} cascade`).catch((e) => console.error("[bench] drop:", e));
  await admin.end().catch(() => {});
}
process.exit(failed ? 1 : 0);
