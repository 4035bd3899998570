/**
 * Peers for `npm run bench -- --peers`: other TypeScript job queues / durable-execution libraries run on the
 * same PostgreSQL (and, for BullMQ's default backend, the local Redis) with the same unit shapes as the
 * engine's workloads, so their figures can sit in the engine's table.
 *
 * Every peer exposes one operation, `run(workload, inputs)`: submit one unit per input (bulk where the peer
 * has a bulk API), then resolve once the peer has *recorded* every unit complete (not merely once the
 * handler ran: graphile — the job rows are gone from its jobs table; pg-boss — the job rows are in state
 * `completed`; BullMQ — the worker's `completed` event, emitted after the job was moved to completed; DBOS —
 * each handle's `getResult()`). It returns, per input, the final value the unit produced, which the harness
 * checks against `expected()`; the {@link Tracker} also checks that every step of every unit ran exactly once.
 *
 * Unit shapes (the engine's workloads, `bench/workloads.ts`, with numbers instead of context keys):
 * - simple:   one step computing `2i + 1`.
 * - pipeline: three dependent steps, each adding 1 to the previous step's value, from `x0 = 1000i + 7`.
 * - parallel: setup (three 5-element batches) → three branches (batch k multiplied by k + 1) → merge (sum
 *   of the three branch results), all values travelling through the peer (payloads / return values).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import pg from "pg";

const requireHere = createRequire(import.meta.url);

export type PeerWorkload = "simple" | "pipeline" | "parallel";
export const PEER_WORKLOADS: readonly PeerWorkload[] = ["simple", "pipeline", "parallel"];

/** Steps ("tasks") per unit, as in the engine's workloads. */
export const STEPS: Record<PeerWorkload, number> = { simple: 1, pipeline: 3, parallel: 5 };

export interface PeerContext {
  /** A fresh PostgreSQL database for this peer and repetition (dropped by the harness afterwards). */
  readonly pgUrl: string;
  readonly redisUrl: string;
  /** Jobs/steps in flight at most (the engine's `maxConcurrentTasks`). */
  readonly concurrency: number;
  /** PostgreSQL pool size (the engine's `dbPoolSize`). */
  readonly poolSize: number;
  /** A unique tag for this repetition (Redis key prefix, application names). */
  readonly tag: string;
  readonly timeoutMs: number;
}

export interface PeerInstance {
  /** Submits one unit per input and resolves when the peer has recorded all of them complete. */
  run(workload: PeerWorkload, inputs: readonly number[]): Promise<Map<number, unknown>>;
  close(): Promise<void>;
}

export interface Peer {
  /** `--peers` key. */
  readonly key: string;
  /** Row label, e.g. "graphile-worker 0.17.3, batching on". */
  readonly label: string;
  /** How it was configured and how each shape was expressed (table notes). */
  readonly notes: string;
  readonly workloads: readonly PeerWorkload[];
  /** False when the peer keeps its state outside PostgreSQL (BullMQ on Redis). */
  readonly usesPostgres: boolean;
  /** Latency runs to use when the harness's count would take too long (poll-bound peers). */
  readonly maxLatencyRuns?: number;
  /** Not part of `--peers all` / a prefix; only chosen by its exact key (slow, poll-bound variants). */
  readonly optIn?: boolean;
  /** Settings observed at run time (filled by `open`, printed in the notes). */
  observed?: string;
  open(ctx: PeerContext): Promise<PeerInstance>;
}

// ------------------------------------------------------------------ expected values

export const x0 = (i: number) => 1000 * i + 7;
export const batch = (i: number, k: number) => [0, 1, 2, 3, 4].map((j) => i + 10 * k + j);
export const branch = (b: readonly number[], k: number) => b.map((v) => v * (k + 1));
export const sum = (a: readonly number[]) => a.reduce((s, v) => s + v, 0);

export function expected(w: PeerWorkload, i: number): number {
  switch (w) {
    case "simple":
      return 2 * i + 1;
    case "pipeline":
      return x0(i) + 3;
    case "parallel":
      return [1, 2, 3].reduce((s, k) => s + sum(branch(batch(i, k), k)), 0);
  }
}

/** A number, or an error naming what arrived instead (payloads come back from JSON / the database). */
export function asNumber(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new Error(`${what}: expected a number, got ${JSON.stringify(v)}`);
  return v;
}
export function asNumbers(v: unknown, what: string, length: number): number[] {
  if (!Array.isArray(v) || v.length !== length || !v.every((x) => typeof x === "number")) {
    throw new Error(`${what}: expected ${length} numbers, got ${JSON.stringify(v)}`);
  }
  return v as number[];
}

// ------------------------------------------------------------------ bookkeeping shared by the peers

