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
 * runs a verified warm-up first, then measures. Before the measured repetitions, `--warmup-reps` (default
 * 1) unmeasured ones run the same work for every system, so no system is measured with a cold JIT. Every
 * result is checked (status, every task Completed once, final-context keys and values); one wrong result and
 * the run prints no figure and exits 1.
 * Each backend's baseline — single-row INSERT autocommit transactions on one connection — is measured in
 * the same run, interleaved with the workloads, and the engine's figures are given as ratios to it.
 *
 * Peers (`bench/peers/`, on whenever PostgreSQL is benchmarked): graphile-worker (batching off / on),
 * pg-boss (several work() loops), DBOS (queue / direct start), BullMQ (Redis / PostgreSQL backend), each
 * on a fresh database per repetition, interleaved with the engine in the same repetition loop, with the
 * same N, C and pool size, verified like the engine; plus the PostgreSQL write ceiling (single-row INSERT
 * commits over 16 connections, by `pgbench` and by a `pg` loop). Their rows carry "cloaca/peer" ratios
 * from the same run.
 *
 * Flags: --backend sqlite|postgres|both, --workload latency,simple,pipeline,parallel, -n, -c, --runs,
 * --reps, --warmup-reps, --rounds (measured rounds per throughput phase at N, default 5), --pg-url,
 * --out FILE, --quick (smoke), --timeout SECONDS (per measured phase),
 * --sql-profile (time every statement and print the costliest to stderr; adds overhead, so its run's figures
 * are not comparable),
 * --peers [NAMES] (default: all; a name picks the peers whose key is NAME or starts with NAME-, e.g.
 * `graphile` = both graphile rows; opt-in variants such as `pgboss-poll` only by exact key), --no-peers,
 * --peer-n (units per peer throughput phase, default -n), --peer-runs (peer latency chains, default --runs,
 * 30 with --quick), --redis-url, --ceiling-seconds (per ceiling tool and repetition, default 2, 1 with --quick),
 * --docs / --no-docs (write the printed text into docs/benchmarks.md; default: only after a full run, one
 * whose other flags are all among --out, --pg-url, --redis-url and --timeout).
 */
import Database from "better-sqlite3";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import pg from "pg";
import { DefaultRunner, type Logger, type WorkflowResult } from "./engine.js";
import { CHAIN_COMMITS, pgBaseline, sqliteBaseline, type BaselineResult } from "./baseline.js";
import { enableSqlProfile, installCounters, medianRound, sqlProfile, sqlitePragmas, startRegion, type Measured, type SqlCounts } from "./counters.js";
import { ALL_WORKFLOWS, WORKLOADS, type Workload, type WorkloadName } from "./workloads.js";
import { isFullRun, writeDocsTable } from "./docs-table.js";
import { pgLoopCeiling, pgbenchCeiling, type CeilingResult } from "./peers/ceiling.js";
import { isLocalHost } from "./server-cpu.js";
import { runPeerRep } from "./peers/harness.js";
import { PEERS } from "./peers/index.js";
import type { Peer } from "./peers/types.js";

// ------------------------------------------------------------------ flags

type Backend = "sqlite" | "postgres";
type BenchName = WorkloadName | "latency";
const BENCH_NAMES: readonly BenchName[] = ["latency", "simple", "pipeline", "parallel"];

const USAGE = `usage: npm run bench -- [--backend sqlite|postgres|both] [--workload latency,simple,pipeline,parallel]
                       [-n 150] [-c 32] [--runs 200] [--reps 3] [--warmup-reps 1] [--rounds 5] [--pg-url URL] [--out FILE] [--quick] [--timeout 120] [--sql-profile]
                       [--peers [all|${PEERS.map((p) => p.key).join("|")}[,…]] | --no-peers] [--peer-n N] [--peer-runs R]
                       [--redis-url redis://127.0.0.1:6379] [--ceiling-seconds S] [--big-n 2000] [--rss-n 10000] [--docs | --no-docs]`;

function fail(message: string, code = 2): never {
  process.stderr.write(`bench: ${message}\n${code === 2 ? `${USAGE}\n` : ""}`);
  process.exit(code);
}

