/**
 * SQLite driver on better-sqlite3: one connection per file and process, shared by the runners on that file
 * ({@link openSqliteDriver}; `:memory:` stays private to its runner), statements prepared once and cached,
 * transactions serialised through an async queue so awaiting code never interleaves two of them on the
 * single connection. better-sqlite3 is synchronous, so write transactions are kept short (`BEGIN IMMEDIATE`,
 * whose wait for another process's lock is asynchronous).
 */
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { SqliteTarget } from "../../database-url.js";
import { viewOf, type Dialect, type Driver, type Queryable, type Transaction } from "../store.js";
import { ConfigurationError } from "../../errors.js";
import { mapSqliteError } from "./errors.js";
import { bindStatement, BoundRows, rowsFragment } from "./bound-rows.js";

type Statement = Database.Statement<unknown[], Record<string, unknown>>;

/** SQLite's SQL fragments. */
export const sqliteDialect: Dialect = {
  capabilities: { skipLocked: false, listenNotify: false, schemas: false, writableCtes: false },
  prefix: "",
  nowMs: "CAST(unixepoch('subsec') * 1000 AS INTEGER)",
  inList: (column) => `${column} IN (SELECT value FROM json_each(?))`,
  list: (values) => JSON.stringify(values),
  claimLock: "",
  // Read from JSON, or bound inline when few (see bound-rows.ts).
  rows: rowsFragment,
  rowsParam: (rows) => new BoundRows(rows),
  // SQLite's planner looks rows of json_each up by key anyway.
  keyedRows: rowsFragment,
  keyedRowsParams: (rows) => [new BoundRows(rows)],
  rowId: "rowid",
  // SQLite joins CROSS JOIN operands in the order written.
  lookup: (join, table, alias, on) => `${join === "left" ? "LEFT" : "CROSS"} JOIN ${table} AS ${alias} ON ${on}`,
};

/** Whether `err` (as thrown by the driver: mapped, with SQLite's error as its cause) is SQLITE_BUSY or a variant. */
function isBusy(err: unknown): boolean {
  const code = (err as { cause?: { code?: string } }).cause?.code ?? (err as { code?: string }).code ?? "";
  return code.startsWith("SQLITE_BUSY");
}

function bind(params: readonly unknown[] | undefined): unknown[] {
  if (!params) return [];
  return params.map((v) => (v === undefined ? null : typeof v === "boolean" ? (v ? 1 : 0) : v));
}

/** A better-sqlite3 connection behind the {@link Driver} interface. */
export class SqliteDriver implements Driver {
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Statement>();
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(readonly target: SqliteTarget) {
    try {
      if (!target.memory && target.mode === "rwc") mkdirSync(dirname(target.path), { recursive: true });
      this.db = new Database(target.memory ? ":memory:" : target.path, {
        readonly: target.mode === "ro",
        fileMustExist: target.mode !== "rwc",
        timeout: target.busyTimeoutMs,
      });
      this.db.pragma(`busy_timeout = ${target.busyTimeoutMs}`);
      if (target.mode !== "ro") {
        // journal_mode answers with the mode actually in force (":memory:" stays "memory").
        // better-sqlite3 opens in SQLite's defensive mode, which silently ignores journal_mode=OFF: lift it
        // for that one statement so the URL's value is honoured.
        const off = target.journalMode === "OFF";
        if (off) this.db.unsafeMode(true);
        try {
          this.db.pragma(`journal_mode = ${target.journalMode}`);
        } finally {
          if (off) this.db.unsafeMode(false);
        }
      }
      this.db.pragma(`synchronous = ${target.synchronous}`);
      this.db.pragma("foreign_keys = ON");
      // From here on the driver waits for other connections' locks itself, asynchronously (see busyWait):
      // SQLite's own busy wait blocks the thread. (The set-up above may wait the SQLite way: nothing else
      // of the runner runs yet.)
      this.db.pragma("busy_timeout = 0");
    } catch (err) {
      throw mapSqliteError(err, target.display);
    }
  }