/**
 * Counts step executions per unit (to catch a step run twice or not at all) and collects final values.
 * `finished(i, v)` is called where the peer reports a unit's completion; `wait()` resolves when every
 * input has finished (the peer may then still confirm the database state before returning).
 */
export class Tracker {
  readonly ran = new Map<string, number>();
  readonly results = new Map<number, unknown>();
  readonly problems: string[] = [];
  #pending: Set<number>;
  #resolve!: () => void;
  #reject!: (e: Error) => void;
  readonly #done: Promise<void>;

  constructor(
    readonly workload: PeerWorkload,
    readonly inputs: readonly number[],
  ) {
    this.#pending = new Set(inputs);
    this.#done = new Promise<void>((res, rej) => {
      this.#resolve = res;
      this.#reject = rej;
    });
    this.#done.catch(() => undefined);
    if (!this.#pending.size) this.#resolve();
  }

  step(i: number, step: string): void {
    const k = `${i}/${step}`;
    this.ran.set(k, (this.ran.get(k) ?? 0) + 1);
  }

  finished(i: number, value: unknown): void {
    if (this.results.has(i)) {
      this.problems.push(`unit ${i} reported finished twice`);
      return;
    }
    if (!this.#pending.has(i)) {
      this.problems.push(`unit ${i} finished but was not submitted in this run`);
      return;
    }
    this.results.set(i, value);
    this.#pending.delete(i);
    if (!this.#pending.size) this.#resolve();
  }

  fail(err: unknown): void {
    this.#reject(err instanceof Error ? err : new Error(String(err)));
  }

  wait(): Promise<void> {
    return this.#done;
  }

  /** Step-count problems for `steps` (the step names of the workload as this peer names them). */
  checkSteps(steps: readonly string[]): string[] {
    const out = [...this.problems];
    for (const i of this.inputs) {
      for (const s of steps) {
        const n = this.ran.get(`${i}/${s}`) ?? 0;
        if (n !== 1) out.push(`unit ${i}: step ${s} ran ${n} times`);
      }
    }
    return out;
  }

  /** The results, once every step of `steps` ran exactly once per unit; otherwise throws the first problems. */
  verifiedResults(steps: readonly string[]): Map<number, unknown> {
    const wrong = this.checkSteps(steps);
    if (wrong.length) throw new Error(wrong.slice(0, 5).join("; "));
    return this.results;
  }
}

/** Routes handler calls to the tracker of the run in progress (one run at a time per peer instance). */
export class Current {
  tracker: Tracker | undefined;
  get(): Tracker {
    if (!this.tracker) throw new Error("a job ran while no run was in progress");
    return this.tracker;
  }
}

export const STEP_NAMES: Record<PeerWorkload, readonly string[]> = {
  simple: ["s"],
  pipeline: ["s1", "s2", "s3"],
  parallel: ["setup", "b1", "b2", "b3", "merge"],
};

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Statements the bench itself sent to confirm completion (one per `pollUntil` check), so the harness can
 * take them out of the peers' SQL counts.
 */
export const benchQueries = { n: 0 };

/** Polls `check` (which must send exactly one statement) every `everyMs` until it returns true; rejects after `timeoutMs`. */
export async function pollUntil(what: string, check: () => Promise<boolean>, everyMs: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    benchQueries.n++;
    if (await check()) return;
    if (Date.now() > end) throw new Error(`${what}: not reached after ${timeoutMs / 1000} s`);
    await sleep(everyMs);
  }
}

/** Races `p` against `tracker` failing (an error inside a handler or event) and a timeout. */
export async function guarded<T>(what: string, tracker: Tracker, timeoutMs: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not complete after ${timeoutMs / 1000} s`)), timeoutMs);
  });
  try {
    return await Promise.race([p, t, tracker.wait().then(() => new Promise<never>(() => undefined))]);
  } finally {
    clearTimeout(timer);
  }
}

// ------------------------------------------------------------------ fresh databases

export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl, application_name: "cloaca-bench-admin" });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl, application_name: "cloaca-bench-admin" });
  await admin.connect();
  try {
    // Let the peer's connections finish closing first (a forced drop would kill them mid-close, and some
    // libraries log that loudly); FORCE only for what is still there after 5 s.
    const end = Date.now() + 5_000;
    while (Date.now() < end) {
      const r = await admin.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1", [name]);
      if (r.rows[0]!.n === 0) break;
      await sleep(20);
    }
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** The installed version of a package (read from its package.json, found from its resolved entry point). */
export function pkgVersion(name: string): string {
  let dir = dirname(requireHere.resolve(name));
  for (;;) {
    try {
      const p = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (p.name === name && p.version) return p.version;
    } catch {
      // no package.json here
    }
    const up = dirname(dir);
    if (up === dir) return "?";
    dir = up;
  }
}
