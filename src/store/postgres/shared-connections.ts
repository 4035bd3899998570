/**
 * Runners in one process that point at the same server with the same credentials and settings share one
 * pool and one LISTEN connection — so 100 tenant runners (`withSchema`) cost one pool, not 100, and stay
 * far from `max_connections`. All engine SQL is schema-qualified, so sharing a session is safe. The shared
 * pool is sized by the largest pool size any of its runners asked for.
 */
import type { PostgresTarget } from "../../database-url.js";
import type { Logger } from "../../types.js";
import type { Driver, Queryable, Transaction } from "../store.js";
import { PostgresDriver } from "./driver.js";
import { PostgresListener } from "./listener.js";

interface Entry {
  readonly opening: Promise<PostgresDriver>;
  refs: number;
  listener: PostgresListener | undefined;
}

const entries = new Map<string, Entry>();

function keyOf(t: PostgresTarget): string {
  // Everything that changes what a connection is; not the search path's effect (SQL is schema-qualified),
  // but `options` as a whole, since it may set other session parameters.
  return JSON.stringify([
    t.host, t.port, t.database, t.user, t.password, t.sslmode, t.sslrootcert, t.connectTimeoutMs,
    t.applicationName, t.options, t.poolMin, t.poolMax, t.poolTimeoutMs,
  ]);
}

/** A runner's handle on a shared pool: its `close()` releases the share, the last one ends the pool. */
export class SharedPostgresDriver implements Driver {
  private released = false;

  private constructor(
    readonly inner: PostgresDriver,
    private readonly key: string,
    private readonly entry: Entry,
    private readonly logger: Logger,
  ) {}

  /** Joins (or opens) the shared pool for this target. */
  static async acquire(target: PostgresTarget, poolSize: number, logger: Logger): Promise<SharedPostgresDriver> {
    const key = keyOf(target);
    let entry = entries.get(key);
    if (!entry) {
      entry = { opening: PostgresDriver.open(target, poolSize), refs: 0, listener: undefined };
      entries.set(key, entry);
    }
    entry.refs++;
    let inner: PostgresDriver;
    try {
      inner = await entry.opening;
    } catch (err) {
      if (--entry.refs === 0 && entries.get(key) === entry) entries.delete(key);
      throw err;
    }
    if (target.poolMax === undefined && poolSize > inner.pool.options.max) inner.pool.options.max = poolSize;
    return new SharedPostgresDriver(inner, key, entry, logger);
  }

  /** How many runners share this pool now (this one included). */
  get sharedBy(): number {
    return this.entry.refs;
  }

  /** The shared LISTEN connection (created on first use). */
  listener(): PostgresListener {
    this.entry.listener ??= new PostgresListener(this.inner.target, this.inner.sslmode, this.logger);
    return this.entry.listener;
  }

  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]> {
    return this.inner.query<R>(sql, params);
  }

  run(sql: string, params?: readonly unknown[]): Promise<number> {
    return this.inner.run(sql, params);
  }

  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.inner.transaction(fn);
  }

  withAffinity(): Driver {
    return this.inner.withAffinity();
  }

  async close(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (--this.entry.refs > 0) return;
    if (entries.get(this.key) === this.entry) entries.delete(this.key);
    await this.entry.listener?.close();
    await this.inner.close();
  }
}

/** How many distinct shared pools are open in this process (tests and diagnostics). */
export function sharedPoolCount(): number {
  return entries.size;
}
