/**
 * Baselines measured in the same run as the engine: what one durable commit costs on this machine.
 * A loop of single-row INSERTs, each its own (autocommit) transaction, on one connection, then a few more each
 * after a random idle pause (what one commit costs when the machine was idle, as in the latency runs), and
 * sequences of 4 dependent commits after the same kind of pause (the floor of a durable 3-task chain: its
 * start and one commit per task, each waiting for the one before, with nothing else done between them):
 * - PostgreSQL through `pg` (named prepared statement), in a scratch schema dropped afterwards;
 * - SQLite through better-sqlite3 in WAL mode with synchronous=FULL (the engine's defaults), in a temp file.
 */
import Database from "better-sqlite3";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import pg from "pg";

export interface BaselineResult {
  commits: number;
  elapsedMs: number;
  latenciesMs: number[];
  /** Single commits each after a random 0–20 ms idle pause, like the latency runs (a commit from idle). */
  idleLatenciesMs: number[];
  /** {@link CHAIN_COMMITS} dependent commits each after such a pause, the whole sequence (a chain's floor). */
  chainFloorMs: number[];
}

const WARMUP = 20;
/** Commits timed after an idle pause. */
const IDLE_COMMITS = 50;
/** Sequences of dependent commits timed after an idle pause, and the commits in each (a 3-task chain makes 4). */
const FLOOR_SEQUENCES = 50;
export const CHAIN_COMMITS = 4;
const pause = () => new Promise<void>((r) => setTimeout(r, Math.random() * 20));
/** The rows a baseline writes: the timed loop's, the warm-up's, the idle commits' and the floor's. */
const rowsWritten = (timed: number) => timed + WARMUP + IDLE_COMMITS + FLOOR_SEQUENCES * CHAIN_COMMITS;

/**
 * {@link FLOOR_SEQUENCES} times, after a random idle pause: {@link CHAIN_COMMITS} single-row commits, each
 * started once the one before has returned (with a turn of the event loop between them, as the engine's
 * steps take at least one); the duration of each whole sequence.
 */
async function floor(commit: (label: string) => unknown): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < FLOOR_SEQUENCES; i++) {
    await pause();
    const s = performance.now();
    for (let k = 0; k < CHAIN_COMMITS; k++) {
      await commit(`floor-${i}-${k}`);
      await new Promise<void>((r) => setImmediate(r));
    }
    out.push(performance.now() - s);
  }
  return out;
}

export async function pgBaseline(url: string, schema: string, durationMs: number): Promise<BaselineResult> {
  const client = new pg.Client({ connectionString: url, application_name: "cloaca-bench-baseline" });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA "${schema}"`);
    await client.query(`CREATE TABLE "${schema}".commits (id bigserial PRIMARY KEY, payload text NOT NULL)`);
    const insert = { name: "bench_baseline_insert", text: `INSERT INTO "${schema}".commits (payload) VALUES ($1)` };
    for (let i = 0; i < WARMUP; i++) await client.query({ ...insert, values: [`warm-${i}`] });
    const latenciesMs: number[] = [];
    const t0 = performance.now();
    let now = t0;
    while (now - t0 < durationMs) {
      const s = performance.now();
      await client.query({ ...insert, values: [`row-${latenciesMs.length}`] });
      now = performance.now();
      latenciesMs.push(now - s);
    }
    const elapsedMs = now - t0;
    const idleLatenciesMs: number[] = [];
    for (let i = 0; i < IDLE_COMMITS; i++) {
      await pause();
      const s = performance.now();
      await client.query({ ...insert, values: [`idle-${i}`] });
      idleLatenciesMs.push(performance.now() - s);
    }
    const chainFloorMs = await floor((label) => client.query({ ...insert, values: [label] }));
    const [row] = (await client.query(`SELECT count(*)::int AS n FROM "${schema}".commits`)).rows as Array<{ n: number }>;
    const expected = rowsWritten(latenciesMs.length);
    if (row?.n !== expected) throw new Error(`baseline: ${row?.n} rows, expected ${expected}`);
    return { commits: latenciesMs.length, elapsedMs, latenciesMs, idleLatenciesMs, chainFloorMs };
  } finally {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await client.end();
  }
}

export async function sqliteBaseline(dir: string, durationMs: number): Promise<BaselineResult> {
  const db = new Database(join(dir, "baseline.db"));
  try {
    const mode = db.pragma("journal_mode = WAL", { simple: true });
    if (String(mode).toLowerCase() !== "wal") throw new Error(`baseline: journal_mode is ${String(mode)}, expected wal`);
    db.pragma("synchronous = FULL");
    if (Number(db.pragma("synchronous", { simple: true })) !== 2) throw new Error("baseline: synchronous is not FULL");
    db.exec("CREATE TABLE commits (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)");
    const insert = db.prepare("INSERT INTO commits (payload) VALUES (?)");
    for (let i = 0; i < WARMUP; i++) insert.run(`warm-${i}`);
    const latenciesMs: number[] = [];
    const t0 = performance.now();
    let now = t0;
    while (now - t0 < durationMs) {
      const s = performance.now();
      insert.run(`row-${latenciesMs.length}`);
      now = performance.now();
      latenciesMs.push(now - s);
    }
    const elapsedMs = now - t0;
    const idleLatenciesMs: number[] = [];
    for (let i = 0; i < IDLE_COMMITS; i++) {
      await pause();
      const s = performance.now();
      insert.run(`idle-${i}`);
      idleLatenciesMs.push(performance.now() - s);
    }
    const chainFloorMs = await floor((label) => insert.run(label));
    const n = Number(db.prepare("SELECT count(*) AS n FROM commits").pluck().get());
    const expected = rowsWritten(latenciesMs.length);
    if (n !== expected) throw new Error(`baseline: ${n} rows, expected ${expected}`);
    return { commits: latenciesMs.length, elapsedMs, latenciesMs, idleLatenciesMs, chainFloorMs };
  } finally {
    db.close();
  }
}
