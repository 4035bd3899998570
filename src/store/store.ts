/**
 * The storage seam. The engine talks only to {@link Store}; each backend supplies a {@link Driver}
 * (how to run SQL) and a {@link Dialect} (the few SQL fragments that differ). Code branches on
 * {@link StoreCapabilities}, never on dialect names.
 */
import type { ExecutionStatus, JsonObject, TaskStatus } from "../types.js";

/** What a backend can do beyond the common SQL subset. */
export interface StoreCapabilities {
  /** `FOR UPDATE SKIP LOCKED` claiming (PostgreSQL). */
  readonly skipLocked: boolean;
  /** Cross-process wakeups through LISTEN/NOTIFY (PostgreSQL). */
  readonly listenNotify: boolean;
  /** Engine tables can live in a named schema (PostgreSQL). */
  readonly schemas: boolean;
  /** Data-modifying statements in WITH, so several writes go in one statement (PostgreSQL). */
  readonly writableCtes: boolean;
}

/** Something that runs SQL. Statements use `?` placeholders; the driver adapts them. */
export interface Queryable {
  /** Runs a statement and returns its rows (empty for statements without RETURNING). */
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]>;
  /** Runs a statement and returns the number of rows it changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
}

/** A write transaction (see {@link Driver.transaction}). */
export interface Transaction extends Queryable {
  /**
   * Queues a write to run last, after everything `fn` sent and right before `COMMIT`. On PostgreSQL it
   * travels with the `COMMIT` (one round trip for both). Use it for writes whose result is not needed; its
   * failure fails the transaction. Call it before `fn` resolves.
   */
  runAtCommit(sql: string, params?: readonly unknown[]): void;
}

/** A database connection (or pool) with transactions. */
export interface Driver extends Queryable {
  /**
   * Runs `fn` in one write transaction; commits when it resolves, rolls back when it throws. Statements
   * `fn` sends together (without waiting for the earlier ones) are pipelined on PostgreSQL: one round trip
   * for all of them, `BEGIN` included. A statement `fn` did not wait for still runs before `COMMIT` (and its
   * promise is settled when the transaction is); any failed statement fails the transaction.
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
  /**
   * A view of this driver for one stream of work (a runner's write lane, its claims) whose statements and
   * transactions prefer the connection that stream used last, when it is idle: its prepared statements are
   * planned there already. Drivers with a single connection return a plain view of themselves. A view owns
   * no connection: its `close()` closes nothing.
   */
  withAffinity(): Driver;
  /** Closes every connection. Idempotent. */
  close(): Promise<void>;
}

/** `driver`'s statements and transactions, with a `close()` that closes nothing (see {@link Driver.withAffinity}). */
export function viewOf(driver: Driver): Driver {
  const view: Driver = {
    query: (sql, params) => driver.query(sql, params),
    run: (sql, params) => driver.run(sql, params),
    transaction: (fn) => driver.transaction(fn),
    withAffinity: () => view,
    close: async () => undefined,
  };
  return view;
}

/** The SQL fragments that differ between backends. */
export interface Dialect {
  readonly capabilities: StoreCapabilities;
  /** Prefix for table names: `"schema".` on PostgreSQL, empty on SQLite. */
  readonly prefix: string;
  /** The database clock in epoch milliseconds, as an SQL expression (used for leases). */
  readonly nowMs: string;
  /** `col IN list` for a list bound as one parameter (see {@link Dialect.list}). */
  inList(column: string): string;
  /** Binds an array for {@link Dialect.inList}. */
  list(values: readonly string[]): unknown;
  /** The row-locking suffix of the claim sub-select (`FOR UPDATE OF c SKIP LOCKED` or nothing). */
  readonly claimLock: string;
  /**
   * A derived table `AS v` with the given typed columns, read from ONE bound parameter (see
   * {@link Dialect.rowsParam}): set-based statements keep one constant text (prepared once) whatever the
   * number of rows, and never approach a bind-parameter limit. (The SQLite driver binds a few rows inline,
   * in a text of its own per row count: see sqlite/bound-rows.ts.)
   */
  rows(columns: Readonly<Record<string, RowColumnType>>): string;
  /** Binds the objects of {@link Dialect.rows} (keys are column names; absent or undefined = NULL). */
  rowsParam(rows: readonly object[]): unknown;
  /**
   * {@link Dialect.rows} for rows joined to a table by its key (updates, claims): bound in a form whose row
   * count the planner estimates low, so it looks the rows up by key instead of scanning the table. Bind with
   * {@link Dialect.keyedRowsParams}.
   */
  keyedRows(columns: Readonly<Record<string, RowColumnType>>): string;
  /** The parameters that bind the objects of one {@link Dialect.keyedRows}, in order (spread them in its place). */
  keyedRowsParams(rows: readonly object[]): unknown[];
  /** The column naming a row's physical version (`ctid`, `rowid`): `alias.rowId` of a table or a {@link Dialect.lookup}. */
  readonly rowId: string;
  /**
   * A join to `table AS alias` that looks its rows up by `on` for each row joined so far (`inner`: rows
   * without a match are dropped; `left`: kept, with NULLs). The statement reads the table by key whatever
   * the planner believes about its size: on PostgreSQL a fenced `LATERAL` subquery (a plan made while the
   * tables were small, or before their statistics were gathered, would otherwise scan the table once per
   * key), on SQLite a join in the written order.
   */
  lookup(join: "inner" | "left", table: string, alias: string, on: string): string;
}

/** Column types of {@link Dialect.rows}. */
export type RowColumnType = "text" | "int";

/** Identifies a task row. */
export interface TaskKey {
  readonly executionId: string;
  readonly taskId: string;
}

/** A task attempt this runner owns: the claim is valid while `claimedBy` and `attempt` match the row. */
export interface ClaimedTask extends TaskKey {
  readonly workflowName: string;
  /** 1-based number of this attempt (every claim starts a new attempt). */
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly recoveries: number;
}

/** A dependency's state as seen by a claimed task. */
export interface DependencyState {
  readonly taskId: string;
  readonly status: TaskStatus;
  readonly output: JsonObject | undefined;
}

/** What a claimed task needs to run: the execution input and its dependencies' states. */
export interface TaskInputs {
  readonly input: JsonObject;
  readonly dependencies: ReadonlyMap<string, DependencyState>;
}

/** One row of `cloaca_executions`, decoded. */
export interface ExecutionRecord {
  readonly id: string;
  readonly workflowName: string;
  readonly workflowVersion: string;
  readonly status: ExecutionStatus;
  readonly input: JsonObject;
  readonly finalContext: JsonObject | undefined;
  readonly errorMessage: string | undefined;
  readonly pauseReason: string | undefined;
  readonly createdAt: number;
  readonly completedAt: number | undefined;
}

/** One row of `cloaca_tasks`, decoded (without its output). */
export interface TaskRecord {
  readonly taskId: string;
  readonly status: TaskStatus;
  readonly attempts: number;
  readonly errorMessage: string | undefined;
  readonly skipReason: string | undefined;
  readonly startedAt: number | undefined;
  readonly completedAt: number | undefined;
  readonly position: number;
}

/** One row of the append-only event log. */
export interface EventRecord {
  readonly seq: number;
  readonly executionId: string;
  readonly taskId: string | undefined;
  readonly type: string;
  readonly data: JsonObject | undefined;
  readonly runnerId: string | undefined;
  readonly createdAt: number;
}

/** Filter for {@link Store.listExecutions}. */
export interface ExecutionFilter {
  readonly workflow?: string;
  readonly status?: ExecutionStatus;
  readonly limit?: number;
  readonly offset?: number;
}
