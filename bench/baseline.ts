/**
 * Baselines measured in the same run as the engine: what one durable commit costs on this machine.
 * A loop of single-row INSERTs, each its own (autocommit) transaction, on one connection:
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
}

const WARMUP = 20;

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
    const [row] = (await client.query(`SELECT count(*)::int AS n FROM "${schema}".commits`)).rows as Array<{ n: number }>;
    if (row?.n !== latenciesMs.length + WARMUP) throw new Error(`baseline: ${row?.n} rows, expected ${latenciesMs.length + WARMUP}`);
    return { commits: latenciesMs.length, elapsedMs, latenciesMs };
  } finally {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await client.end();
  }
}

export function sqliteBaseline(dir: string, durationMs: number): BaselineResult {
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
    const n = Number(db.prepare("SELECT count(*) AS n FROM commits").pluck().get());
    if (n !== latenciesMs.length + WARMUP) throw new Error(`baseline: ${n} rows, expected ${latenciesMs.length + WARMUP}`);
    return { commits: latenciesMs.length, elapsedMs: now - t0, latenciesMs };
  } finally {
    db.close();
  }
}
