/**
 * PostgreSQL driver on `pg`: a pool built from our parsed URL (not pg's own URL parsing, which does not
 * know `pool_*` and treats `sslmode=require` as full verification), type parsers set per pool, named
 * prepared statements, and transactions retried on deadlock or serialization failure.
 */
import { readFileSync } from "node:fs";
import pg from "pg";
import type { PostgresTarget } from "../../database-url.js";
import { ConfigurationError } from "../../errors.js";
import type { Driver, Queryable, Transaction } from "../store.js";
import { isRetryableTransactionError, mapPostgresError } from "./errors.js";

const INT8 = 20;
const NUMERIC = 1700;

/** Per-pool type parsers: BIGINT and NUMERIC come back as numbers (our values fit in 2^53). */
const types = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === INT8 || oid === NUMERIC) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as "text");
  },
};

/** Converts `?` placeholders to `$n`, once per statement text. */
const converted = new Map<string, { text: string; name: string }>();
function convert(sql: string): { text: string; name: string } {
  let c = converted.get(sql);
  if (!c) {
    let i = 0;
    const text = sql.replace(/\?/g, () => `$${++i}`);
    c = { text, name: `cloaca_${converted.size.toString(36)}` };
    converted.set(sql, c);
  }
  return c;
}

/** TLS options for an sslmode, with libpq's meanings. `prefer`/`allow` are resolved by {@link PostgresDriver.open}. */
function sslFor(target: PostgresTarget, mode: string | undefined): pg.ClientConfig["ssl"] {
  let ca: string | undefined;
  try {
    ca = target.sslrootcert ? readFileSync(target.sslrootcert, "utf8") : undefined;
  } catch (err) {
    throw new ConfigurationError(`sslrootcert: cannot read the CA certificate file: ${(err as Error).message}`, { cause: err });
  }
  switch (mode) {
    case undefined:
    case "disable":
    case "allow":
      return false;
    case "prefer":
    case "require":
      // libpq's require: encrypt, do not verify (unless a root certificate is given, then verify the CA).
      return ca ? { ca, rejectUnauthorized: true, checkServerIdentity: () => undefined } : { rejectUnauthorized: false };
    case "verify-ca":
      if (!ca) throw new ConfigurationError("sslmode=verify-ca needs sslrootcert=<path to the CA certificate>");
      return { ca, rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case "verify-full":
      return ca ? { ca, rejectUnauthorized: true } : { rejectUnauthorized: true };
    default:
      throw new ConfigurationError(`unsupported sslmode "${mode}"`);
  }
}

/**
 * Planner settings for every pooled connection (the engine's statements are the only ones sent on them); a
 * setting the URL's `options=` names is left to the URL.
 * - `enable_seqscan = off`: every engine statement reads rows by key or by index. A plan made while a table
 *   was small (a new schema, a tenant's first minutes) scans it whole instead, and is kept until an
 *   `ANALYZE` (autovacuum's, at most once a minute and only after enough changes) makes the connection
 *   plan again; by then a batch scanned thousands of rows per update. A table no index serves is still
 *   scanned.
 *
 * - `plan_cache_mode = force_generic_plan`: each statement is planned once per connection, not on each of
 *   its first five executions (custom plans) and again whenever PostgreSQL prefers a custom plan. The
 *   outcome statement costs about as much to plan as to run; every plan these statements need is by key or
 *   index whatever the parameters (the keyed rows carry their count as a `LIMIT`). It was withdrawn once,
 *   while the worker-kill scale test failed more often with it; that test's 1 s lease for live workers
 *   was the cause, and with a 3 s lease it passed 12 of 12 isolated runs with the setting.
 * - `jit = off`: a scan `enable_seqscan = off` penalizes (the runners table, which no index serves) costs
 *   more than `jit_above_cost`, so PostgreSQL compiled it with JIT: 63 ms of server time for a one-row read
 *   on every lease sweep. The engine's statements are short; none gains from JIT.
 */
const ENGINE_SETTINGS: ReadonlyArray<readonly [name: string, value: string]> = [
  ["enable_seqscan", "off"],
  ["plan_cache_mode", "force_generic_plan"],
  ["jit", "off"],
];

/** The statement that applies the {@link ENGINE_SETTINGS} `options` leaves to the engine (undefined: none). */
function engineSettingsStatement(options: string | undefined): string | undefined {
  const named = (name: string) => new RegExp(name.replace(/_/g, "[_-]"), "i").test(options ?? "");
  const settings = ENGINE_SETTINGS.filter(([name]) => !named(name));
  if (!settings.length) return undefined;
  return `SELECT ${settings.map(([name, value]) => `set_config('${name}', '${value}', false)`).join(", ")}`;
}

/** The connection settings shared by pooled clients and the LISTEN client. */
export function clientConfig(target: PostgresTarget, sslmode: string | undefined): pg.ClientConfig {
  return {
    host: target.host,
    port: target.port,
    database: target.database,
    user: target.user,
    password: target.password,
    ssl: sslFor(target, sslmode),
    application_name: target.applicationName ?? "cloaca",
    options: target.options,
    connectionTimeoutMillis: target.connectTimeoutMs ?? 30_000,
    types,
  };
}

/** The connection a stream of work used last (see {@link PostgresDriver.withAffinity}). */
interface Affinity {
  client: pg.PoolClient | undefined;
}

/**
 * Makes the pool hand out `client` next, if it is idle. pg-pool keeps its idle clients in `_idle` and hands
 * out the last one (on the next tick after `connect()`); it has no public way to ask for a given client, so
 * this moves the client's entry to the end. Should pg-pool's internals change, only the preference is lost
 * (test/store/affinity.test.ts checks that it holds).
 */
function preferIdle(pool: pg.Pool, client: pg.PoolClient): void {
  const idle = (pool as unknown as { _idle?: Array<{ client?: unknown }> })._idle;
  if (!Array.isArray(idle)) return;
  const i = idle.findIndex((item) => item.client === client);
  if (i >= 0 && i < idle.length - 1) idle.push(...idle.splice(i, 1));
}

/** A `pg` pool behind the {@link Driver} interface. */
export class PostgresDriver implements Driver {
  private constructor(
    readonly target: PostgresTarget,
    readonly pool: pg.Pool,
    readonly sslmode: string | undefined,
  ) {}

  /**
   * Opens a pool and proves it with one connection (so bad credentials fail here, plainly). For
   * `sslmode=prefer`/`allow` it tries the preferred way first and falls back like libpq.
   */
  static async open(target: PostgresTarget, poolSize: number): Promise<PostgresDriver> {
    const modes =
      target.sslmode === "prefer" ? ["prefer", "disable"] : target.sslmode === "allow" ? ["disable", "require"] : [target.sslmode];
    let lastError: unknown;
    for (const mode of modes) {
      const base = clientConfig(target, mode);
      const connectTimeout = base.connectionTimeoutMillis;
      // pool_timeout bounds the wait for a free connection; connect_timeout bounds one connection attempt.
      class TimedClient extends pg.Client {
        constructor(config: pg.ClientConfig) {
          // pg-pool keeps `password` as a NON-enumerable property of the options it passes here, so a spread
          // alone drops it (every password-authenticated connection then failed): copy it explicitly.
          super({ ...config, password: config.password, connectionTimeoutMillis: connectTimeout });
        }
      }
      const pool = new pg.Pool({
        ...base,
        Client: TimedClient,
        max: target.poolMax ?? poolSize,
        min: target.poolMin ?? 0,
        connectionTimeoutMillis: target.poolTimeoutMs ?? 30_000,
        idleTimeoutMillis: 30_000,
        // See transaction(): statements sent together go out together.
        pipeline: true,
      } as unknown as pg.PoolConfig);
      pool.on("error", () => {
        /* idle client errors surface on the next query */
      });
      const settings = engineSettingsStatement(target.options);
      if (settings) {
        // Queued before any statement the pool hands the connection out for. A failure (a server without
        // one of the settings) leaves the server's defaults; a broken connection fails its first real query.
        pool.on("connect", (client: pg.PoolClient) => void client.query(settings).catch(() => undefined));
      }
      try {
        const client = await pool.connect();
        // pg-pool never opens connections ahead of demand (its `min` only keeps idle ones from being closed),
        // so open the rest of pool_min_size now: they are then kept open, as the parameter promises.
        const more = await Promise.allSettled(Array.from({ length: Math.max(0, (target.poolMin ?? 0) - 1) }, () => pool.connect()));
        client.release();
        for (const r of more) if (r.status === "fulfilled") r.value.release();
        const failed = more.find((r): r is PromiseRejectedResult => r.status === "rejected");
        if (failed) throw failed.reason;
        return new PostgresDriver(target, pool, mode);
      } catch (err) {
        lastError = err;
        await pool.end().catch(() => undefined);
        const sslRefused = /does not support SSL|SSL/i.test(String((err as Error).message));
        if (!sslRefused) break;
      }
    }
    throw mapPostgresError(lastError, target.display);
  }

  private async exec(client: pg.Pool | pg.PoolClient, sql: string, params: readonly unknown[] | undefined) {
    const { text, name } = convert(sql);
    try {
      return await client.query({ text, name, values: params ? [...params] : [] });
    } catch (err) {
      throw mapPostgresError(err, this.target.display);
    }
  }

  async query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]> {
    return (await this.exec(this.pool, sql, params)).rows as R[];
  }

  async run(sql: string, params?: readonly unknown[]): Promise<number> {
    return (await this.exec(this.pool, sql, params)).rowCount ?? 0;
  }

  /**
   * A view whose statements and transactions take the connection it used last when that one is idle, else
   * any. PostgreSQL plans a prepared statement once per connection, and the engine's outcome statement
   * costs several milliseconds to parse and plan (more than a batch of outcomes takes to run): a runner's
   * write lane and its claims, each kept on its own connection, plan their statements once instead of
   * once on every connection of the pool. It is a preference, not a reservation: the connection stays in
   * the pool for everyone else (runners sharing the pool, other work of this one).
   */
  withAffinity(): Driver {
    const affinity: Affinity = { client: undefined };
    return {
      query: async <R>(sql: string, params?: readonly unknown[]) =>
        (await this.#onClient(affinity, (c) => this.exec(c, sql, params))).rows as R[],
      run: async (sql: string, params?: readonly unknown[]) =>
        (await this.#onClient(affinity, (c) => this.exec(c, sql, params))).rowCount ?? 0,
      transaction: (fn) => this.#transaction(fn, affinity),
      withAffinity: () => this.withAffinity(),
      // The view owns no connection: closing the driver closes them.
      close: async () => undefined,
    };
  }

  /** Checks a client out of the pool, the affinity's own when it is idle. */
  async #connect(affinity: Affinity | undefined): Promise<pg.PoolClient> {
    if (affinity?.client) preferIdle(this.pool, affinity.client);
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw mapPostgresError(err, this.target.display);
    }
    if (affinity) affinity.client = client;
    return client;
  }

  /** Runs `use` on a client of the affinity; as `pool.query` does, a client whose statement failed is closed. */
  async #onClient<T>(affinity: Affinity, use: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#connect(affinity);
    try {
      const result = await use(client);
      client.release();
      return result;
    } catch (err) {
      client.release(err instanceof Error ? err : true);
      throw err;
    }
  }

  /**
   * The pool's clients run in `pg`'s pipeline mode: statements sent before earlier ones answered go out at
   * once. A transaction uses it to save round trips: `BEGIN` travels with the first statement, the
   * statements `fn` sends together travel together, and the {@link Transaction.runAtCommit} writes travel
   * with `COMMIT`. Order is kept: the server runs them as sent.
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.#transaction(fn, undefined);
  }

  async #transaction<T>(fn: (tx: Transaction) => Promise<T>, affinity: Affinity | undefined): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.#connect(affinity);
      /** Every statement sent in this transaction; all are settled before the client goes back to the pool. */
      const sent: Array<Promise<unknown>> = [];
      const atCommit: Array<[string, readonly unknown[] | undefined]> = [];
      let open = true;
      const track = <P extends Promise<unknown>>(p: P): P => {
        sent.push(p);
        p.catch(() => undefined); // reported to whoever awaits it, and checked below
        return p;
      };
      // `BEGIN` is sent with the second statement, or at the end of the event loop's turn if `fn` waits for
      // the first one's answer. A transaction that turns out to be one statement (an outcome batch with
      // nothing else to write) sends it alone: a statement commits atomically on its own, and the server
      // then runs neither `BEGIN` nor `COMMIT`.
      let begun = false;
      let held: { sql: string; params: readonly unknown[] | undefined; settle(p: Promise<pg.QueryResult>): void } | undefined;
      const exec = (sql: string, params: readonly unknown[] | undefined) => this.exec(client, sql, params);
      const sendHeld = () => {
        const h = held;
        held = undefined;
        h?.settle(exec(h.sql, h.params));
      };
      const begin = () => {
        begun = true;
        track(client.query("BEGIN"));
        sendHeld();
        flushAtTurnEnd();
      };
      const send = (sql: string, params: readonly unknown[] | undefined): Promise<pg.QueryResult> => {
        if (!open) throw new Error(`a statement was sent after its transaction ended: ${sql.slice(0, 80)}`);
        if (begun) return track(exec(sql, params));
        if (held) {
          begin();
          return track(exec(sql, params));
        }
        // Sent at the end of this turn if nothing settles it sooner (fn may be waiting for its answer).
        flushAtTurnEnd();
        return track(
          new Promise<pg.QueryResult>((resolve, reject) => {
            held = { sql, params, settle: (p) => p.then(resolve, reject) };
          }),
        );
      };
      const tx: Transaction = {
        query: async <R>(sql: string, params?: readonly unknown[]) => (await send(sql, params)).rows as R[],
        run: async (sql: string, params?: readonly unknown[]) => (await send(sql, params)).rowCount ?? 0,
        runAtCommit: (sql, params) => {
          if (!open) throw new Error(`runAtCommit after the transaction ended: ${sql.slice(0, 80)}`);
          atCommit.push([sql, params]);
        },
      };
      // The socket is corked until COMMIT is sent, so a transaction whose statements are all known before
      // any answer (an outcome batch in one round trip) leaves in one write: one system call, one packet for
      // the server to read. A transaction that waits for an answer first is uncorked at the end of the
      // event loop's turn in which it sent something (with `BEGIN` and the statement held back, if any): what
      // it sent by then goes out together, and it never waits on a corked socket.
      const socket = (client as unknown as { connection?: { stream?: { cork?(): void; uncork?(): void } } }).connection?.stream;
      let corked = false;
      const uncork = () => {
        if (!corked) return;
        corked = false;
        socket?.uncork?.();
      };
      if (socket?.cork && socket.uncork) {
        socket.cork();
        corked = true;
      }
      let flushing = false;
      function flushAtTurnEnd(): void {
        if (flushing) return;
        flushing = true;
        setImmediate(() => {
          flushing = false;
          if (open && held) begin();
          uncork();
        });
      }
      try {
        const result = await fn(tx);
        let commit: Promise<pg.QueryResult> | undefined;
        if (!begun && held && !atCommit.length) sendHeld();
        else if (begun || held || atCommit.length) {
          if (!begun) begin();
          for (const [sql, params] of atCommit) send(sql, params);
          commit = track(client.query("COMMIT"));
        }
        uncork();
        open = false;
        const settled = await Promise.allSettled(sent);
        const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
        if (failed) throw failed.reason;
        // COMMIT of a transaction that a failed statement aborted answers ROLLBACK (and no error).
        if (commit && (await commit).command !== "COMMIT") throw new Error("the transaction was rolled back by the server");
        client.release();
        return result;
      } catch (err) {
        open = false;
        // A statement held back (fn failed before sending it) was never sent: it fails with the transaction.
        held?.settle(Promise.reject(err));
        held = undefined;
        uncork();
        await Promise.allSettled(sent);
        if (begun) await client.query("ROLLBACK").catch(() => undefined);
        client.release();
        const cause = (err as { cause?: unknown }).cause ?? err;
        if (attempt < 5 && isRetryableTransactionError(cause)) continue;
        throw mapPostgresError(err, this.target.display);
      }
    }
  }

  async close(): Promise<void> {
    if (!this.pool.ended) await this.pool.end();
  }
}
