/**
 * `npm run bench [-- flags]`: the engine's benchmarks (SPEC §3). Prints one markdown table.
 *
 * Workloads (the shapes of the reference's examples/performance): `simple` (1 task), `pipeline` (3-task
 * chain a → b → c, each adding 1), `parallel` (setup → 3 branches → merge) — N executions submitted at
 * once (`runner.start` N times concurrently, each then waited on) with `maxConcurrentTasks` = C — and
 * `latency`: one 3-task chain at a time, `runner.execute` call → resolution, after a random 0–20 ms idle
 * pause so it does not ride a poller's phase.
 *
 * Every repetition uses a fresh database (a SQLite temp file / a fresh PostgreSQL schema, dropped after),
 * runs a verified warm-up first, then measures. Every result is checked (status, every task Completed
 * once, final-context keys and values); one wrong result and the run prints no figure and exits 1.
 * Each backend's baseline — single-row INSERT autocommit transactions on one connection — is measured in
 * the same run, interleaved with the workloads, and the engine's figures are given as ratios to it.
 *
 * Flags: --backend sqlite|postgres|both, --workload latency,simple,pipeline,parallel, -n, -c, --runs,
 * --reps, --pg-url, --out FILE, --quick (smoke), --timeout SECONDS (per measured phase), --sql-profile (time
 * every statement and print the costliest to stderr; adds overhead, so its run's figures are not comparable).
 */
import Database from "better-sqlite3";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import pg from "pg";
import { DefaultRunner, type Logger, type WorkflowResult } from "../src/index.js";
import { pgBaseline, sqliteBaseline, type BaselineResult } from "./baseline.js";
import { enableSqlProfile, installCounters, sqlProfile, sqlitePragmas, startCounting, stopCounting, type SqlCounts } from "./counters.js";
import { ALL_WORKFLOWS, WORKLOADS, type Workload, type WorkloadName } from "./workloads.js";

// ------------------------------------------------------------------ flags

type Backend = "sqlite" | "postgres";
type BenchName = WorkloadName | "latency";
const BENCH_NAMES: readonly BenchName[] = ["latency", "simple", "pipeline", "parallel"];

const USAGE = `usage: npm run bench -- [--backend sqlite|postgres|both] [--workload latency,simple,pipeline,parallel]
                       [-n 150] [-c 32] [--runs 200] [--reps 3] [--pg-url URL] [--out FILE] [--quick] [--timeout 120] [--sql-profile]`;

function fail(message: string, code = 2): never {
  process.stderr.write(`bench: ${message}\n${code === 2 ? `${USAGE}\n` : ""}`);
  process.exit(code);
}