let parsed: ReturnType<typeof parseFlags>;
function parseFlags() {
  // `--peers` may stand alone (= all peers); parseArgs wants a value for a string option.
  const args = process.argv.slice(2).map((a, k, all) => (a === "--peers" && (k + 1 >= all.length || all[k + 1]!.startsWith("-")) ? "--peers=all" : a));
  return parseArgs({
    args,
    options: {
      backend: { type: "string", default: "both" },
      workload: { type: "string", default: BENCH_NAMES.join(",") },
      n: { type: "string", short: "n" },
      c: { type: "string", short: "c" },
      runs: { type: "string" },
      reps: { type: "string" },
      "warmup-reps": { type: "string" },
      rounds: { type: "string" },
      "pg-url": { type: "string", default: "postgresql://postgres@127.0.0.1:5432/test" },
      out: { type: "string" },
      quick: { type: "boolean", default: false },
      timeout: { type: "string", default: "120" },
      "sql-profile": { type: "boolean", default: false },
      peers: { type: "string" },
      "no-peers": { type: "boolean", default: false },
      "peer-n": { type: "string" },
      "peer-runs": { type: "string" },
      "redis-url": { type: "string", default: "redis://127.0.0.1:6379" },
      "ceiling-seconds": { type: "string" },
      "big-n": { type: "string" },
      "rss-n": { type: "string" },
      docs: { type: "boolean", default: false },
      "no-docs": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
    tokens: true,
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
/**
 * Unmeasured repetitions run first (everything a measured one runs: engine, peers, ceiling; results
 * checked, figures discarded). They warm each system's JIT: the engine's node CPU per task kept falling
 * over its first several thousand executions (profiling script: PostgreSQL `simple`, 0.34 → 0.10 ms over
 * 6 × 2000), while a repetition's own warm-up is 20 executions. A runner in service is past that.
 */
const WARMUP_REPS = intFlag("warmup-reps", flags["warmup-reps"], quick ? 0 : 1, 0);
/**
 * Rounds per measured throughput phase at N (engine and peers alike): N units submitted at once, ROUNDS
 * times one after another on the same database; the round of median duration stands for the repetition.
 * One round of 150 `simple` executions lasts ≈ 25 ms on this machine, so a single round is one noisy
 * sample — and always the first burst on a fresh database, which for some systems is much the slowest
 * (pg-boss `simple`: the median round 1.73× the first, docs/benchmarks.md session 14).
 * The N=--big-n phases (≈ 0.3 s and more) run once.
 */
const ROUNDS = intFlag("rounds", flags.rounds, quick ? 1 : 5);
const TIMEOUT_MS = intFlag("timeout", flags.timeout, 120) * 1000;
const BASELINE_MS = quick ? 300 : 1000;
const WARMUP_WORKFLOWS = Math.min(N, quick ? 5 : 20);
const WARMUP_RUNS = quick ? 5 : 10;
const PG_URL = flags["pg-url"] ?? "postgresql://postgres@127.0.0.1:5432/test";
const DOCS_FILE = fileURLToPath(new URL("../docs/benchmarks.md", import.meta.url));

const backends: Backend[] =
  flags.backend === "both" ? ["sqlite", "postgres"] : flags.backend === "sqlite" || flags.backend === "postgres" ? [flags.backend] : fail(`--backend must be sqlite, postgres or both (got "${flags.backend}")`);
const benches: BenchName[] = [];
for (const w of (flags.workload ?? "").split(",").map((s) => s.trim()).filter(Boolean)) {
  if (!(BENCH_NAMES as readonly string[]).includes(w)) fail(`unknown workload "${w}" (accepted: ${BENCH_NAMES.join(", ")})`);
  if (!benches.includes(w as BenchName)) benches.push(w as BenchName);
}
if (!benches.length) fail("--workload names no workload");

const PEER_N = intFlag("peer-n", flags["peer-n"], N);
/** The second, larger N of every throughput workload (0 = off). */
const BIG_N = intFlag("big-n", flags["big-n"], quick ? 0 : 2000, 0);
/** Executions of the runner-RSS measurement, once per backend per run (0 = off). */
const RSS_N = intFlag("rss-n", flags["rss-n"], quick ? 1000 : 10_000, 0);
const PEER_RUNS = intFlag("peer-runs", flags["peer-runs"], quick ? Math.min(RUNS, 30) : RUNS);
const CEILING_SECONDS = intFlag("ceiling-seconds", flags["ceiling-seconds"], quick ? 1 : 2);
const CEILING_CONNECTIONS = 16;
const REDIS_URL = flags["redis-url"] ?? "redis://127.0.0.1:6379";
/** The local PostgreSQL server's process name, when the URL points at this machine (see server-cpu.ts). */
const PG_PROCESS = isLocalHost(new URL(PG_URL).hostname) ? "postgres" : undefined;
const REDIS_PROCESS = isLocalHost(new URL(REDIS_URL).hostname) ? "redis-server" : undefined;
/** Whose CPU a backend's "server CPU" column counts: SQLite runs inside this process (its CPU is node's). */
const serverProcess = (backend: Backend) => (backend === "postgres" ? PG_PROCESS : undefined);
/** The engine's PostgreSQL pool size (`dbPoolSize` default), given to every peer too. */
const POOL_SIZE = 10;
if (flags.peers !== undefined && flags["no-peers"]) fail("--peers and --no-peers together");
if (flags.docs && flags["no-docs"]) fail("--docs and --no-docs together");
if (flags.peers !== undefined && !backends.includes("postgres")) fail("--peers needs --backend postgres or both (the peers run on PostgreSQL)");
const peers: Peer[] = [];
// --sql-profile is for the engine's statements: peers only when asked for explicitly.
if (!flags["no-peers"] && backends.includes("postgres") && (flags.peers !== undefined || !flags["sql-profile"])) {
  const names = (flags.peers ?? "all").split(",").map((s) => s.trim()).filter(Boolean);
  for (const name of names) {
    const hit = PEERS.filter((p) => p.key === name || (!p.optIn && (name === "all" || p.key.startsWith(`${name}-`))));
    if (!hit.length) fail(`unknown peer "${name}" (accepted: all, ${PEERS.map((p) => p.key).join(", ")}, or a prefix such as graphile, dbos, bullmq)`);
    for (const p of hit) if (!peers.includes(p)) peers.push(p);
  }
  peers.sort((a, b) => PEERS.indexOf(a) - PEERS.indexOf(b));
  // A peer with none of the selected benches is skipped (e.g. `--workload parallel` and graphile).
  for (let k = peers.length - 1; k >= 0; k--) {
    if (!benches.some((b) => b === "latency" || peers[k]!.workloads.includes(b))) peers.splice(k, 1);
  }
}

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
    const pragmas = [...new Set(sqlitePragmas.filter((p) => /=/.test(p)).map((p) => p.replace(/\s+/g, "")))];
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


function check(where: string, w: Workload, result: WorkflowResult, input: Record<string, number>): void {
  const wrong = w.verify(result, input);
  if (wrong) errors.push(`${where}: execution ${result.executionId} (input ${JSON.stringify(input)}): ${wrong}`);
}

/** N executions submitted at once; each is started, then waited on; the clock stops at the last result. */
async function throughput(runner: DefaultRunner, backend: Backend, w: Workload, n: number, first: number, where: string): Promise<Measured> {
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
  const region = startRegion(serverProcess(backend));
  const t0 = performance.now();
  await withTimeout(where, TIMEOUT_MS + 10_000, Promise.all(Array.from({ length: n }, (_, k) => one(first + k))));
  const elapsedMs = performance.now() - t0;
  return { executions: n, tasks: n * w.tasks, elapsedMs, latenciesMs, ...region.stop() };
}

/** One 3-task chain at a time: `execute` call → resolution, after a random 0–20 ms idle pause. */
async function latency(runner: DefaultRunner, backend: Backend, runs: number, first: number, where: string): Promise<Measured> {
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
  const region = startRegion(serverProcess(backend));
  await withTimeout(where, runs * 30 + TIMEOUT_MS, loop());
  return { executions: runs, tasks: runs * w.tasks, elapsedMs: busyMs, latenciesMs, ...region.stop() };
}

// ------------------------------------------------------------------ the run

interface Row {
  backend: Backend;
  bench: BenchName | "baseline";
  reps: Measured[];
  baselines: BaselineResult[];
}
const rows = new Map<string, Row>();
const rowKey = (backend: Backend, bench: BenchName | "baseline", big = false) => `${backend}/${bench}${big ? "/big" : ""}`;
/** A row of this run, created on first use (`big`: the N=--big-n runs of the workload). */
function row(backend: Backend, bench: BenchName | "baseline", big = false): Row {
  const k = rowKey(backend, bench, big);
  let r = rows.get(k);
  if (!r) rows.set(k, (r = { backend, bench, reps: [], baselines: [] }));
  return r;
}
/** A row of this run, if it ran. */
const ranRow = (backend: Backend, bench: BenchName | "baseline", big = false) => rows.get(rowKey(backend, bench, big));
const settingsSeen = new Map<Backend, Set<string>>();
const ceilings: CeilingResult[] = [];
const peerRows = new Map<string, Measured[]>();
const peerSetupMs = new Map<string, number[]>();

/** Load on the machine and other sessions on the server: this is a shared 2-core box, so the reader can judge the figures. */
const loadSeen: string[] = [];
async function loadInfo(when: string): Promise<void> {
  let others = "?";
  if (backends.includes("postgres")) {
    const client = new pg.Client({ connectionString: PG_URL, application_name: "cloaca-bench-admin" });
    try {
      await client.connect();
      const r = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()");
      others = String(r.rows[0]!.n);
    } catch {
      // leave "?"
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  const [l1, l5] = loadavg();
  loadSeen.push(`${when}: load average ${l1!.toFixed(2)} (1 min) / ${l5!.toFixed(2)} (5 min)${backends.includes("postgres") ? `, ${others} other PostgreSQL client session(s)` : ""}`);
}

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
  await loadInfo("at start");
  let index = 0; // inputs are unique across the whole run, so a crossed-over result is caught

  for (let rep = 1 - WARMUP_REPS; rep <= REPS; rep++) {
    // Repetitions before the first measured one only warm up (see WARMUP_REPS): checked, not recorded.
    const measured = rep >= 1;
    const repName = measured ? `rep ${rep}/${REPS}` : `warm-up rep ${rep + WARMUP_REPS}/${WARMUP_REPS}, not counted`;
    for (const backend of backends) {
      phase = `${backend} baseline ${repName}`;
      const b =
        backend === "postgres"
          ? await pgBaseline(PG_URL, `bench_${randomBytes(6).toString("hex")}`, BASELINE_MS)
          : await (async () => {
              const dir = mkdtempSync(join(tmpdir(), "cloaca-bench-"));
              try {
                return await sqliteBaseline(dir, BASELINE_MS);
              } finally {
                rmSync(dir, { recursive: true, force: true });
              }
            })();
      if (measured) row(backend, "baseline").baselines.push(b);
      log(`[${phase}] ${b.commits} commits, p50 ${percentile(b.latenciesMs, 50).toFixed(2)} ms`);

      for (const bench of benches) {
        phase = `${backend} ${bench} ${repName}`;
        const t = performance.now();
        const opened = await withTimeout(`${phase}: connect`, 60_000, openRunner(backend));
        let m: Measured;
        let roundNote = "";
        try {
          if (bench === "latency") {
            const warm = await latency(opened.runner, backend, WARMUP_RUNS, index, `${phase} warm-up`);
            index += warm.executions;
            m = await latency(opened.runner, backend, RUNS, index, phase);
            index += m.executions;
          } else {
            const w = WORKLOADS[bench];
            const warm = await throughput(opened.runner, backend, w, WARMUP_WORKFLOWS, index, `${phase} warm-up`);
            index += warm.executions;
            // A warm-up repetition runs one round (it only warms).
            const rounds: Measured[] = [];
            for (let k = 1; k <= (measured ? ROUNDS : 1); k++) {
              rounds.push(await throughput(opened.runner, backend, w, N, index, ROUNDS > 1 ? `${phase} round ${k}` : phase));
              index += N;
            }
            m = medianRound(rounds);
            if (rounds.length > 1) roundNote = ` (median of ${rounds.length} rounds: ${rounds.map((r) => rateOf(r).toFixed(0)).join(", ")})`;
            if (BIG_N > 0) {
              const big = await throughput(opened.runner, backend, w, BIG_N, index, `${phase} N=${BIG_N}`);
              index += big.executions;
              if (measured) row(backend, bench, true).reps.push(big);
              log(`[${phase} N=${BIG_N}] ${rateOf(big).toFixed(0)} tasks/s`);
            }
          }
        } finally {
          const s = settingsSeen.get(backend) ?? new Set();
          s.add(opened.settings());
          settingsSeen.set(backend, s);
          await withTimeout(`${phase}: shutdown`, 30_000, opened.close());
        }
        if (measured) row(backend, bench).reps.push(m);
        const took = `${((performance.now() - t) / 1000).toFixed(1)} s incl. setup`;
        if (errors.length) log(`[${phase}] ${errors.length} WRONG RESULT(S) (${took})`);
        else if (bench === "latency") log(`[${phase}] p50 ${median(m.latenciesMs).toFixed(2)} ms (${took})`);
        else log(`[${phase}] ${rateOf(m).toFixed(0)} tasks/s${roundNote} (${took})`);
        if (errors.length) return finish(started, pgDescription);
      }

      if (backend === "postgres" && peers.length) {
        phase = `postgres ceiling ${repName}`;
        const schema = () => `bench_ceiling_${randomBytes(6).toString("hex")}`;
        const pb = await withTimeout(`${phase}: pgbench`, CEILING_SECONDS * 1000 + 60_000, pgbenchCeiling(PG_URL, schema(), CEILING_CONNECTIONS, CEILING_SECONDS, PG_PROCESS));
        const pl = await withTimeout(`${phase}: pg loop`, CEILING_SECONDS * 1000 + 60_000, pgLoopCeiling(PG_URL, schema(), CEILING_CONNECTIONS, CEILING_SECONDS * 1000, PG_PROCESS));
        if (measured) ceilings.push(pb, pl);
        log(`[${phase}] pgbench ${(pb.commits / (pb.elapsedMs / 1000)).toFixed(0)} commits/s, pg loop ${(pl.commits / (pl.elapsedMs / 1000)).toFixed(0)} commits/s (${CEILING_CONNECTIONS} connections)`);

        for (const peer of peers) {
          const t = performance.now();
          phase = `peer ${peer.key} ${repName}`;
          const r = await runPeerRep(
            peer,
            benches,
            {
              adminUrl: PG_URL,
              redisUrl: REDIS_URL,
              concurrency: C,
              poolSize: POOL_SIZE,
              timeoutMs: TIMEOUT_MS,
              n: PEER_N,
              runs: PEER_RUNS,
              warmupUnits: Math.min(PEER_N, WARMUP_WORKFLOWS),
              rounds: measured ? ROUNDS : 1,
              warmupRuns: WARMUP_RUNS,
              first: index,
              serverProcess: peer.usesPostgres ? PG_PROCESS : REDIS_PROCESS,
            },
            (p) => (phase = `peer ${p} ${repName}`),
          );
          index += r.used;
          if (measured) {
            peerSetupMs.set(peer.key, [...(peerSetupMs.get(peer.key) ?? []), r.setupMs]);
            for (const [bench, m] of r.measured) peerRows.set(`${peer.key}/${bench}`, [...(peerRows.get(`${peer.key}/${bench}`) ?? []), m]);
          }
          const parts = [...r.measured].map(([bench, m]) =>
            bench === "latency"
              ? `latency p50 ${median(m.latenciesMs).toFixed(2)} ms`
              : `${bench} ${rateOf(m).toFixed(0)} tasks/s${(r.roundRates.get(bench)?.length ?? 0) > 1 ? ` (rounds: ${r.roundRates.get(bench)!.map((x) => x.toFixed(0)).join(", ")})` : ""}`,
          );
          log(`[peer ${peer.key} ${repName}] ${parts.join(", ")} (${((performance.now() - t) / 1000).toFixed(1)} s incl. fresh database)`);
          if (r.errors.length) {
            errors.push(...r.errors.map((e) => `peer ${peer.label}, ${repName}: ${e}`));
            return finish(started, pgDescription);
          }
        }
      }
    }
  }
  if (RSS_N > 0) {
    for (const backend of backends) {
      phase = `${backend} rss N=${RSS_N}`;
      const opened = await withTimeout(`${phase}: connect`, 60_000, openRunner(backend));
      try {
        globalThis.gc?.();
        const before = process.memoryUsage().rss;
        let peak = before;
        const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 25);
        const m = await throughput(opened.runner, backend, WORKLOADS.pipeline, RSS_N, index, phase);
        clearInterval(sampler);
        index += m.executions;
        globalThis.gc?.();
        const after = process.memoryUsage().rss;
        // The same workload again at N=BIG_N, REPS times (median), on the database these executions filled
        // (it grows by BIG_N each time): beside the fresh database's N=BIG_N row, it shows whether the
        // engine slows down as its tables grow.
        const laterRuns: number[] = [];
        for (let r = 0; BIG_N > 0 && r < REPS; r++) {
          const h = await throughput(opened.runner, backend, WORKLOADS.pipeline, BIG_N, index, `${phase}, then N=${BIG_N} (${r + 1}/${REPS})`);
          index += h.executions;
          laterRuns.push(rateOf(h));
        }
        const later = laterRuns.length ? median(laterRuns) : undefined;
        rssRows.push({ backend, n: RSS_N, before, peak: Math.max(peak, after), after, tasksPerSec: rateOf(m), later, gc: typeof globalThis.gc === "function" });
        log(`[${phase}] RSS ${(before / 2 ** 20).toFixed(0)} → peak ${(peak / 2 ** 20).toFixed(0)} → ${(after / 2 ** 20).toFixed(0)} MB${later ? `; then N=${BIG_N} on that database ${later.toFixed(0)} tasks/s` : ""}`);
      } finally {
        await withTimeout(`${phase}: shutdown`, 30_000, opened.close());
      }
      if (errors.length) return finish(started, pgDescription);
    }
  }
  return finish(started, pgDescription);
}

/** Runner RSS around one run of RSS_N pipeline executions submitted at once. */
const rssRows: Array<{ backend: Backend; n: number; before: number; peak: number; after: number; tasksPerSec: number; later: number | undefined; gc: boolean }> = [];

// ------------------------------------------------------------------ the table

/** The median server CPU per task of some repetitions, or "—" when any of them could not read it. */
function serverCpu(reps: readonly Measured[]): string {
  if (!reps.length || reps.some((m) => m.serverCpuUs === undefined)) return "—";
  return fmt(median(reps.map((m) => m.serverCpuUs! / 1000 / m.tasks)), 2);
}

function fmt(x: number, digits?: number): string {
  if (!Number.isFinite(x)) return "—";
  if (digits !== undefined) return x.toFixed(digits);
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : x.toFixed(2);
}
const spread = (values: number[]) => (values.length > 1 ? `${fmt(Math.min(...values))}–${fmt(Math.max(...values))}` : "—");

/** The tasks (steps) per second of one measured phase. */
const rateOf = (m: Measured) => m.tasks / (m.elapsedMs / 1000);

/** The median tasks/s of a workload's row in this run (NaN when it did not run). */
function medianRate(backend: Backend, bench: WorkloadName, big = false): number {
  const r = ranRow(backend, bench, big);
  return r ? median(r.reps.map(rateOf)) : NaN;
}

/** The engine's PostgreSQL figures from this run, for the peer ratios. */
const engineTasksPerSec = (bench: WorkloadName, big = false) => medianRate("postgres", bench, big);
function engineLatencyP50(): number {
  const r = ranRow("postgres", "latency");
  return r ? median(r.reps.map((m) => percentile(m.latenciesMs, 50))) : NaN;
}
const ratio = (x: number) => (Number.isFinite(x) ? `${x >= 10 ? x.toFixed(0) : x >= 1 ? x.toFixed(1) : x.toFixed(2)}×` : "—");

function peerLines(): string[] {
  const lines: string[] = [];
  for (const tool of ["pgbench", "pg"] as const) {
    const cs = ceilings.filter((c) => c.tool === tool);
    if (!cs.length) continue;
    const rates = cs.map((c) => c.commits / (c.elapsedMs / 1000));
    const rate = median(rates);
    const vs = (["simple", "pipeline", "parallel"] as const)
      .filter((b) => ranRow("postgres", b))
      .map((b) => {
        const big = engineTasksPerSec(b, true);
        return `${b} ${fmt(engineTasksPerSec(b) / rate, 3)}${Number.isFinite(big) ? ` (N=${BIG_N}: ${fmt(big / rate, 3)})` : ""}`;
      })
      .join(", ");
    lines.push(
      [
        "postgres",
        `ceiling: 1-row INSERT, autocommit, ${CEILING_CONNECTIONS} connections (${tool === "pgbench" ? "pgbench, prepared" : "pg loop in this process"})`,
        fmt(median(cs.map((c) => c.commits)), 0),
        CEILING_CONNECTIONS,
        "—",
        `${fmt(rate)} commits/s`,
        tool === "pgbench" ? `${fmt(median(cs.map((c) => c.latencyMs)))} (avg)` : fmt(median(cs.map((c) => c.latencyMs))),
        tool === "pgbench" ? "—" : fmt(median(cs.map((c) => c.latencyP95Ms ?? NaN))),
        vs ? `our PG tasks/s = ${vs} × ceiling` : "—",
        spread(rates),
        "1",
        "1",
        "1",
        cs.every((c) => c.clientCpuUs !== undefined) ? fmt(median(cs.map((c) => c.clientCpuUs! / 1000 / c.commits)), 3) : "—",
        cs.every((c) => c.serverCpuUs !== undefined) ? fmt(median(cs.map((c) => c.serverCpuUs! / 1000 / c.commits)), 3) : "—",
      ].join(" | ").replace(/^/, "| ").replace(/$/, " |"),
    );
  }
  for (const peer of peers) {
    for (const bench of benches) {
      const reps = peerRows.get(`${peer.key}/${bench}`);
      if (!reps?.length) continue;
      const per = (f: (m: Measured) => number) => median(reps.map(f));
      const latencyRow = bench === "latency";
      const tasksPerSec = reps.map(rateOf);
      const p50 = latencyRow ? per((m) => percentile(m.latenciesMs, 50)) : NaN;
      const p95 = latencyRow ? per((m) => percentile(m.latenciesMs, 95)) : NaN;
      const vs = latencyRow
        ? `p50 cloaca/peer = ${ratio(engineLatencyP50() / p50)}`
        : `tasks/s cloaca/peer = ${ratio(engineTasksPerSec(bench as WorkloadName) / median(tasksPerSec))}`;
      const sql = (f: (c: SqlCounts) => number) => (peer.usesPostgres ? fmt(per((m) => f(m.counts) / m.tasks), 2) : "—");
      const steps = bench === "latency" ? 3 : WORKLOADS[bench].tasks;
      lines.push(
        [
          peer.usesPostgres ? "postgres" : "redis",
          `peer ${peer.label}: ${latencyRow ? "latency, 3-step chain one at a time" : `${bench} (${steps} step${steps > 1 ? "s" : ""}/unit)`}`,
          reps[0]!.executions,
          peer.key === "dbos-direct" ? "all" : C,
          latencyRow ? "—" : fmt(per((m) => m.executions / (m.elapsedMs / 1000))),
          latencyRow ? "—" : fmt(median(tasksPerSec)),
          fmt(p50),
          fmt(p95),
          vs,
          latencyRow ? "—" : spread(tasksPerSec),
          sql((c) => c.statements),
          sql((c) => c.roundTrips),
          "—",
          fmt(per((m) => m.cpuUs / 1000 / m.tasks), 2),
          serverCpu(reps),
        ].join(" | ").replace(/^/, "| ").replace(/$/, " |"),
      );
    }
  }
  return lines;
}

/**
 * The CPU bound of each PostgreSQL workload and of the pgbench ceiling on this machine: k cores ÷ (client +
 * server CPU per task), with what the run reached of it. Undefined when the server's CPU was not measured.
 */
function cpuBoundNote(): string | undefined {
  const cores = cpus().length;
  const bound = (clientUs: number, serverUs: number, units: number) => (cores * 1e6 * units) / (clientUs + serverUs);
  const pgbench = ceilings.filter((c) => c.tool === "pgbench" && c.clientCpuUs !== undefined && c.serverCpuUs !== undefined);
  const parts: string[] = [];
  // pgbench's commits/s as the table's ceiling row gives it (every repetition, measured CPU or not).
  const pgbenchRate = median(ceilings.filter((c) => c.tool === "pgbench").map((c) => c.commits / (c.elapsedMs / 1000)));
  if (pgbench.length) {
    const most = median(pgbench.map((c) => bound(c.clientCpuUs!, c.serverCpuUs!, c.commits)));
    parts.push(`pgbench ${fmt(most)} commits/s (reached ${fmt((100 * pgbenchRate) / most, 0)}%)`);
  }
  for (const b of ["simple", "pipeline", "parallel"] as const) {
    for (const big of [false, true]) {
      const r = ranRow("postgres", b, big);
      if (!r || r.reps.some((m) => m.serverCpuUs === undefined)) continue;
      const most = median(r.reps.map((m) => bound(m.cpuUs, m.serverCpuUs!, m.tasks)));
      const vs = Number.isFinite(pgbenchRate) ? ` = ${fmt(most / pgbenchRate, 2)}× the pgbench ceiling` : "";
      parts.push(`${b}${big ? ` N=${BIG_N}` : ""} ${fmt(most)} tasks/s${vs} (reached ${fmt((100 * engineTasksPerSec(b, big)) / most, 0)}%)`);
    }
  }
  if (!parts.length) return undefined;
  return `- CPU bound on this machine's ${cores} cores (${cores} ÷ (node + server CPU per task), medians of the repetitions; nothing can go faster, whatever it overlaps): ${parts.join("; ")}.`;
}

function peerNotes(): string[] {
  if (!peers.length) return [];
  const missing = peers.flatMap((p) => (["simple", "pipeline", "parallel"] as const).filter((b) => benches.includes(b) && !p.workloads.includes(b)).map((b) => `${p.label}: ${b}`));
  const setup = peers.map((p) => `${p.key} ${fmt(median(peerSetupMs.get(p.key) ?? []), 0)} ms`).join(", ");
  return [
    `- ceiling: ${CEILING_SECONDS} s of single-row INSERTs, each its own autocommit transaction, over ${CEILING_CONNECTIONS} connections (group commit), into a scratch table in a fresh schema; pgbench \`-n -M prepared -c ${CEILING_CONNECTIONS} -j 2\` (p50 column = its average latency) and a loop of ${CEILING_CONNECTIONS} \`pg.Client\`s in this process; row counts checked. "our PG tasks/s = x × ceiling": the engine's tasks/s on PostgreSQL in this run ÷ the ceiling's commits/s (at N = ${N}, and in parentheses at N = ${BIG_N} when it ran: a run of ${N} executions lasts tens of milliseconds, so its start and its tail weigh more than in the ceiling's ${CEILING_SECONDS} s).`,
    `- peers (rows "peer …"): each repetition of each peer on a fresh PostgreSQL database (BullMQ-Redis: a fresh key prefix, obliterated after), created and dropped around it, interleaved with the engine in the same repetition loop; the peer's benches run in the engine's order on that one database after a verified warm-up each (${Math.min(PEER_N, WARMUP_WORKFLOWS)} units / ${WARMUP_RUNS} chains). N = ${PEER_N} units per throughput phase (the engine's N unless --peer-n), ${PEER_RUNS} latency chains${PEER_RUNS !== RUNS ? ` (the engine: ${RUNS})` : ""}; C = ${C} jobs/steps in flight; PostgreSQL pool ${POOL_SIZE} (the engine's dbPoolSize default). Units: simple = 1 step computing 2i+1; pipeline = 3 dependent steps each adding 1 (x0 = 1000i+7); parallel = setup → 3 branches → merge; every unit's value checked and every step counted (exactly once).`,
    `- "done" for a peer = the peer has recorded completion: graphile — the job rows are gone from \`_private_jobs\` (its \`job:complete\` event fires before the DELETE is sent, so the bench polls the table every 2 ms after the last handler); pg-boss — every job of the run in state \`completed\` (polled every 2 ms after the last handler); BullMQ — the Worker's \`completed\` event for every step of the unit; DBOS — \`handle.getResult()\`.`,
    "- cloaca/peer: the engine's figure on PostgreSQL from this run ÷ the peer's (tasks/s: > 1 = cloaca faster; latency p50: > 1 = cloaca slower). Peers' p50/p95 are given for the latency rows only. SQL stmts and round trips per task for peers: the same `pg.Client` counters as the engine (every peer uses the same `pg` module), background polling included; commits are not shown for peers (their writes often hide in `SELECT f(...)` calls the counter cannot classify).",
    ...peers.map((p) => `- ${p.notes}`),
    ...(missing.length ? [`- not offered (no native fan-in / dependency primitive in that version): ${missing.join("; ")}.`] : []),
    ...peers.filter((p) => p.observed).map((p) => `- observed for ${p.label}: ${p.observed}.`),
    `- peer setup (fresh database + migrations + start), median: ${setup}.`,
  ];
}

async function finish(started: number, pgDescription: string | undefined): Promise<number> {
  await loadInfo("at end");
  return report(started, pgDescription);
}

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
    "| backend | workload | N | C | wf/s | tasks/s | p50 ms | p95 ms | vs baseline / vs cloaca (same run) | tasks/s min–max | SQL stmts/task | round trips/task | commits/task | node CPU ms/task | server CPU ms/task |",
    "|---|---|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|",
  ];
  const lines: string[] = [];
  for (const backend of backends) {
    const base = ranRow(backend, "baseline")!;
    const commitRate = median(base.baselines.map((b) => b.commits / (b.elapsedMs / 1000)));
    const commitP50 = median(base.baselines.map((b) => percentile(b.latenciesMs, 50)));
    const commitP95 = median(base.baselines.map((b) => percentile(b.latenciesMs, 95)));
    const idleP50 = median(base.baselines.map((b) => percentile(b.idleLatenciesMs, 50)));
    const floorP50 = median(base.baselines.map((b) => percentile(b.chainFloorMs, 50)));
    lines.push(
      `| ${backend} | baseline: 1-row INSERT, autocommit, 1 connection | ${fmt(median(base.baselines.map((b) => b.commits)), 0)} | 1 | — | ${fmt(commitRate)} commits/s | ${fmt(commitP50)} | ${fmt(commitP95)} | 1 commit | ${spread(base.baselines.map((b) => b.commits / (b.elapsedMs / 1000)))} | 1 | 1 | 1 | — | — |`,
    );
    for (const [bench, big] of benches.flatMap((b) => [[b, false], [b, true]] as const)) {
      const r = ranRow(backend, bench, big);
      if (!r) continue;
      const per = (f: (m: Measured) => number) => median(r.reps.map(f));
      const tasksPerSec = r.reps.map(rateOf);
      const p50 = per((m) => percentile(m.latenciesMs, 50));
      const p95 = per((m) => percentile(m.latenciesMs, 95));
      const perTask = (f: (c: SqlCounts) => number) => fmt(per((m) => f(m.counts) / m.tasks), 2);
      const latencyRow = bench === "latency";
      const vs = latencyRow
        ? `p50 = ${fmt(p50 / commitP50, 1)} commits' worth (${fmt(p50 / idleP50, 1)} commits from idle, ${fmt(idleP50)} ms each); ` +
          `floor: ${CHAIN_COMMITS} dependent commits after the same pause, p50 ${fmt(floorP50)} ms (the chain = floor + ${fmt(p50 - floorP50)} ms)`
        : `tasks/s = ${fmt(median(tasksPerSec) / commitRate)} × commits/s`;
      lines.push(
        [
          backend,
          latencyRow ? "latency: 3-task chain, one at a time (execute → result)" : `${bench} (${WORKLOADS[bench].tasks} task${WORKLOADS[bench].tasks > 1 ? "s" : ""}/wf)`,
          latencyRow ? RUNS : big ? BIG_N : N,
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
          serverCpu(r.reps),
        ].join(" | ").replace(/^/, "| ").replace(/$/, " |"),
      );
    }
  }
  lines.push(...peerLines());
  const rssLines = rssRows.length
    ? [
        "",
        `Runner RSS: ${RSS_N} \`pipeline\` executions (${RSS_N * 3} tasks) submitted at once, C = ${C}, every result checked`,
        "",
        `| backend | N | RSS before MB | peak MB | after MB | tasks/s |${BIG_N > 0 ? ` then N=${BIG_N} on that database: tasks/s (× a fresh database's) |` : ""}`,
        `|---|--:|--:|--:|--:|--:|${BIG_N > 0 ? "--:|" : ""}`,
        ...rssRows.map((r) => {
          const fresh = medianRate(r.backend, "pipeline", true);
          const vsFresh = r.later !== undefined && Number.isFinite(fresh) ? ` (${fmt(r.later / fresh, 2)}×)` : "";
          const later = BIG_N > 0 ? ` ${r.later !== undefined ? `${fmt(r.later)}${vsFresh}` : "—"} |` : "";
          return `| ${r.backend} | ${r.n} | ${fmt(r.before / 2 ** 20, 0)} | ${fmt(r.peak / 2 ** 20, 0)} | ${fmt(r.after / 2 ** 20, 0)} | ${fmt(r.tasksPerSec)} |${later}`;
        }),
        "",
        `- RSS of this whole process (engine, bench, drivers; results of all N executions are held until checked), sampled every 25 ms; "after" is read once all results were checked${rssRows[0]!.gc ? ", after a forced GC" : " (no forced GC: node runs without --expose-gc)"}.`,
        ...(BIG_N > 0
          ? [`- then: ${BIG_N} more \`pipeline\` executions submitted at once on the same runner and database, which now hold the ${RSS_N} above, ${REPS} time(s) (the database grows by ${BIG_N} each time), the median; every result checked; in parentheses, ÷ the median of the \`pipeline\` N=${BIG_N} rows above, each on a fresh database. Below 1, the engine slows down as its tables grow; above 1 is partly warmth: this runner has just run the ${RSS_N}, those rows ran after a warm-up of ${WARMUP_WORKFLOWS}.`]
          : []),
      ]
    : [];

  const notes = [
    `cloaca bench — ${new Date(started).toISOString()}, ${((Date.now() - started) / 1000).toFixed(0)} s, Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"})`,
    `command: \`${command}\` — medians of ${REPS} repetition(s), each on a fresh database after a verified warm-up${WARMUP_REPS ? `, after ${WARMUP_REPS} unmeasured repetition(s) of everything (engine, peers, ceiling: the same work, results checked, figures discarded) that warm each system's JIT` : ""}${ROUNDS > 1 ? `; each repetition's throughput at N=${N} is its median of ${ROUNDS} rounds (engine and peers alike)` : ""}; every result checked (status, tasks, final-context keys and values).`,
    "",
    ...header,
    ...lines,
    ...rssLines,
    "",
    `- wf/s, tasks/s: N executions submitted at once (\`runner.start\` ×N concurrently, each then \`wait()\`ed), clock stopped at the last result${ROUNDS > 1 ? `; at N=${N}, ${ROUNDS} such rounds one after another per repetition (peers too), the round of median duration standing for the repetition (its CPU and SQL counts too)${BIG_N > 0 ? `; N=${BIG_N} runs once` : ""}` : ""}; C = \`maxConcurrentTasks\`, every other option at its default (so \`claimAhead\` = 15C: a runner may hold up to 15C more claimed tasks than it runs bodies while its bodies are quick, see docs/retries-and-timeouts.md#claim-ahead). p50/p95 there: per execution, submit → result (includes queueing behind the other N−1).`,
    `- latency: ${RUNS} runs of the 3-task chain, each after a random 0–20 ms idle pause; p50/p95 of \`runner.execute\` → resolution. "commits' worth" = p50 ÷ the baseline's per-commit p50 from this run; "commits from idle" = p50 ÷ the p50 of 50 single-row commits each made after the same kind of random idle pause (a chain is at least 4 commits: the start and one per task); "floor" = the p50 of 50 sequences of ${CHAIN_COMMITS} single-row commits on the baseline's connection, each sequence after the same kind of pause and each commit started once the one before returned (one turn of the event loop between them): what a durable 3-task chain cannot go below on this machine, whatever the engine does between its commits.`,
    "- baseline: one connection, a loop of single-row INSERTs each in its own autocommit transaction (commits/s and per-commit latency).",
    "- SQL counts: bench-only wrappers around `pg.Client.prototype.query` and better-sqlite3 statements, measured region only (warm-up excluded, background heartbeats/polls included). Round trips include BEGIN/COMMIT; a statement sent on a PostgreSQL connection while an earlier one is still unanswered rides that round trip (pipelining) and is not counted again; commits = COMMITs + autocommit writes. (`pg_stat_statements` is available but not in `shared_preload_libraries`, so it is not used.)",
    "- node CPU: user+system CPU of this process (engine + bench + drivers) in the measured region, per task; the database server's CPU is not included. For the ceiling rows: the client's CPU per commit (pgbench's process, or this process for the `pg` loop).",
    "- server CPU: user+system CPU of every process of the local PostgreSQL server (backends, WAL writer, checkpointer, autovacuum; read from `/proc`, so other sessions on the server count too) in the measured region, per task (ceiling rows: per commit); for BullMQ on Redis, the `redis-server` process. SQLite runs inside this process, so its work is in node CPU. \"—\" when the server is not on this machine. On a machine of k cores nothing goes faster than k ÷ (node + server CPU per task) tasks/s.",
    ...(cpuBoundNote() ? [cpuBoundNote()!] : []),
    ...(settingsSeen.has("sqlite") ? [`- SQLite: engine defaults (durable): ${[...settingsSeen.get("sqlite")!].join(" | ")}; temp files under ${tmpdir()}.`] : []),
    ...(loadSeen.length ? [`- machine (2 cores shared by the database, this process${peers.length ? ", pgbench" : ""} and any other sessions): ${loadSeen.join("; ")}.`] : []),
    ...(pgDescription ? [`- PostgreSQL: ${pgDescription}; engine in a fresh schema per repetition via \`DefaultRunner.withSchema\`, dropped after; other sessions may share this server.`] : []),
    ...(warnings.length ? [`- engine warnings/errors logged during the run: ${warnings.length} (first: ${warnings[0]})`] : []),
    ...peerNotes(),
  ];
  if (flags["sql-profile"]) {
    const top = [...sqlProfile.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25);
    log("\nSQL profile (measured regions, all workloads; wall ms until result, on PostgreSQL incl. queueing on the client):");
    for (const backend of backends) {
      const bs = ranRow(backend, "baseline")?.baselines ?? [];
      const mean = bs.reduce((a, b) => a + b.latenciesMs.reduce((x, y) => x + y, 0), 0) / Math.max(1, bs.reduce((a, b) => a + b.commits, 0));
      log(`  (${backend} baseline, same run: ${mean.toFixed(3)} ms mean per 1-row autocommit INSERT)`);
    }
    for (const [sql, e] of top) log(`${e.ms.toFixed(0).padStart(8)} ms ${String(e.calls).padStart(7)} calls ${(e.ms / e.calls).toFixed(3).padStart(8)} ms/call  ${sql.slice(0, 220)}`);
  }
  const text = `${notes.join("\n")}\n`;
  process.stdout.write(text);
  if (flags.out) writeFileSync(flags.out, text);
  const given = parsed.tokens?.filter((t) => t.kind === "option").map((t) => t.name) ?? [];
  const docs = flags.docs || (!flags["no-docs"] && isFullRun(given));
  if (docs) {
    writeDocsTable(DOCS_FILE, text);
    log(`bench: wrote the table into ${DOCS_FILE}`);
  } else {
    log(`bench: ${DOCS_FILE} left as it is (${flags["no-docs"] ? "--no-docs" : "not a full run; --docs writes it anyway"})`);
  }
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
