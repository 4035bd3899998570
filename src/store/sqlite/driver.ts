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

  // Outside a transaction every statement (the claim, the heartbeat, reads) gets the same asynchronous
  // busy wait as BEGIN IMMEDIATE: another process's write lock never freezes the event loop.
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]> {
    return this.serial(() => this.withAsyncBusyWait(() => this.exec<R>(sql, params).rows));
  }

  run(sql: string, params?: readonly unknown[]): Promise<number> {
    return this.serial(() => this.withAsyncBusyWait(() => this.exec(sql, params).changes));
  }

  /** One connection: every stream of work already uses it. */
  withAffinity(): Driver {
    return viewOf(this);
  }

  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.serial(async () => {
      if (this.closed) throw mapSqliteError(new Error("the database connection is closed"), this.target.display);
      await this.beginImmediate();
      const atCommit: Array<[string, readonly unknown[] | undefined]> = [];
      // As on PostgreSQL, a failed statement fails its transaction even if `fn` goes on.
      let failed: { error: unknown } | undefined;
      const exec = <R>(sql: string, params: readonly unknown[] | undefined) => {
        try {
          return this.exec<R>(sql, params);
        } catch (error) {
          failed ??= { error };
          throw error;
        }
      };
      const tx: Transaction = {
        query: async <R>(sql: string, params?: readonly unknown[]) => exec<R>(sql, params).rows,
        run: async (sql: string, params?: readonly unknown[]) => exec(sql, params).changes,
        runAtCommit: (sql, params) => void atCommit.push([sql, params]),
      };
      try {
        const result = await fn(tx);
        if (failed) throw failed.error;
        for (const [sql, params] of atCommit) this.exec(sql, params);
        this.exec("COMMIT", undefined);
        return result;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec("ROLLBACK");
        throw err;
      }
    });
  }

  /** `BEGIN IMMEDIATE`, waiting for another process's write lock asynchronously. */
  private beginImmediate(): Promise<void> {
    return this.withAsyncBusyWait(() => void this.exec("BEGIN IMMEDIATE", undefined));
  }

  /**
   * Runs `fn` with SQLite's own (thread-blocking) busy wait turned off, retrying with a short backoff
   * while the database is busy, until the configured `_busy_timeout` has passed; then the
   * "database is locked" error stands.
   */
  private async withAsyncBusyWait<T>(fn: () => T): Promise<T> {
    const limit = this.target.busyTimeoutMs;
    if (limit === 0) return fn();
    const started = Date.now();
    let pause = 1;
    for (;;) {
      this.prepare("PRAGMA busy_timeout = 0").run();
      try {
        return fn();
      } catch (err) {
        const code = ((err as { cause?: { code?: string } }).cause?.code ?? (err as { code?: string }).code) ?? "";
        if (!code.startsWith("SQLITE_BUSY") || Date.now() - started >= limit) throw err;
      } finally {
        // Prepared once (db.pragma compiles the statement on every call): this runs twice per transaction.
        this.prepare(`PRAGMA busy_timeout = ${limit}`).run();
      }
      await new Promise((r) => setTimeout(r, Math.min(pause, Math.max(1, limit - (Date.now() - started)))));
      pause = Math.min(pause * 2, 50);
    }
  }

  /** Reads a PRAGMA's current value (used by tests and diagnostics). */
  pragma(name: string): unknown {
    return this.db.pragma(name, { simple: true });
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