let parsed: ReturnType<typeof parseFlags>;
function parseFlags() {
  return parseArgs({
    options: {
      backend: { type: "string", default: "both" },
      workload: { type: "string", default: BENCH_NAMES.join(",") },
      n: { type: "string", short: "n" },
      c: { type: "string", short: "c" },
      runs: { type: "string" },
      reps: { type: "string" },
      "pg-url": { type: "string", default: "postgresql://postgres@127.0.0.1:5432/test" },
      out: { type: "string" },
      quick: { type: "boolean", default: false },
      timeout: { type: "string", default: "120" },
      "sql-profile": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
}
try {
  parsed = parseFlags();
} catch (err) {
  fail((err as Error).message);
}
const flags = parsed.values;
if (flags.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

function intFlag(name: string, value: string | undefined, dflt: number, min = 1): number {
  if (value === undefined) return dflt;
  const v = Number(value);
  if (!Number.isInteger(v) || v < min) fail(`--${name} must be an integer ≥ ${min} (got "${value}")`);
  return v;
}

const quick = flags.quick ?? false;
const N = intFlag("n", flags.n, quick ? 100 : 150);
const C = intFlag("c", flags.c, 32);
const RUNS = intFlag("runs", flags.runs, quick ? 100 : 200);
const REPS = intFlag("reps", flags.reps, quick ? 1 : 3);
const TIMEOUT_MS = intFlag("timeout", flags.timeout, 120) * 1000;
const BASELINE_MS = quick ? 300 : 1000;
const WARMUP_WORKFLOWS = Math.min(N, quick ? 5 : 20);
const WARMUP_RUNS = quick ? 5 : 10;
const PG_URL = flags["pg-url"] ?? "postgresql://postgres@127.0.0.1:5432/test";

const backends: Backend[] =
  flags.backend === "both" ? ["sqlite", "postgres"] : flags.backend === "sqlite" || flags.backend === "postgres" ? [flags.backend] : fail(`--backend must be sqlite, postgres or both (got "${flags.backend}")`);
const benches: BenchName[] = [];
for (const w of (flags.workload ?? "").split(",").map((s) => s.trim()).filter(Boolean)) {
  if (!(BENCH_NAMES as readonly string[]).includes(w)) fail(`unknown workload "${w}" (accepted: ${BENCH_NAMES.join(", ")})`);
  if (!benches.includes(w as BenchName)) benches.push(w as BenchName);
}
if (!benches.length) fail("--workload names no workload");

// ------------------------------------------------------------------ helpers

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const log = (msg: string) => process.stderr.write(`${msg}\n`);

function percentile(values: readonly number[], p: number): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
const median = (values: readonly number[]) => percentile(values, 50);

/** Rejects after `ms` with a message naming what hung. */
async function withTimeout<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer after ${ms / 1000} s (hang?)`)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

/** Wrong results and engine complaints; any wrong result suppresses every figure. */
const errors: string[] = [];
const warnings: string[] = [];

function collectingLogger(where: () => string): Logger {
  const keep = (level: string) => (obj: object, msg?: string) =>
    warnings.push(`${where()}: engine ${level}: ${msg ?? ""} ${JSON.stringify(obj)}`);
  return { debug: () => undefined, info: () => undefined, warn: keep("warn"), error: keep("error") };
}

// ------------------------------------------------------------------ runners on fresh databases

interface Opened {
  runner: DefaultRunner;
  close(): Promise<void>;
  /** Settings observed (SQLite: PRAGMAs the driver issued and the journal mode found in the file). */
  settings(): string;
}

let phase = "";

async function openRunner(backend: Backend): Promise<Opened> {
  const options = {
    maxConcurrentTasks: C,
    workflowTimeoutSeconds: TIMEOUT_MS / 1000,
    workflows: ALL_WORKFLOWS,
    logger: collectingLogger(() => phase),
  };
  if (backend === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "cloaca-bench-"));
    const file = join(dir, "bench.db");
    sqlitePragmas.length = 0;
    const runner = await DefaultRunner.connect(`sqlite:///${file}`, options); // "sqlite:////tmp/…": absolute path
    const pragmas = sqlitePragmas.filter((p) => /=/.test(p)).map((p) => p.replace(/\s+/g, ""));
    return {
      runner,
      async close() {
        await runner.shutdown({ timeoutMs: 5_000 });
        rmSync(dir, { recursive: true, force: true });
      },
      settings() {
        const db = new Database(file, { readonly: true });
        const mode = String(db.pragma("journal_mode", { simple: true }));
        db.close();
        return `engine set ${pragmas.join(", ")}; file journal_mode=${mode}`;
      },
    };
  }
  const schema = `bench_${randomBytes(6).toString("hex")}`;
  const runner = DefaultRunner.withSchema(PG_URL, schema, options);
  const drop = async () => {
    const admin = new pg.Client({ connectionString: PG_URL, application_name: "cloaca-bench-admin" });
    await admin.connect();
    try {
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await admin.end();
    }
  };
  try {
    await runner.ready();
  } catch (err) {
    await runner.shutdown({ timeoutMs: 0 }).catch(() => undefined);
    await drop().catch(() => undefined);
    throw err;
  }
  return {
    runner,
    async close() {
      await runner.shutdown({ timeoutMs: 5_000 });
      await drop();
    },
    settings: () => `schema ${schema}`,
  };
}

// ------------------------------------------------------------------ measurements

interface Measured {
  /** Executions measured. */
  executions: number;
  /** Tasks they ran. */
  tasks: number;
  elapsedMs: number;
  /** Per execution: submit → verified result. */
  latenciesMs: number[];
  counts: SqlCounts;
  cpuUs: number;
}

function check(where: string, w: Workload, result: WorkflowResult, input: Record<string, number>): void {
  const wrong = w.verify(result, input);
  if (wrong) errors.push(`${where}: execution ${result.executionId} (input ${JSON.stringify(input)}): ${wrong}`);
}

/** N executions submitted at once; each is started, then waited on; the clock stops at the last result. */
async function throughput(runner: DefaultRunner, w: Workload, n: number, first: number, where: string): Promise<Measured> {
  const latenciesMs: number[] = [];
  const one = async (i: number) => {
    const input = w.input(i);
    const s = performance.now();
    try {
      const exec = await runner.start(w.workflow.name, input);
      const result = await exec.wait({ timeoutMs: TIMEOUT_MS });
      latenciesMs.push(performance.now() - s);
      check(where, w, result, input);
    } catch (err) {
      errors.push(`${where}: execution with input ${JSON.stringify(input)} threw: ${(err as Error).stack ?? String(err)}`);
    }
  };
  const cpu0 = process.cpuUsage();
  startCounting();
  const t0 = performance.now();
  await withTimeout(where, TIMEOUT_MS + 10_000, Promise.all(Array.from({ length: n }, (_, k) => one(first + k))));
  const elapsedMs = performance.now() - t0;
  const counts = stopCounting();
  const cpu = process.cpuUsage(cpu0);
  return { executions: n, tasks: n * w.tasks, elapsedMs, latenciesMs, counts, cpuUs: cpu.user + cpu.system };
}

/** One 3-task chain at a time: `execute` call → resolution, after a random 0–20 ms idle pause. */
async function latency(runner: DefaultRunner, runs: number, first: number, where: string): Promise<Measured> {
  const w = WORKLOADS.pipeline;
  const latenciesMs: number[] = [];
  let busyMs = 0;
  const loop = async () => {
    for (let r = 0; r < runs; r++) {
      await sleep(Math.random() * 20);
      const input = w.input(first + r);
      const s = performance.now();
      let result: WorkflowResult;
      try {
        result = await runner.execute(w.workflow.name, input);
      } catch (err) {
        errors.push(`${where}: execution with input ${JSON.stringify(input)} threw: ${(err as Error).stack ?? String(err)}`);
        return;
      }
      const ms = performance.now() - s;
      busyMs += ms;
      latenciesMs.push(ms);
      check(where, w, result, input);
    }
  };
  const cpu0 = process.cpuUsage();
  startCounting();
  await withTimeout(where, runs * 30 + TIMEOUT_MS, loop());
  const counts = stopCounting();
  const cpu = process.cpuUsage(cpu0);
  return { executions: runs, tasks: runs * w.tasks, elapsedMs: busyMs, latenciesMs, counts, cpuUs: cpu.user + cpu.system };
}

// ------------------------------------------------------------------ the run

interface Row {
  backend: Backend;
  bench: BenchName | "baseline";
  reps: Measured[];
  baselines: BaselineResult[];
}
const rows = new Map<string, Row>();
function row(backend: Backend, bench: BenchName | "baseline"): Row {
  const k = `${backend}/${bench}`;
  let r = rows.get(k);
  if (!r) rows.set(k, (r = { backend, bench, reps: [], baselines: [] }));
  return r;
}
const settingsSeen = new Map<Backend, Set<string>>();

async function pgInfo(): Promise<string> {
  const client = new pg.Client({ connectionString: PG_URL, application_name: "cloaca-bench-admin", connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
  } catch (err) {
    fail(`cannot connect to PostgreSQL at ${PG_URL}: ${(err as Error).message}`, 1);
  }
  try {
    const get = async (s: string) => String(((await client.query(`SHOW ${s}`)).rows[0] as Record<string, unknown>)[s]);
    return `PostgreSQL ${await get("server_version")}, synchronous_commit=${await get("synchronous_commit")}, fsync=${await get("fsync")}, wal_sync_method=${await get("wal_sync_method")}`;
  } finally {
    await client.end();
  }
}

async function main(): Promise<number> {
  installCounters();
  if (flags["sql-profile"]) enableSqlProfile();
  const started = Date.now();
  const pgDescription = backends.includes("postgres") ? await pgInfo() : undefined;
  let index = 0; // inputs are unique across the whole run, so a crossed-over result is caught

  for (let rep = 1; rep <= REPS; rep++) {
    for (const backend of backends) {
      phase = `${backend} baseline rep ${rep}`;
      const b =
        backend === "postgres"
          ? await pgBaseline(PG_URL, `bench_${randomBytes(6).toString("hex")}`, BASELINE_MS)
          : (() => {
              const dir = mkdtempSync(join(tmpdir(), "cloaca-bench-"));
              try {
                return sqliteBaseline(dir, BASELINE_MS);
              } finally {
                rmSync(dir, { recursive: true, force: true });
              }
            })();
      row(backend, "baseline").baselines.push(b);
      log(`[${phase}] ${b.commits} commits, p50 ${percentile(b.latenciesMs, 50).toFixed(2)} ms`);

      for (const bench of benches) {
        phase = `${backend} ${bench} rep ${rep}/${REPS}`;
        const t = performance.now();
        const opened = await withTimeout(`${phase}: connect`, 60_000, openRunner(backend));
        let m: Measured;
        try {
          if (bench === "latency") {
            const warm = await latency(opened.runner, WARMUP_RUNS, index, `${phase} warm-up`);
            index += warm.executions;
            m = await latency(opened.runner, RUNS, index, phase);
          } else {
            const w = WORKLOADS[bench];
            const warm = await throughput(opened.runner, w, WARMUP_WORKFLOWS, index, `${phase} warm-up`);
            index += warm.executions;
            m = await throughput(opened.runner, w, N, index, phase);
          }
          index += m.executions;
        } finally {
          const s = settingsSeen.get(backend) ?? new Set();
          s.add(opened.settings());
          settingsSeen.set(backend, s);
          await withTimeout(`${phase}: shutdown`, 30_000, opened.close());
        }
        row(backend, bench).reps.push(m);
        const took = `${((performance.now() - t) / 1000).toFixed(1)} s incl. setup`;
        if (errors.length) log(`[${phase}] ${errors.length} WRONG RESULT(S) (${took})`);
        else if (bench === "latency") log(`[${phase}] p50 ${median(m.latenciesMs).toFixed(2)} ms (${took})`);
        else log(`[${phase}] ${(m.tasks / (m.elapsedMs / 1000)).toFixed(0)} tasks/s (${took})`);
        if (errors.length) return report(started, pgDescription);
      }
    }
  }
  return report(started, pgDescription);
}

// ------------------------------------------------------------------ the table

function fmt(x: number, digits?: number): string {
  if (!Number.isFinite(x)) return "—";
  if (digits !== undefined) return x.toFixed(digits);
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : x.toFixed(2);
}
const spread = (values: number[]) => (values.length > 1 ? `${fmt(Math.min(...values))}–${fmt(Math.max(...values))}` : "—");

function report(started: number, pgDescription: string | undefined): number {
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
  if (errors.length) {
    const lines = [
      `bench: ${errors.length} wrong result(s) — no figures printed (${command})`,
      ...errors.slice(0, 20).map((e) => `  - ${e}`),
      ...(errors.length > 20 ? [`  … and ${errors.length - 20} more`] : []),
      ...warnings.slice(0, 20).map((w) => `  warning: ${w}`),
    ];
    process.stderr.write(`${lines.join("\n")}\n`);
    process.stdout.write(`no figures: ${errors.length} wrong result(s); see stderr\n`);
    if (flags.out) writeFileSync(flags.out, `${lines.join("\n")}\n`);
    return 1;
  }

  const header = [
    "| backend | workload | N | C | wf/s | tasks/s | p50 ms | p95 ms | vs baseline (same run) | tasks/s min–max | SQL stmts/task | round trips/task | commits/task | node CPU ms/task |",
    "|---|---|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|",
  ];
  const lines: string[] = [];
  for (const backend of backends) {
    const base = rows.get(`${backend}/baseline`)!;
    const commitRate = median(base.baselines.map((b) => b.commits / (b.elapsedMs / 1000)));
    const commitP50 = median(base.baselines.map((b) => percentile(b.latenciesMs, 50)));
    const commitP95 = median(base.baselines.map((b) => percentile(b.latenciesMs, 95)));
    lines.push(
      `| ${backend} | baseline: 1-row INSERT, autocommit, 1 connection | ${fmt(median(base.baselines.map((b) => b.commits)), 0)} | 1 | — | ${fmt(commitRate)} commits/s | ${fmt(commitP50)} | ${fmt(commitP95)} | 1 commit | ${spread(base.baselines.map((b) => b.commits / (b.elapsedMs / 1000)))} | 1 | 1 | 1 | — |`,
    );
    for (const bench of benches) {
      const r = rows.get(`${backend}/${bench}`);
      if (!r) continue;
      const per = (f: (m: Measured) => number) => median(r.reps.map(f));
      const tasksPerSec = r.reps.map((m) => m.tasks / (m.elapsedMs / 1000));
      const p50 = per((m) => percentile(m.latenciesMs, 50));
      const p95 = per((m) => percentile(m.latenciesMs, 95));
      const perTask = (f: (c: SqlCounts) => number) => fmt(per((m) => f(m.counts) / m.tasks), 2);
      const latencyRow = bench === "latency";
      const vs = latencyRow
        ? `p50 = ${fmt(p50 / commitP50, 1)} commits' worth`
        : `tasks/s = ${fmt(median(tasksPerSec) / commitRate)} × commits/s`;
      lines.push(
        [
          backend,
          latencyRow ? "latency: 3-task chain, one at a time (execute → result)" : `${bench} (${WORKLOADS[bench].tasks} task${WORKLOADS[bench].tasks > 1 ? "s" : ""}/wf)`,
          latencyRow ? RUNS : N,
          C,
          latencyRow ? "—" : fmt(per((m) => m.executions / (m.elapsedMs / 1000))),
          latencyRow ? "—" : fmt(median(tasksPerSec)),
          fmt(p50),
          fmt(p95),
          vs,
          latencyRow ? "—" : spread(tasksPerSec),
          perTask((c) => c.statements),
          perTask((c) => c.roundTrips),
          perTask((c) => c.commits),
          fmt(per((m) => m.cpuUs / 1000 / m.tasks), 2),
        ].join(" | ").replace(/^/, "| ").replace(/$/, " |"),
      );
    }
  }

  const notes = [
    `cloaca bench — ${new Date(started).toISOString()}, ${((Date.now() - started) / 1000).toFixed(0)} s, Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"})`,
    `command: \`${command}\` — medians of ${REPS} repetition(s), each on a fresh database after a verified warm-up; every result checked (status, tasks, final-context keys and values).`,
    "",
    ...header,
    ...lines,
    "",
    "- wf/s, tasks/s: N executions submitted at once (`runner.start` ×N concurrently, each then `wait()`ed), clock stopped at the last result; C = `maxConcurrentTasks`. p50/p95 there: per execution, submit → result (includes queueing behind the other N−1).",
    `- latency: ${RUNS} runs of the 3-task chain, each after a random 0–20 ms idle pause; p50/p95 of \`runner.execute\` → resolution. "commits' worth" = p50 ÷ the baseline's per-commit p50 from this run.`,
    "- baseline: one connection, a loop of single-row INSERTs each in its own autocommit transaction (commits/s and per-commit latency).",
    "- SQL counts: bench-only wrappers around `pg.Client.prototype.query` and better-sqlite3 statements, measured region only (warm-up excluded, background heartbeats/polls included). Round trips include BEGIN/COMMIT; commits = COMMITs + autocommit writes. (`pg_stat_statements` is available but not in `shared_preload_libraries`, so it is not used.)",
    "- node CPU: user+system CPU of this process (engine + bench + drivers) in the measured region, per task; the database server's CPU is not included.",
    ...(settingsSeen.has("sqlite") ? [`- SQLite: engine defaults (durable): ${[...settingsSeen.get("sqlite")!].join(" | ")}; temp files under ${tmpdir()}.`] : []),
    ...(pgDescription ? [`- PostgreSQL: ${pgDescription}; engine in a fresh schema per repetition via \`DefaultRunner.withSchema\`, dropped after; other sessions may share this server.`] : []),
    ...(warnings.length ? [`- engine warnings/errors logged during the run: ${warnings.length} (first: ${warnings[0]})`] : []),
  ];
  if (flags["sql-profile"]) {
    const top = [...sqlProfile.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25);
    log("\nSQL profile (measured regions, all workloads; wall ms until result, on PostgreSQL incl. queueing on the client):");
    for (const backend of backends) {
      const bs = rows.get(`${backend}/baseline`)?.baselines ?? [];
      const mean = bs.reduce((a, b) => a + b.latenciesMs.reduce((x, y) => x + y, 0), 0) / Math.max(1, bs.reduce((a, b) => a + b.commits, 0));
      log(`  (${backend} baseline, same run: ${mean.toFixed(3)} ms mean per 1-row autocommit INSERT)`);
    }
    for (const [sql, e] of top) log(`${e.ms.toFixed(0).padStart(8)} ms ${String(e.calls).padStart(7)} calls ${(e.ms / e.calls).toFixed(3).padStart(8)} ms/call  ${sql.slice(0, 220)}`);
  }
  const text = `${notes.join("\n")}\n`;
  process.stdout.write(text);
  if (flags.out) writeFileSync(flags.out, text);
  return 0;
}

main().then(
  (code) => {
    const left = process.getActiveResourcesInfo().filter((r) => r !== "TTYWrap" && r !== "PipeWrap");
    if (left.length) log(`bench: note: handles still open at exit: ${left.join(", ")}`);
    process.exit(code);
  },
  (err: unknown) => {
    log(`bench: failed during ${phase || "setup"}: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
