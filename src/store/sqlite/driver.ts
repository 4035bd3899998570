/**
 * SQLite driver on better-sqlite3: one connection per runner, statements prepared once and cached,
 * transactions serialised through an async queue so awaiting code never interleaves two of them on the
 * single connection. better-sqlite3 is synchronous, so write transactions are kept short (`BEGIN IMMEDIATE`).
 */
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { SqliteTarget } from "../../database-url.js";
import type { Dialect, Driver, Queryable } from "../store.js";
import { mapSqliteError } from "./errors.js";

type Statement = Database.Statement<unknown[], Record<string, unknown>>;

/** SQLite's SQL fragments. */
export const sqliteDialect: Dialect = {
  capabilities: { skipLocked: false, listenNotify: false, schemas: false },
  prefix: "",
  nowMs: "CAST(unixepoch('subsec') * 1000 AS INTEGER)",
  inList: (column) => `${column} IN (SELECT value FROM json_each(?))`,
  list: (values) => JSON.stringify(values),
  claimLock: "",
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
        this.db.pragma(`journal_mode = ${target.journalMode}`);
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

  private exec<R>(sql: string, params: readonly unknown[] | undefined): { rows: R[]; changes: number } {
    try {
      const s = this.prepare(sql);
      if (s.reader) {
        const rows = s.all(...bind(params)) as R[];
        return { rows, changes: rows.length };
      }
      return { rows: [], changes: s.run(...bind(params)).changes };
    } catch (err) {
      throw mapSqliteError(err, this.target.display);
    }
  }

  private readonly direct: Queryable = {
    query: async <R>(sql: string, params?: readonly unknown[]) => this.exec<R>(sql, params).rows,
    run: async (sql: string, params?: readonly unknown[]) => this.exec(sql, params).changes,
  };

  /** Runs `fn` after everything queued before it; keeps the queue alive when `fn` fails. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]> {
    return this.serial(() => this.direct.query<R>(sql, params));
  }

  run(sql: string, params?: readonly unknown[]): Promise<number> {
    return this.serial(() => this.direct.run(sql, params));
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.serial(async () => {
      if (this.closed) throw mapSqliteError(new Error("the database connection is closed"), this.target.display);
      this.exec("BEGIN IMMEDIATE", undefined);
      try {
        const result = await fn(this.direct);
        this.exec("COMMIT", undefined);
        return result;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec("ROLLBACK");
        throw err;
      }
    });
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
