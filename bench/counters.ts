/**
 * Counts the SQL the engine sends, without touching engine code: the bench wraps the drivers' own entry
 * points in this process (`pg.Client.prototype.query`, which every pooled client and the LISTEN client go
 * through, and better-sqlite3's `Statement.prototype.run/get/all/iterate`, which the SQLite driver uses
 * for every statement including `BEGIN IMMEDIATE` and `COMMIT`). Counting is off except inside a measured
 * region, so warm-ups and baselines are not counted.
 *
 * - `roundTrips`: waits for the database, BEGIN and COMMIT included. On PostgreSQL a statement sent while
 *   an earlier one on the same connection is still unanswered rides the same round trip (pipelining) and
 *   is not counted again; on SQLite every statement is one call into the library.
 * - `statements`: the same without BEGIN / COMMIT / ROLLBACK. PRAGMAs (connection settings) are not
 *   counted at all.
 * - `commits`: durable write commits: explicit COMMITs plus writes sent outside a transaction
 *   (autocommit). Reads outside a transaction are not counted (they commit nothing to the log).
 */
import Database from "better-sqlite3";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { serverCpuMeter } from "./server-cpu.js";

export interface SqlCounts {
  roundTrips: number;
  statements: number;
  commits: number;
  rollbacks: number;
}

/** What one measured phase (of the engine or a peer) produced. */
export interface Measured {
  /** Executions (units) measured. */
  executions: number;
  /** Tasks (steps) they ran. */
  tasks: number;
  elapsedMs: number;
  /** Per execution: submit → verified result (for a peer: its recorded completion). */
  latenciesMs: number[];
  counts: SqlCounts;
  /** User + system CPU of this process in the phase, µs. */
  cpuUs: number;
  /** User + system CPU of the local database (or Redis) server's processes in the phase, µs (see server-cpu.ts). */
  serverCpuUs?: number | undefined;
}

/**
 * The round of median duration among `rounds` (each N units submitted at once, run one after another): it
 * stands for its repetition, whole (its CPU and SQL counts too). With an even count, the faster of the two
 * middle rounds.
 */