  private prepare(sql: string): Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql) as Statement;
      this.statements.set(sql, s);
    }
    return s;
  }

  private exec<R>(text: string, params: readonly unknown[] | undefined): { rows: R[]; changes: number } {
    try {
      const { sql, params: values } = bindStatement(text, bind(params));
      const s = this.prepare(sql);
      if (s.reader) {
        const rows = s.all(...values) as R[];
        return { rows, changes: rows.length };
      }
      return { rows: [], changes: s.run(...values).changes };
    } catch (err) {
      throw mapSqliteError(err, this.target.display);
    }
  }

  /** Runs `fn` after everything queued before it; keeps the queue alive when `fn` fails. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  // Every statement (the claim, the heartbeat, reads, and each statement of a transaction) waits for another
  // process's lock asynchronously (busyWait): such a lock never freezes the event loop.
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]> {
    return this.serial(async () => this.busyWait(() => this.exec<R>(sql, params).rows));
  }

  run(sql: string, params?: readonly unknown[]): Promise<number> {
    return this.serial(async () => this.busyWait(() => this.exec(sql, params).changes));
  }

  /** One connection: every stream of work already uses it. */
  withAffinity(): Driver {
    return viewOf(this);
  }

  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.serial(async () => {
      if (this.closed) throw mapSqliteError(new Error("the database connection is closed"), this.target.display);
      const begun = this.busyWait(() => void this.exec("BEGIN IMMEDIATE", undefined));
      if (begun instanceof Promise) await begun;
      const atCommit: Array<[string, readonly unknown[] | undefined]> = [];
      // As on PostgreSQL, a failed statement fails its transaction even if `fn` goes on.
      let failed: { error: unknown } | undefined;
      const fail = (error: unknown): never => {
        failed ??= { error };
        throw error;
      };
      // Synchronous unless it has to wait for a lock.
      const exec = <R>(sql: string, params: readonly unknown[] | undefined) => {
        let r: { rows: R[]; changes: number } | Promise<{ rows: R[]; changes: number }>;
        try {
          r = this.busyWait(() => this.exec<R>(sql, params));
        } catch (error) {
          return fail(error);
        }
        return r instanceof Promise ? r.catch(fail) : r;
      };
      const tx: Transaction = {
        query: async <R>(sql: string, params?: readonly unknown[]) => {
          const r = exec<R>(sql, params);
          return (r instanceof Promise ? await r : r).rows;
        },
        run: async (sql: string, params?: readonly unknown[]) => {
          const r = exec(sql, params);
          return (r instanceof Promise ? await r : r).changes;
        },
        runAtCommit: (sql, params) => void atCommit.push([sql, params]),
      };
      try {
        const result = await fn(tx);
        if (failed) throw failed.error;
        // A COMMIT that finds readers in the way (rollback journal modes) is tried again: the transaction
        // stays open until it succeeds.
        for (const [sql, params] of [...atCommit, ["COMMIT", undefined] as const]) {
          const r = this.busyWait(() => this.exec(sql, params));
          if (r instanceof Promise) await r;
        }
        return result;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec("ROLLBACK");
        throw err;
      }
    });
  }

  /**
   * Runs `fn` (a statement); while another connection holds the lock it needs (SQLITE_BUSY: SQLite's own busy
   * wait is off, see the constructor), tries again after a short backoff (1 ms, doubling up to 50 ms)
   * until the configured `_busy_timeout` has passed; then the "database is locked" error stands. Without
   * a wait it returns `fn`'s value itself, not a promise (statements run synchronously on better-sqlite3).
   */
  private busyWait<T>(fn: () => T): T | Promise<T> {
    const started = Date.now();
    try {
      return fn();
    } catch (err) {
      if (!isBusy(err) || this.target.busyTimeoutMs === 0) throw err;
    }
    return this.retryBusy(fn, started);
  }

  private async retryBusy<T>(fn: () => T, started: number): Promise<T> {
    const limit = this.target.busyTimeoutMs;
    let pause = 1;
    for (;;) {
      await new Promise((r) => setTimeout(r, Math.min(pause, Math.max(1, limit - (Date.now() - started)))));
      pause = Math.min(pause * 2, 50);
      try {
        return fn();
      } catch (err) {
        if (!isBusy(err) || Date.now() - started >= limit) throw err;
      }
    }
  }

  /** Reads a PRAGMA's current value (used by tests and diagnostics). */
  pragma(name: string): unknown {
    return this.db.pragma(name, { simple: true });
  }

  /** How long a statement waits for another connection's lock (`_busy_timeout`; see busyWait), ms. */
  get busyTimeoutMs(): number {
    return this.target.busyTimeoutMs;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    this.db.close();
  }
}

interface SharedEntry {
  readonly driver: SqliteDriver;
  readonly settings: string;
  refs: number;
}

const shared = new Map<string, SharedEntry>();

/** A runner's share of a SQLite connection: `close()` releases the share, the last one closes the file. */
export class SharedSqliteDriver implements Driver {
  private released = false;

  constructor(
    private readonly entry: SharedEntry,
    private readonly path: string,
  ) {}

  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]> {
    return this.entry.driver.query<R>(sql, params);
  }

  run(sql: string, params?: readonly unknown[]): Promise<number> {
    return this.entry.driver.run(sql, params);
  }

  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.entry.driver.transaction(fn);
  }

  withAffinity(): Driver {
    return viewOf(this);
  }

  /** Reads a PRAGMA's current value (used by tests and diagnostics). */
  pragma(name: string): unknown {
    return this.entry.driver.pragma(name);
  }

  /** How long a statement waits for another connection's lock, ms (see SqliteDriver.busyTimeoutMs). */
  get busyTimeoutMs(): number {
    return this.entry.driver.busyTimeoutMs;
  }

  async close(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (--this.entry.refs > 0) return;
    if (shared.get(this.path) === this.entry) shared.delete(this.path);
    await this.entry.driver.close();
  }
}

/**
 * The driver for a SQLite target. Runners in one process on the same file share one connection (and so
 * one transaction queue): two connections in one process would each wait for the other's write lock while
 * blocking the thread the other needs to finish. `:memory:` databases are private to their runner.
 */
export function openSqliteDriver(target: SqliteTarget): SqliteDriver | SharedSqliteDriver {
  if (target.memory) return new SqliteDriver(target);
  const settings = JSON.stringify([target.mode, target.journalMode, target.busyTimeoutMs, target.synchronous]);
  let entry = shared.get(target.path);
  if (entry && entry.settings !== settings) {
    throw new ConfigurationError(
      `another runner in this process already uses ${target.path} with different parameters ` +
        `(mode, _journal_mode, _busy_timeout, _synchronous must match: runners on one file share one connection)`,
    );
  }
  if (!entry) {
    entry = { driver: new SqliteDriver(target), settings, refs: 0 };
    shared.set(target.path, entry);
  }
  entry.refs++;
  return new SharedSqliteDriver(entry, target.path);
}