export function medianRound(rounds: readonly Measured[]): Measured {
  if (!rounds.length) throw new Error("medianRound: no rounds");
  const sorted = [...rounds].sort((a, b) => a.elapsedMs - b.elapsedMs);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

const zero = (): SqlCounts => ({ roundTrips: 0, statements: 0, commits: 0, rollbacks: 0 });

let enabled = false;
let profiling = false;
/** Per statement text (measured regions only, with `enableSqlProfile`): calls and total wall time. */
export const sqlProfile = new Map<string, { calls: number; ms: number; backend: string }>();

/** Also time every statement (wall time until its result; on PostgreSQL this includes queueing on the client). */
export function enableSqlProfile(): void {
  profiling = true;
}

function profiled<T>(backend: string, sql: string, call: () => T): T {
  if (!enabled || !profiling) return call();
  const key = `${backend}: ${sql.replace(/\s+/g, " ").trim()}`;
  const start = performance.now();
  const done = () => {
    const e = sqlProfile.get(key) ?? { calls: 0, ms: 0, backend };
    e.calls++;
    e.ms += performance.now() - start;
    sqlProfile.set(key, e);
  };
  const result = call();
  if (result && typeof (result as { then?: unknown }).then === "function") {
    (result as unknown as Promise<unknown>).then(done, done);
  } else {
    done();
  }
  return result;
}
let counts = zero();
let installed = false;
/** PRAGMA statements the SQLite driver issued (recorded always, to report the settings in force). */
export const sqlitePragmas: string[] = [];

const IN_TX = Symbol("cloaca-bench-in-tx");
const IN_FLIGHT = Symbol("cloaca-bench-in-flight");
type Flagged = { [IN_TX]?: boolean; [IN_FLIGHT]?: number };
const sqliteState: Flagged = {};

function firstWord(sql: string): string {
  const m = /^\s*([A-Za-z]+)/.exec(sql);
  return m ? m[1]!.toUpperCase() : "";
}

function record(state: Flagged, sql: string, isRead: boolean, pipelined = false): void {
  if (!enabled) return;
  const w = firstWord(sql);
  if (w === "PRAGMA") return; // connection settings (the SQLite driver's busy-wait switch), not SQL work
  if (!pipelined) counts.roundTrips++;
  if (w === "BEGIN" || w === "START") {
    state[IN_TX] = true;
  } else if (w === "COMMIT" || w === "END") {
    state[IN_TX] = false;
    counts.commits++;
  } else if (w === "ROLLBACK") {
    state[IN_TX] = false;
    counts.rollbacks++;
  } else {
    counts.statements++;
    if (!state[IN_TX] && !isRead) counts.commits++;
  }
}

/** Installs the wrappers once (idempotent). */
export function installCounters(): void {
  if (installed) return;
  installed = true;

  // PostgreSQL: the transaction state is tracked per client (a pooled client runs one transaction at a time).
  // BEGIN/COMMIT are tracked even when counting is off, so a transaction straddling the window is right.
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const origQuery = proto.query;
  proto.query = function (this: Flagged, ...args: unknown[]) {
    const a0 = args[0];
    const text = typeof a0 === "string" ? a0 : a0 && typeof a0 === "object" && "text" in a0 ? String((a0 as { text: unknown }).text) : "";
    const pipelined = (this[IN_FLIGHT] ?? 0) > 0;
    if (text) {
      const w = firstWord(text);
      if (enabled) record(this, text, w === "SELECT" && !/pg_notify/i.test(text), pipelined);
      else if (w === "BEGIN") this[IN_TX] = true;
      else if (w === "COMMIT" || w === "ROLLBACK") this[IN_TX] = false;
    }
    const result = text ? profiled("postgres", text, () => origQuery.apply(this, args)) : origQuery.apply(this, args);
    // Statements answered by promise are tracked in flight (callback-style calls, e.g. from peers, are not).
    if (result && typeof (result as { then?: unknown }).then === "function") {
      this[IN_FLIGHT] = (this[IN_FLIGHT] ?? 0) + 1;
      const settle = () => void (this[IN_FLIGHT] = (this[IN_FLIGHT] ?? 1) - 1);
      (result as Promise<unknown>).then(settle, settle);
    }
    return result;
  };

  // SQLite: one connection per runner and one runner at a time in the bench, so one state suffices.
  const db = new Database(":memory:");
  const stmtProto = Object.getPrototypeOf(db.prepare("SELECT 1")) as Record<string, unknown>;
  for (const method of ["run", "get", "all", "iterate"] as const) {
    const orig = stmtProto[method] as (...args: unknown[]) => unknown;
    stmtProto[method] = function (this: { source: string; reader: boolean }, ...args: unknown[]) {
      const w = firstWord(this.source);
      if (enabled) record(sqliteState, this.source, this.reader);
      else if (w === "BEGIN") sqliteState[IN_TX] = true;
      else if (w === "COMMIT" || w === "ROLLBACK") sqliteState[IN_TX] = false;
      return profiled("sqlite", this.source, () => orig.apply(this, args));
    };
  }
  const dbProto = Object.getPrototypeOf(db) as { pragma: (...args: unknown[]) => unknown };
  const origPragma = dbProto.pragma;
  dbProto.pragma = function (this: unknown, ...args: unknown[]) {
    if (typeof args[0] === "string") sqlitePragmas.push(args[0]);
    return origPragma.apply(this, args);
  };
  db.close();
  sqlitePragmas.length = 0;
}

/** Starts counting from zero. */
export function startCounting(): void {
  counts = zero();
  enabled = true;
}

/** Stops counting and returns what was counted since {@link startCounting}. */
export function stopCounting(): SqlCounts {
  enabled = false;
  return { ...counts };
}

/** What a measured region used: SQL counts, this process's CPU, and the local server's (see server-cpu.ts). */
export interface RegionUsage {
  counts: SqlCounts;
  cpuUs: number;
  serverCpuUs: number | undefined;
}

/**
 * Starts a measured region: SQL counting from zero, this process's CPU time, and the CPU of the local
 * server's processes named `serverProcess` (undefined: not measured). `stop()` ends all three.
 */
export function startRegion(serverProcess: string | undefined): { stop(): RegionUsage } {
  const server = serverCpuMeter(serverProcess);
  const cpu0 = process.cpuUsage();
  startCounting();
  return {
    stop() {
      const counts = stopCounting();
      const cpu = process.cpuUsage(cpu0);
      return { counts, cpuUs: cpu.user + cpu.system, serverCpuUs: server.stop() };
    },
  };
}
