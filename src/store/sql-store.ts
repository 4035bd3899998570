/**
 * The engine's storage operations, written once over a {@link Driver} and a {@link Dialect}.
 * Every state change is a guarded compare-and-set: a task write names the status it expects and, for
 * claimed tasks, the owner and attempt, so a runner that lost its claim cannot overwrite anything.
 */
import type { ExecutionStatus, JsonObject, TaskStatus } from "../types.js";
import { renderMigration, type Migration } from "./migrations.js";
import type {
  ClaimedTask,
  Dialect,
  Driver,
  EventRecord,
  ExecutionFilter,
  ExecutionRecord,
  Queryable,
  StoreCapabilities,
  TaskInputs,
  TaskKey,
  TaskRecord,
  DependencyState,
} from "./store.js";

/** Backend-specific steps the shared store calls out to. */
export interface StoreHooks {
  /** Runs first inside the migration transaction: take a lock, create the schema. */
  beforeMigrate(tx: Queryable): Promise<void>;
  /** Sends cross-process notifications on `channel`, delivered when `tx` commits (no-op without LISTEN/NOTIFY). */
  notifyMany(tx: Queryable, channel: string, payloads: readonly string[]): Promise<void>;
}

/** A statement with its parameters. */
export interface Statement {
  readonly sql: string;
  readonly params: readonly unknown[];
}

/** A task row to create with its execution. */
export interface NewTask {
  readonly taskId: string;
  readonly position: number;
  readonly depsCount: number;
  readonly maxAttempts: number;
}

/** An event to append. */
export interface NewEvent {
  readonly executionId: string;
  readonly taskId?: string | undefined;
  readonly type: string;
  readonly data?: JsonObject | undefined;
}

/**
 * Writes gathered from many operations of one transaction and written together at its end by
 * {@link SqlStore.flush}: a batch of 100 new executions costs one statement per table, not 300 — and on
 * PostgreSQL the whole write set is one statement.
 */
export class WriteSet {
  /** Rows of `cloaca_executions` to insert. */
  readonly executions: object[] = [];
  /** Rows of `cloaca_tasks` to insert. */
  readonly tasks: object[] = [];
  /** Events to append, in order. */
  readonly events: NewEvent[] = [];
  /** Executions to mark terminal. */
  readonly finishes: object[] = [];
  /** Distinct notification payloads (sent at commit). */
  readonly notifications = new Set<string>();
}

/** An execution to mark terminal (see {@link SqlStore.planFinish}). */
export interface ExecutionFinish {
  readonly executionId: string;
  readonly status: "Completed" | "Failed";
  readonly finalContext: JsonObject;
  readonly errorMessage: string | undefined;
}

/** How a claimed attempt ended, as written to its row. */
export type TaskWrite =
  | { readonly kind: "completed"; readonly output: JsonObject }
  | { readonly kind: "failed"; readonly error: string }
  | { readonly kind: "retry"; readonly error: string; readonly readyAt: number }
  | { readonly kind: "skipped"; readonly reason: string };

/**
 * One dependency edge to count against its dependent (see {@link SqlStore.advanceDependents}): the
 * dependency (`source`) just ended in this transaction. The edge counts only if the source row really is in
 * that state — written by this transaction at `now` — so an outcome whose claim was lost advances nothing,
 * and the advance can be sent before the outcome's own write has answered.
 */
export interface Advance {
  readonly executionId: string;
  /** The dependent. */
  readonly taskId: string;
  readonly source: { readonly taskId: string; readonly attempt: number; readonly status: "Completed" | "Failed" | "Skipped" };
  /** The dependent has the default trigger rule (a failed or skipped dependency skips it). */
  readonly defaultRule: boolean;
  /** Claim the dependent for this runner if it becomes ready (a slot is held for it). */
  readonly local: boolean;
}

/** A runner's lease row. */
export interface RunnerLease {
  readonly id: string;
  readonly name: string;
  readonly hostname: string;
  readonly pid: number;
  /** The lease length the runner itself declared (its `staleClaimThresholdMs`). */
  readonly staleAfterMs: number;
  /** Milliseconds since its last heartbeat, by the database clock. */
  readonly ageMs: number;
}

/**
 * In the error of a one-round-trip outcome statement that found a dependent it would skip (see
 * `writeOutcomesFinishing`): the batch must be recorded on the two-trip path.
 */
export const ONE_TRIP_REFUSED = "cloaca_one_trip_refused";

/** Whether `err` (or its cause) is a refusal of a one-round-trip outcome statement. */
export function isOneTripRefused(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) if (e.message.includes(ONE_TRIP_REFUSED)) return true;
  return false;
}

const TERMINAL_TASK = "('Completed','Failed','Skipped')";

/** The status each kind of outcome writes. */
const FINISHED_STATUS = { completed: "Completed", failed: "Failed", retry: "Ready", skipped: "Skipped" } as const;

/** The key of a task row in sets and maps. */
export function taskKey(executionId: string, taskId: string): string {
  return `${executionId}\u0000${taskId}`;
}

/** An execution's task counters and status, as a statement left them. */
export interface ExecutionCounts {
  readonly unfinished: number;
  readonly failed: number;
  readonly status: ExecutionStatus;
}

function toCounts(r: Record<string, unknown>): ExecutionCounts {
  return { unfinished: Number(r.unfinished_tasks), failed: Number(r.failed_tasks), status: r.status as ExecutionStatus };
}

/** An execution and its tasks in declaration order, each task with its stored output. */
export interface ExecutionRows {
  readonly execution: ExecutionRecord;
  readonly tasks: ReadonlyArray<TaskRecord & { readonly output: JsonObject | undefined }>;
}

function parseJson(text: unknown): JsonObject | undefined {
  return typeof text === "string" ? (JSON.parse(text) as JsonObject) : undefined;
}
function optNum(v: unknown): number | undefined {
  return v === null || v === undefined ? undefined : Number(v);
}
function optStr(v: unknown): string | undefined {
  return v === null || v === undefined ? undefined : String(v);
}

type Row = Record<string, unknown>;

function toExecution(r: Row): ExecutionRecord {
  return {
    id: String(r.id),
    workflowName: String(r.workflow_name),
    workflowVersion: String(r.workflow_version),
    status: r.status as ExecutionStatus,
    input: parseJson(r.input_context) ?? {},
    finalContext: parseJson(r.final_context),
    errorMessage: optStr(r.error_message),
    pauseReason: optStr(r.pause_reason),
    createdAt: Number(r.created_at),
    completedAt: optNum(r.completed_at),
  };
}

function toTask(r: Row): TaskRecord {
  return {
    taskId: String(r.task_id),
    status: r.status as TaskStatus,
    attempts: Number(r.attempt),
    errorMessage: optStr(r.error_message),
    skipReason: optStr(r.skip_reason),
    startedAt: optNum(r.started_at),
    completedAt: optNum(r.completed_at),
    position: Number(r.position),
  };
}

function toClaim(r: Row): ClaimedTask {
  return {
    executionId: String(r.execution_id),
    taskId: String(r.task_id),
    workflowName: String(r.workflow_name),
    attempt: Number(r.attempt),
    maxAttempts: Number(r.max_attempts),
    recoveries: Number(r.recoveries),
  };
}

/** A dependent an advance changed (see {@link SqlStore.advanceDependents}). */
export interface Advanced {
  readonly executionId: string;
  readonly taskId: string;
  readonly status: TaskStatus;
  readonly attempt: number;
  readonly skipReason: string | undefined;
  /** Set when it was claimed for this runner. */
  readonly claim: ClaimedTask | undefined;
}

function toAdvanced(r: Row): Advanced {
  return {
    executionId: String(r.execution_id),
    taskId: String(r.task_id),
    status: r.status as TaskStatus,
    attempt: Number(r.attempt),
    skipReason: optStr(r.skip_reason),
    claim: r.status === "Running" ? toClaim(r) : undefined,
  };
}

/** What an outcome batch's statement reports (see SqlStore.writeOutcomes). */
export interface OutcomeResults {
  /** The attempts written (keys); the others' claims were lost. */
  readonly written: Set<string>;
  /** Per execution counted against: what remains, and whether this statement finished it. */
  readonly counts: Map<string, ExecutionCounts & { readonly ended?: boolean }>;
  readonly advanced: Advanced[];
  /** The executions left with no unfinished task (or finished here), with their tasks. */
  readonly finishing: Map<string, ExecutionRows>;
}

/** One attempt's row in the outcome write (`finishTasks`): `ord` is its position in the batch. */
interface FinishRow {
  readonly eid: string;
  readonly tid: string;
  readonly att: number;
  readonly st: string;
  readonly out: string | null;
  readonly err: string | null;
  readonly why: string | null;
  readonly due: number | null;
  readonly ord: number;
}

/** Decodes the one row of a PostgreSQL outcome statement (its columns are JSON arrays). */
function outcomeResults(r: Record<string, unknown[] | null>, sent: readonly FinishRow[]): OutcomeResults {
  const written = new Set<string>();
  // The rows the statement wrote, as it wrote them (by their position in `sent`, whose output they took):
  // its snapshot rows hold them as they were before.
  const wrote = new Map<string, Row>();
  for (const [ord, status, attempt, completedAt, error, skipReason] of (r.fin ?? []) as unknown[][]) {
    const row = sent[Number(ord)]!;
    const key = taskKey(row.eid, row.tid);
    written.add(key);
    wrote.set(key, {
      task_status: status,
      attempt,
      task_completed_at: completedAt,
      output_context: row.out,
      task_error: error,
      skip_reason: skipReason,
    });
  }
  const counts = new Map<string, ExecutionCounts & { ended?: boolean }>();
  for (const [id, unfinished, failed, status, ended] of (r.adj ?? []) as unknown[][]) {
    counts.set(String(id), { unfinished: Number(unfinished), failed: Number(failed), status: status as ExecutionStatus, ended: ended === true });
  }
  return { written, counts, advanced: ((r.adv ?? []) as Row[]).map(toAdvanced), finishing: collectSnapshots((r.snap ?? []) as Row[], wrote) };
}

/**
 * Snapshot rows (an execution's columns with one task's, in task order) grouped by execution. A task in
 * `newer` (by {@link taskKey}) takes its task columns from there: a statement's snapshot cannot see what the
 * same statement wrote.
 */
function collectSnapshots(rows: readonly Row[], newer?: ReadonlyMap<string, Row>): Map<string, ExecutionRows> {
  const out = new Map<string, { execution: ExecutionRecord; tasks: Array<TaskRecord & { output: JsonObject | undefined }> }>();
  for (const row of rows) {
    const id = String(row.id);
    let entry = out.get(id);
    if (!entry) out.set(id, (entry = { execution: toExecution(row), tasks: [] }));
    if (row.task_id === null || row.task_id === undefined) continue;
    const wrote = newer?.get(taskKey(id, String(row.task_id)));
    const r = wrote ? { ...row, ...wrote } : row;
    entry.tasks.push({
      ...toTask({ ...r, status: r.task_status, error_message: r.task_error, completed_at: r.task_completed_at }),
      output: parseJson(r.output_context),
    });
  }
  return out;
}

const CLAIM_COLUMNS = "execution_id, task_id, workflow_name, attempt, max_attempts, recoveries";
const EXECUTION_COLUMNS =
  "id, workflow_name, workflow_version, status, input_context, final_context, error_message, pause_reason, created_at, completed_at";

/** `columns` (a comma-separated list) qualified by `alias`. */
function qualified(alias: string, columns: string): string {
  return columns
    .split(", ")
    .map((c) => `${alias}.${c}`)
    .join(", ");
}

/** The engine's storage, shared by both backends. */
export class SqlStore {
  /** What this backend can do. */
  readonly capabilities: StoreCapabilities;
  private readonly p: string;
  private readonly sql: ReturnType<SqlStore["buildStatements"]>;

  constructor(
    readonly driver: Driver,
    readonly dialect: Dialect,
    private readonly migrations: readonly Migration[],
    private readonly hooks: StoreHooks,
  ) {
    this.capabilities = dialect.capabilities;
    this.p = dialect.prefix;
    this.sql = this.buildStatements();
  }

  /** Every statement text is built once, so drivers can cache prepared statements by text. */
  private buildStatements() {
    const p = this.p;
    const d = this.dialect;
    // The write-set statements: one row-set parameter each, so one text whatever the number of rows.
    const insertExecutions =
      `INSERT INTO ${p}cloaca_executions (id, workflow_name, workflow_version, input_context, unfinished_tasks, origin, created_at, status) ` +
      `SELECT id, wn, wv, input, n, origin, at, 'Running' ` +
      `FROM ${d.rows({ id: "text", wn: "text", wv: "text", input: "text", n: "int", origin: "text", at: "int" })}`;
    const insertTasks =
      `INSERT INTO ${p}cloaca_tasks (execution_id, task_id, workflow_name, position, status, deps_remaining, max_attempts, ` +
      `ready_at, claimed_by, attempt, started_at) SELECT eid, tid, wn, pos, st, deps, max, due, owner, att, started ` +
      `FROM ${d.rows({ eid: "text", tid: "text", wn: "text", pos: "int", st: "text", deps: "int", max: "int", due: "int", owner: "text", att: "int", started: "int" })}`;
    const insertEvents =
      `INSERT INTO ${p}cloaca_events (execution_id, task_id, event_type, data, runner_id, created_at) ` +
      `SELECT eid, tid, type, data, runner, at FROM ${d.rows({ eid: "text", tid: "text", type: "text", data: "text", runner: "text", at: "int" })}`;
    const finishExecutions =
      `UPDATE ${p}cloaca_executions AS x SET status = v.st, final_context = v.ctx, error_message = v.err, completed_at = v.at ` +
      `FROM ${d.keyedRows({ xid: "text", st: "text", ctx: "text", err: "text", at: "int" })} ` +
      // `|| ''` keeps SQLite from walking the status index (every running execution) instead of the rows.
      `WHERE x.id = v.xid AND (x.status || '') IN ('Running','Paused')`;
    const finishTasksText =
      `UPDATE ${p}cloaca_tasks AS t SET status = v.st, output_context = v.out, ` +
      `error_message = CASE WHEN v.st = 'Skipped' THEN t.error_message ELSE v.err END, skip_reason = v.why, ` +
      `completed_at = CASE WHEN v.st = 'Ready' THEN t.completed_at ELSE ? END, ` +
      `ready_at = CASE WHEN v.st = 'Ready' THEN v.due ELSE t.ready_at END, ` +
      `attempt = CASE WHEN v.st = 'Skipped' THEN t.attempt - 1 ELSE t.attempt END, claimed_by = NULL ` +
      `FROM ${d.keyedRows({ eid: "text", tid: "text", att: "int", st: "text", out: "text", err: "text", why: "text", due: "int", ord: "int" })} ` +
      `WHERE t.execution_id = v.eid AND t.task_id = v.tid AND t.status = 'Running' ` +
      `AND COALESCE(t.claimed_by, '') = ? AND t.attempt = v.att`;
    // The task columns of a snapshot.
    const taskColumns =
      "t.task_id, t.status AS task_status, t.attempt, t.error_message AS task_error, t.skip_reason, " +
      "t.started_at, t.completed_at AS task_completed_at, t.position, t.output_context";
    // Executions with their tasks (and the tasks' outputs), one query for any number of executions, each
    // looked up by key; `filter` (conditions on `e`) picks which.
    const snapshots = (filter: string) =>
      `SELECT ${qualified("e", EXECUTION_COLUMNS)}, ${taskColumns} ` +
      `FROM ${d.keyedRows({ id: "text" })} ${d.lookup("inner", `${p}cloaca_executions`, "e", `e.id = v.id${filter}`)} ` +
      `${d.lookup("left", `${p}cloaca_tasks`, "t", "t.execution_id = e.id")} ORDER BY e.id, t.position`;
    // The claims' update of the rows `picked` chose, found by row id: picked locked them, so no other
    // transaction can change them before this update. (A row made Ready again by a commit during the statement
    // is locked in a version the statement cannot see: it is left Ready, for the next claim.)
    const claimPicked =
      `UPDATE ${p}cloaca_tasks AS u SET status = 'Running', claimed_by = ?, attempt = u.attempt + 1, ` +
      `started_at = COALESCE(u.started_at, ?) FROM picked WHERE u.${d.rowId} = picked.rid AND (u.status || '') = 'Ready' ` +
      `RETURNING ${CLAIM_COLUMNS}`;
    // The advance of the dependents (see SqlStore.advanceDependents), counting the edges whose source row is
    // as this transaction wrote it: `sources` is the task table (rows written by an earlier statement) or
    // the rows the same statement wrote (their RETURNING). The dependent's execution status is read once, and
    // the sums are materialized: a plan that visits the dependents in the outer loop (PostgreSQL picks one
    // while it believes the table holds one NotStarted row) then reads them from memory instead of
    // computing them again per row.
    const advanceText = (sources: (on: string) => string) => {
      const done = "t.deps_remaining - a.n = 0";
      const failed = "t.upstream_failed + a.nf > 0";
      const skipped = "t.upstream_skipped + a.ns > 0";
      const skip = `${done} AND a.auto = 1 AND (${failed} OR ${skipped})`;
      const ready = `${done} AND NOT (a.auto = 1 AND (${failed} OR ${skipped}))`;
      const run = `${ready} AND a.loc = 1 AND a.xst = 'Running'`;
      const edges =
        `SELECT v.eid, v.tid, COUNT(*) AS n, SUM(CASE WHEN v.sst = 'Failed' THEN 1 ELSE 0 END) AS nf, ` +
        `SUM(CASE WHEN v.sst = 'Skipped' THEN 1 ELSE 0 END) AS ns, MAX(v.auto) AS auto, MAX(v.loc) AS loc, ` +
        `MAX(v.owner) AS owner, MAX(v.at) AS at, MAX(e.status) AS xst ` +
        `FROM ${d.keyedRows({ eid: "text", tid: "text", src: "text", satt: "int", sst: "text", auto: "int", loc: "int", owner: "text", at: "int" })} ` +
        `${sources("s.execution_id = v.eid AND s.task_id = v.src AND s.status = v.sst AND s.attempt = v.satt AND s.completed_at = v.at")} ` +
        `${d.lookup("inner", `${p}cloaca_executions`, "e", "e.id = v.eid")} GROUP BY v.eid, v.tid`;
      return {
        edges,
        update:
          `UPDATE ${p}cloaca_tasks AS t SET deps_remaining = t.deps_remaining - a.n, upstream_failed = t.upstream_failed + a.nf, ` +
          `upstream_skipped = t.upstream_skipped + a.ns, ` +
          `status = CASE WHEN ${skip} THEN 'Skipped' WHEN ${run} THEN 'Running' WHEN ${ready} THEN 'Ready' ELSE t.status END, ` +
          `skip_reason = CASE WHEN ${skip} THEN (CASE WHEN ${failed} THEN 'upstream failed' ELSE 'upstream skipped' END) ELSE t.skip_reason END, ` +
          `completed_at = CASE WHEN ${skip} THEN a.at ELSE t.completed_at END, ` +
          `ready_at = CASE WHEN ${ready} THEN a.at ELSE t.ready_at END, ` +
          `claimed_by = CASE WHEN ${run} THEN a.owner ELSE t.claimed_by END, ` +
          `attempt = CASE WHEN ${run} THEN t.attempt + 1 ELSE t.attempt END, ` +
          `started_at = CASE WHEN ${run} THEN COALESCE(t.started_at, a.at) ELSE t.started_at END ` +
          `FROM a WHERE t.execution_id = a.eid AND t.task_id = a.tid AND t.status = 'NotStarted' ` +
          `RETURNING ${CLAIM_COLUMNS}, status, skip_reason`,
      };
    };
    const advance = advanceText((on) => d.lookup("inner", `${p}cloaca_tasks`, "s", on));
    // PostgreSQL: an outcome batch in one statement (see SqlStore.writeOutcomes). The attempts' outcomes are
    // written (fin) and counted against their executions (adj); the dependents are advanced by the edges
    // whose source row fin wrote, so a lost claim advances nothing; the `finishing` executions are read with
    // their tasks. The statement cannot see the versions fin wrote: fin's rows come back, by position (what
    // the runner did not send itself; started_at is not written), and stand in for them (outcomeResults). Joined here
    // instead, fin is a CTE the planner believes holds one row, so it scanned fin once per task row read:
    // with 240 outcomes, 7–10 of a batch's 13–20 ms. The parts vary the count's update (`adjust`, its FROM,
    // what it returns) and add CTEs.
    const outcomeStatement = (o: { before?: string; adjust: string; adjustFrom: string; adjusted: string; events: string; finishing: string; guard?: string }) => {
      if (!d.capabilities.writableCtes) return "";
      const adv = advanceText((on) => `JOIN fin s ON ${on}`);
      return (
        `WITH fin AS (${finishTasksText} RETURNING t.execution_id, t.task_id, t.status, t.attempt, t.completed_at, ` +
        `t.error_message, t.skip_reason, v.ord), ` +
        `n AS (SELECT execution_id AS xid, SUM(CASE WHEN status <> 'Ready' THEN 1 ELSE 0 END) AS fin, ` +
        `SUM(CASE WHEN status = 'Failed' THEN 1 ELSE 0 END) AS nf FROM fin GROUP BY execution_id), ${o.before ?? ""}` +
        `adj AS (UPDATE ${p}cloaca_executions AS x SET unfinished_tasks = x.unfinished_tasks - n.fin, ` +
        `failed_tasks = x.failed_tasks + n.nf${o.adjust} FROM ${o.adjustFrom} WHERE x.id = n.xid ` +
        `RETURNING ${qualified("x", EXECUTION_COLUMNS)}, x.unfinished_tasks, x.failed_tasks${o.adjusted}), ` +
        `a AS MATERIALIZED (${adv.edges}), adv AS (${adv.update}), ${o.events}` +
        `snap AS (SELECT ${qualified("x", EXECUTION_COLUMNS)}, ${taskColumns} FROM adj x ` +
        `${d.lookup("left", `${p}cloaca_tasks`, "t", "t.execution_id = x.id")} WHERE ${o.finishing}) ` +
        `SELECT (SELECT json_agg(json_build_array(ord, status, attempt, completed_at, error_message, skip_reason)) FROM fin) AS fin, ` +
        `(SELECT json_agg(json_build_array(id, unfinished_tasks, failed_tasks, status${o.adjusted ? ", ended" : ""})) FROM adj) AS adj, ` +
        `(SELECT json_agg(adv) FROM adv) AS adv, (SELECT json_agg(snap ORDER BY snap.id, snap.position) FROM snap) AS snap${o.guard ?? ""}`
      );
    };
    return {
      insertExecutions,
      insertTasks,
      insertEvents,
      finishExecutions,
      // PostgreSQL: the whole write set in one statement. Data-modifying CTEs always run to completion;
      // foreign keys are checked at the end of the statement, so tasks may reference executions inserted beside them.
      flushAll: d.capabilities.writableCtes
        ? `WITH x AS (${insertExecutions}), t AS (${insertTasks}), e AS (${insertEvents}), f AS (${finishExecutions}) ` +
          `SELECT pg_notify(?, n) FROM unnest(CAST(? AS text[])) AS n`
        : "",
      // The pick is a materialized CTE: PostgreSQL must lock and limit the rows exactly once (an
      // `IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)` may be re-evaluated and claim more than n). It walks the
      // Ready tasks in due order and looks each one's execution up by key; the update finds the picked rows by
      // their row id. (`|| ''` keeps a status off its index: a plan that drives from the status index of the
      // executions costs one walk of every running execution per Ready task.)
      claim:
        `WITH picked AS MATERIALIZED (SELECT c.${d.rowId} AS rid FROM ${p}cloaca_tasks c ` +
        `${d.lookup("inner", `${p}cloaca_executions`, "e", "e.id = c.execution_id AND (e.status || '') = 'Running'")} ` +
        `WHERE c.status = 'Ready' AND c.ready_at <= ? AND ${d.inList("c.workflow_name")} ORDER BY c.ready_at LIMIT ? ${d.claimLock}) ` +
        claimPicked,
      // The same, for given tasks (ones this runner made Ready): each looked up by key, with no walk of the Ready
      // index (on PostgreSQL that index keeps an entry for every task claimed since the last vacuum).
      claimKeys:
        `WITH picked AS MATERIALIZED (SELECT c.${d.rowId} AS rid FROM ${d.keyedRows({ eid: "text", tid: "text" })} ` +
        `${d.lookup("inner", `${p}cloaca_tasks`, "c", "c.execution_id = v.eid AND c.task_id = v.tid AND (c.status || '') = 'Ready' AND c.ready_at + 0 <= ?")} ` +
        `${d.lookup("inner", `${p}cloaca_executions`, "e", "e.id = c.execution_id AND (e.status || '') = 'Running'")} ${d.claimLock}) ` +
        claimPicked,
      // One round trip for everything a batch of claimed tasks needs: their executions' inputs and the
      // terminal states (with deltas) of the tasks they read from.
      inputs:
        `SELECT 'e' AS kind, id AS execution_id, NULL AS task_id, NULL AS status, input_context AS payload ` +
        `FROM ${p}cloaca_executions WHERE ${d.inList("id")} UNION ALL ` +
        `SELECT 't', execution_id, task_id, status, output_context FROM ${p}cloaca_tasks ` +
        `WHERE ${d.inList("execution_id")} AND ${d.inList("task_id")} AND status IN ${TERMINAL_TASK}`,
      // Outcomes of claimed attempts, guarded by owner and attempt. Retries keep completed_at and become
      // Ready at their due time; skips by a trigger rule give the attempt back; a Running row has no output
      // or skip reason yet, so writing NULLs there changes nothing. (`COALESCE`: the rows are looked up by
      // key, never through the owner index. `|| ''` kept SQLite off it, but PostgreSQL still inferred
      // `claimed_by IS NOT NULL` from it and walked the partial owner index, which keeps an entry for every
      // claim since the last vacuum: 1,417 entries for a batch of 31 late in a `parallel` run.)
      finishTasks: `${finishTasksText} RETURNING execution_id, task_id, status`,
      // A dependent's counters after terminal dependencies, and what follows when the last one ended: Skipped
      // (default rule, a dependency failed or was skipped), claimed here (v.loc, execution Running) or Ready.
      // Every SET expression sees the row as it was before the statement.
      advance: `WITH a AS MATERIALIZED (${advance.edges}) ${advance.update}`,
      adjust:
        `UPDATE ${p}cloaca_executions AS x SET unfinished_tasks = x.unfinished_tasks - v.fin, failed_tasks = x.failed_tasks + v.nf ` +
        `FROM ${d.keyedRows({ xid: "text", fin: "int", nf: "int" })} WHERE x.id = v.xid ` +
        `RETURNING id, unfinished_tasks, failed_tasks, status`,
      // PostgreSQL (see outcomeStatement): the executions left with no unfinished task are read.
      writeOutcomes: outcomeStatement({
        adjust: "",
        adjustFrom: "n",
        adjusted: "",
        events: "",
        finishing: "x.unfinished_tasks = 0 AND x.status IN ('Running','Paused')",
      }),
      // PostgreSQL, an outcome batch that needs nothing from its own results before COMMIT (see
      // SqlStore.writeOutcomesFinishing): writeOutcomes, and besides, the finish of each execution the batch
      // leaves with no unfinished task when the runner sent its final context (fx, before adj), and the
      // batch's events, in the order the two-trip path writes them: per execution, each task's, then the
      // dependents made ready, then the execution's.
      writeOutcomesFinishing: (() => {
        const ends = "fx.xid IS NOT NULL AND x.unfinished_tasks - n.fin = 0 AND x.status IN ('Running','Paused') AND x.failed_tasks + n.nf = 0";
        return outcomeStatement({
          before: `fx AS MATERIALIZED (SELECT * FROM ${d.keyedRows({ xid: "text", ctx: "text" })}), `,
          adjust:
            `, status = CASE WHEN ${ends} THEN 'Completed' ELSE x.status END, ` +
            `final_context = CASE WHEN ${ends} THEN fx.ctx ELSE x.final_context END, ` +
            `completed_at = CASE WHEN ${ends} THEN ? ELSE x.completed_at END`,
          adjustFrom: "n LEFT JOIN fx ON fx.xid = n.xid",
          adjusted: ", (fx.xid IS NOT NULL AND x.unfinished_tasks = 0 AND x.status = 'Completed') AS ended",
          events:
            `ev AS (INSERT INTO ${p}cloaca_events (execution_id, task_id, event_type, data, runner_id, created_at) ` +
            `SELECT eid, tid, type, data, ?, ? FROM (` +
            `SELECT 1 AS k, f.ord, f.execution_id AS eid, f.task_id AS tid, 'task_completed' AS type, ` +
            `json_build_object('attempt', f.attempt)::text AS data FROM fin f ` +
            `UNION ALL SELECT 2, 0, r.execution_id, r.task_id, 'task_ready', NULL FROM adv r WHERE r.status IN ('Ready','Running') ` +
            `UNION ALL SELECT 3, 0, x.id, NULL, 'execution_completed', NULL FROM adj x WHERE x.ended` +
            `) e ORDER BY k, ord, eid, tid), `,
          finishing: "x.ended",
          // The runner admits a batch whose dependents wait on tasks it knows nothing of (see oneTripPlan):
          // if one of those had in fact ended Failed or Skipped (on another runner, or after a takeover), a
          // dependent is skipped here, which this statement does not cascade. The statement then fails with
          // ONE_TRIP_REFUSED (a text cast to int, which fails only for such a row) and the runner records
          // the batch again on the two-trip path.
          // The batch's notifications go with it (see SqlStore.writeOutcomesFinishing): NOTIFY is delivered at
          // commit, and a batch that has nothing else to write is then one statement, sent without BEGIN.
          guard:
            `, (SELECT MAX(CAST('${ONE_TRIP_REFUSED} ' || r.status AS int)) FROM adv r WHERE r.status = 'Skipped') AS refused` +
            `, (SELECT count(pg_notify(?, n)) FROM unnest(CAST(? AS text[])) AS n) AS notified`,
        });
      })(),
      getExecution: `SELECT ${EXECUTION_COLUMNS} FROM ${p}cloaca_executions WHERE id = ?`,
      // Executions with their tasks (and the tasks' outputs), one query for any number of executions.
      snapshots: snapshots(""),
      // The same, only for executions whose last task just ended (those an outcome batch finishes).
      // (`|| ''`: SQLite must not prefer the status index to the key.)
      finishingSnapshots: snapshots(" AND e.unfinished_tasks = 0 AND (e.status || '') IN ('Running','Paused')"),
      statuses: `SELECT id, status FROM ${p}cloaca_executions WHERE ${d.inList("id")}`,
      nextReadyAt:
        `SELECT MIN(c.ready_at) AS due FROM ${p}cloaca_tasks c CROSS JOIN ${p}cloaca_executions e ` +
        `WHERE e.id = c.execution_id AND c.status = 'Ready' AND e.status = 'Running' AND ${d.inList("c.workflow_name")}`,
      registerRunner:
        `INSERT INTO ${p}cloaca_runners (id, name, hostname, pid, started_at, heartbeat_at, stale_after_ms) ` +
        `VALUES (?, ?, ?, ?, ${d.nowMs}, ${d.nowMs}, ?)`,
      heartbeat: `UPDATE ${p}cloaca_runners SET heartbeat_at = ${d.nowMs} WHERE id = ?`,
      runners: `SELECT id, name, hostname, pid, stale_after_ms, ${d.nowMs} - heartbeat_at AS age_ms FROM ${p}cloaca_runners`,
      removeRunner: `DELETE FROM ${p}cloaca_runners WHERE id = ?`,
      orphanOwners:
        `SELECT DISTINCT claimed_by FROM ${p}cloaca_tasks WHERE status = 'Running' AND claimed_by IS NOT NULL ` +
        `AND claimed_by NOT IN (SELECT id FROM ${p}cloaca_runners)`,
      claimedBy: `SELECT ${CLAIM_COLUMNS} FROM ${p}cloaca_tasks WHERE claimed_by = ? AND status = 'Running'`,
      requeue:
        `UPDATE ${p}cloaca_tasks SET status = 'Ready', claimed_by = NULL, ready_at = ?, recoveries = recoveries + 1 ` +
        `WHERE execution_id = ? AND task_id = ? AND status = 'Running' AND claimed_by = ? AND attempt = ?`,
      // A claim whose body never started goes back as it was: its attempt is given back, nothing counts as
      // a recovery, its place in the queue is kept (started_at is cleared too, if this was its first claim).
      unclaim:
        `UPDATE ${p}cloaca_tasks SET status = 'Ready', claimed_by = NULL, ready_at = COALESCE(ready_at, ?), attempt = attempt - 1, ` +
        `started_at = CASE WHEN attempt = 1 THEN NULL ELSE started_at END ` +
        `WHERE execution_id = ? AND task_id = ? AND status = 'Running' AND claimed_by = ? AND attempt = ?`,
      cancelExecution:
        `UPDATE ${p}cloaca_executions SET status = 'Cancelled', completed_at = ?, error_message = ? ` +
        `WHERE id = ? AND status IN ('Running','Paused')`,
      cancelTasks:
        `UPDATE ${p}cloaca_tasks SET status = 'Skipped', skip_reason = 'cancelled', completed_at = ? ` +
        `WHERE execution_id = ? AND status IN ('NotStarted','Ready')`,
      pause: `UPDATE ${p}cloaca_executions SET status = 'Paused', pause_reason = ? WHERE id = ? AND status = 'Running'`,
      resume: `UPDATE ${p}cloaca_executions SET status = 'Running', pause_reason = NULL WHERE id = ? AND status = 'Paused'`,
      events:
        `SELECT seq, execution_id, task_id, event_type, data, runner_id, created_at FROM ${p}cloaca_events ` +
        `WHERE execution_id = ? ORDER BY seq`,
      cleanupEvents: `DELETE FROM ${p}cloaca_events WHERE created_at < ?`,
    };
  }

  // ---------------------------------------------------------------- migrations

  /** Creates or upgrades the engine tables. Safe to call from many processes at once. */
  async migrate(): Promise<number[]> {
    return this.driver.transaction((tx) => this.migrateIn(tx));
  }

  /** Applies the missing migrations inside the caller's transaction (the admin API creates tenants this way). */
  async migrateIn(tx: Queryable): Promise<number[]> {
    {
      await this.hooks.beforeMigrate(tx);
      await tx.run(
        `CREATE TABLE IF NOT EXISTS ${this.p}cloaca_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`,
      );
      const rows = await tx.query<{ version: number }>(`SELECT version FROM ${this.p}cloaca_migrations`);
      const done = new Set(rows.map((r) => Number(r.version)));
      const applied: number[] = [];
      for (const m of this.migrations) {
        if (done.has(m.version)) continue;
        for (const statement of m.statements) await tx.run(renderMigration(statement, this.p));
        await tx.run(`INSERT INTO ${this.p}cloaca_migrations (version, name, applied_at) VALUES (?, ?, ?)`, [
          m.version,
          m.name,
          new Date().toISOString(),
        ]);
        applied.push(m.version);
      }
      return applied;
    }
  }

  // ---------------------------------------------------------------- runner leases

  /** Records this runner's lease; `staleAfterMs` is how long others wait before declaring it dead. */
  async registerRunner(id: string, name: string, hostname: string, pid: number, staleAfterMs: number): Promise<void> {
    await this.driver.run(this.sql.registerRunner, [id, name, hostname, pid, staleAfterMs]);
  }

  /** Renews the lease; false when the row is gone (another runner declared this one dead). */
  async heartbeat(id: string): Promise<boolean> {
    return (await this.driver.run(this.sql.heartbeat, [id])) > 0;
  }

  /** Every runner lease with its age by the database clock. */
  async runners(): Promise<RunnerLease[]> {
    const rows = await this.driver.query(this.sql.runners);
    return rows.map((r) => ({
      id: String(r.id),
      name: String(r.name),
      hostname: String(r.hostname),
      pid: Number(r.pid),
      staleAfterMs: Number(r.stale_after_ms),
      ageMs: Number(r.age_ms),
    }));
  }

  /** Deletes a runner's lease row. */
  async removeRunner(id: string): Promise<void> {
    await this.driver.run(this.sql.removeRunner, [id]);
  }

  /** Owners of running attempts that have no lease row at all (their runner vanished). */
  async orphanOwners(): Promise<string[]> {
    return (await this.driver.query(this.sql.orphanOwners)).map((r) => String(r.claimed_by));
  }

  /** The task attempts a runner holds. */
  async claimedBy(runnerId: string): Promise<ClaimedTask[]> {
    return (await this.driver.query(this.sql.claimedBy, [runnerId])).map(toClaim);
  }

  /** Returns a dead runner's attempt to the queue; false when it already moved on. */
  async requeue(tx: Queryable, claim: ClaimedTask, deadRunner: string, now: number): Promise<boolean> {
    return (
      (await tx.run(this.sql.requeue, [now, claim.executionId, claim.taskId, deadRunner, claim.attempt])) > 0
    );
  }

  /** Returns an attempt whose body never started to the queue, as if never claimed; false when it moved on. */
  async unclaim(tx: Queryable, claim: ClaimedTask, runnerId: string, now: number): Promise<boolean> {
    return (await tx.run(this.sql.unclaim, [now, claim.executionId, claim.taskId, runnerId, claim.attempt])) > 0;
  }

  // ---------------------------------------------------------------- executions

  /**
   * Plans an execution and all its task rows into `ws` (written by {@link SqlStore.flush} in the same
   * transaction). The first `localRoots` root tasks are claimed by `runnerId` at once (the local fast path:
   * they start right after commit); the other roots become Ready for any runner.
   */
  planExecution(
    ws: WriteSet,
    e: {
      id: string;
      workflowName: string;
      workflowVersion: string;
      input: JsonObject;
      origin: string | undefined;
      tasks: readonly NewTask[];
      now: number;
      runnerId: string;
      localRoots: number;
    },
  ): ClaimedTask[] {
    ws.executions.push({
      id: e.id,
      wn: e.workflowName,
      wv: e.workflowVersion,
      input: JSON.stringify(e.input),
      n: e.tasks.length,
      origin: e.origin ?? null,
      at: e.now,
    });
    const local: ClaimedTask[] = [];
    for (const t of e.tasks) {
      const root = t.depsCount === 0;
      const claimed = root && local.length < e.localRoots;
      if (claimed) {
        local.push({
          executionId: e.id,
          taskId: t.taskId,
          workflowName: e.workflowName,
          attempt: 1,
          maxAttempts: t.maxAttempts,
          recoveries: 0,
        });
      }
      ws.tasks.push({
        eid: e.id,
        tid: t.taskId,
        wn: e.workflowName,
        pos: t.position,
        st: claimed ? "Running" : root ? "Ready" : "NotStarted",
        deps: t.depsCount,
        max: t.maxAttempts,
        due: root ? e.now : null,
        owner: claimed ? e.runnerId : null,
        att: claimed ? 1 : 0,
        started: claimed ? e.now : null,
      });
    }
    return local;
  }

  /** Creates one execution at once (see {@link SqlStore.planExecution}). */
  async createExecution(tx: Queryable, e: Parameters<SqlStore["planExecution"]>[1]): Promise<ClaimedTask[]> {
    const ws = new WriteSet();
    const local = this.planExecution(ws, e);
    await this.flush(tx, ws, e.runnerId, e.now);
    return local;
  }

  /** Plans marking an execution terminal into `ws` (an execution already terminal, e.g. cancelled, is left alone). */
  planFinish(ws: WriteSet, f: ExecutionFinish, now: number): void {
    ws.finishes.push({ xid: f.executionId, st: f.status, ctx: JSON.stringify(f.finalContext), err: f.errorMessage ?? null, at: now });
  }

  /** Whether {@link SqlStore.flush} is a single statement (then a write set alone needs no transaction). */
  get flushIsOneStatement(): boolean {
    return this.capabilities.writableCtes;
  }

  /**
   * The statements that write what `ws` gathered: one per table (any number of rows, one row-set parameter
   * each); on PostgreSQL all of it, notifications included, is one statement (data-modifying CTEs). Empty
   * when there is nothing to write. `q` is only read from, once, for the notification channel.
   */
  async flushStatements(q: Queryable, ws: WriteSet, runnerId: string | undefined, now: number): Promise<Statement[]> {
    const rows = this.dialect.rowsParam;
    const events = ws.events.map((e) => ({
      eid: e.executionId,
      tid: e.taskId ?? null,
      type: e.type,
      data: e.data ? JSON.stringify(e.data) : null,
      runner: runnerId ?? null,
      at: now,
    }));
    if (this.capabilities.writableCtes) {
      if (!ws.executions.length && !ws.tasks.length && !events.length && !ws.finishes.length && !ws.notifications.size) return [];
      const channel = ws.notifications.size && this.capabilities.listenNotify ? await this.channelIn(q) : "";
      const finishes = this.dialect.keyedRowsParams(ws.finishes);
      const params = [rows(ws.executions), rows(ws.tasks), rows(events), ...finishes, channel, channel ? [...ws.notifications] : []];
      return [{ sql: this.sql.flushAll, params }];
    }
    // Without data-modifying CTEs there is no LISTEN/NOTIFY either (SQLite): notifications have no channel.
    const out: Statement[] = [];
    if (ws.executions.length) out.push({ sql: this.sql.insertExecutions, params: [rows(ws.executions)] });
    if (ws.tasks.length) out.push({ sql: this.sql.insertTasks, params: [rows(ws.tasks)] });
    if (events.length) out.push({ sql: this.sql.insertEvents, params: [rows(events)] });
    if (ws.finishes.length) out.push({ sql: this.sql.finishExecutions, params: this.dialect.keyedRowsParams(ws.finishes) });
    return out;
  }

  /** Writes what `ws` gathered (see {@link SqlStore.flushStatements}). */
  async flush(tx: Queryable, ws: WriteSet, runnerId: string | undefined, now: number): Promise<void> {
    for (const { sql, params } of await this.flushStatements(tx, ws, runnerId, now)) await tx.run(sql, params);
  }

  /** Claims up to `limit` due Ready tasks of the named workflows for `runnerId` (through `q`: the pool or a transaction). */
  async claim(q: Queryable, runnerId: string, limit: number, workflowNames: readonly string[], now: number): Promise<ClaimedTask[]> {
    if (limit <= 0 || workflowNames.length === 0) return [];
    const rows = await q.query(this.sql.claim, [now, this.dialect.list(workflowNames), limit, runnerId, now]);
    return rows.map(toClaim);
  }

  /**
   * Claims those of `keys` that are still Ready and due, in a running execution, for `runnerId`; keys that
   * another runner holds or took are passed over.
   */
  async claimKeys(q: Queryable, runnerId: string, keys: readonly TaskKey[], now: number): Promise<ClaimedTask[]> {
    if (!keys.length) return [];
    const rows = keys.map((k) => ({ eid: k.executionId, tid: k.taskId }));
    return (await q.query(this.sql.claimKeys, [...this.dialect.keyedRowsParams(rows), now, runnerId, now])).map(toClaim);
  }

  /** Loads what claimed tasks need: their execution's input and their ancestors' states (1 query). */
  async loadInputs(
    claims: readonly ClaimedTask[],
    dependenciesOf: (claim: ClaimedTask) => readonly string[],
  ): Promise<Map<ClaimedTask, TaskInputs>> {
    const executionIds = [...new Set(claims.map((c) => c.executionId))];
    const depIds = [...new Set(claims.flatMap((c) => dependenciesOf(c)))];
    const list = this.dialect.list(executionIds);
    const rows = await this.driver.query(this.sql.inputs, [list, list, this.dialect.list(depIds)]);
    const byExecution = new Map<string, Row>();
    const depStates = new Map<string, DependencyState>();
    for (const r of rows) {
      if (r.kind === "e") {
        byExecution.set(String(r.execution_id), r);
        continue;
      }
      depStates.set(taskKey(String(r.execution_id), String(r.task_id)), {
        taskId: String(r.task_id),
        status: r.status as TaskStatus,
        output: parseJson(r.payload),
      });
    }
    const out = new Map<ClaimedTask, TaskInputs>();
    for (const c of claims) {
      const exec = byExecution.get(c.executionId);
      const dependencies = new Map<string, DependencyState>();
      for (const dep of dependenciesOf(c)) {
        const s = depStates.get(taskKey(c.executionId, dep));
        if (s) dependencies.set(dep, s);
      }
      out.set(c, {
        input: parseJson(exec?.payload) ?? {},
        dependencies,
      });
    }
    return out;
  }

  /**
   * Writes an outcome batch: the outcomes of claimed attempts, counted against their executions; the advance
   * of their dependents (`advances`, see {@link Advance}); and the executions this leaves with no unfinished
   * task, read with their tasks (`sinks` names the executions that can be among them). One statement on
   * PostgreSQL; on SQLite four, in order. A claim another runner took over is left untouched and counts for
   * nothing, and its edges advance nothing.
   */
  async writeOutcomes(
    tx: Queryable,
    items: ReadonlyArray<{ readonly claim: ClaimedTask; readonly write: TaskWrite }>,
    advances: readonly Advance[],
    sinks: readonly string[],
    runnerId: string,
    now: number,
  ): Promise<{ written: Set<string>; counts: Map<string, ExecutionCounts>; advanced: Advanced[]; finishing: Map<string, ExecutionRows> }> {
    const { params: finParams, rows } = this.finishParams(items, runnerId, now);
    const written = new Set<string>();
    if (this.capabilities.writableCtes) {
      const [r] = await tx.query<Record<string, unknown[] | null>>(this.sql.writeOutcomes, [...finParams, ...this.advanceParams(advances, runnerId, now)]);
      return outcomeResults(r!, rows);
    }
    const perExecution = new Map<string, { executionId: string; finished: number; failed: number }>();
    for (const r of await tx.query(this.sql.finishTasks, finParams)) {
      const executionId = String(r.execution_id);
      written.add(taskKey(executionId, String(r.task_id)));
      let n = perExecution.get(executionId);
      if (!n) perExecution.set(executionId, (n = { executionId, finished: 0, failed: 0 }));
      if (r.status !== "Ready") n.finished++;
      if (r.status === "Failed") n.failed++;
    }
    const counts = await this.adjustExecutions(tx, [...perExecution.values()]);
    const advanced = await this.advanceDependents(tx, advances, runnerId, now);
    return { written, counts, advanced, finishing: await this.finishingSnapshots(tx, sinks) };
  }

  /**
   * PostgreSQL only: {@link SqlStore.writeOutcomes} for a batch that needs nothing from its own results before
   * it commits, in one statement that also writes the batch's events and finishes every execution it leaves
   * with no unfinished task for which `finishes` holds the final context (then `Completed`: the caller sends
   * one only when it knows every other task of the execution Completed or Skipped). The claim and `COMMIT`
   * can then go out at once, without waiting for the answer. `counts` marks the executions finished here.
   * A batch that would skip a dependent fails with {@link ONE_TRIP_REFUSED} and writes nothing (its
   * transaction is aborted). `notify` payloads are sent on the schema's channel in the same statement
   * (delivered at commit); they need {@link SqlStore.knownChannel} to know the channel.
   */
  writeOutcomesFinishing(
    tx: Queryable,
    items: ReadonlyArray<{ readonly claim: ClaimedTask; readonly write: TaskWrite }>,
    advances: readonly Advance[],
    finishes: ReadonlyArray<{ readonly executionId: string; readonly finalContext: JsonObject }>,
    runnerId: string,
    now: number,
    notify: readonly string[] = [],
  ): Promise<OutcomeResults> {
    const fx = this.dialect.keyedRowsParams(finishes.map((f) => ({ xid: f.executionId, ctx: JSON.stringify(f.finalContext) })));
    const fin = this.finishParams(items, runnerId, now);
    const channel = notify.length ? this.knownChannel() : "";
    if (channel === undefined) throw new Error("writeOutcomesFinishing: notifications given before the channel is known");
    const params = [...fin.params, ...fx, now, ...this.advanceParams(advances, runnerId, now), runnerId, now, channel, channel ? [...notify] : []];
    return tx.query<Record<string, unknown[] | null>>(this.sql.writeOutcomesFinishing, params).then(([r]) => outcomeResults(r!, fin.rows));
  }

  /** The parameters of the attempts' write (`finishTasks`, and the `fin` of the one-statement batches), and its rows. */
  private finishParams(
    items: ReadonlyArray<{ readonly claim: ClaimedTask; readonly write: TaskWrite }>,
    runnerId: string,
    now: number,
  ): { params: unknown[]; rows: FinishRow[] } {
    const rows = items.map(({ claim, write }, ord) => ({
      eid: claim.executionId,
      tid: claim.taskId,
      att: claim.attempt,
      st: FINISHED_STATUS[write.kind],
      out: write.kind === "completed" ? JSON.stringify(write.output) : null,
      err: write.kind === "failed" || write.kind === "retry" ? write.error : null,
      why: write.kind === "skipped" ? write.reason : null,
      due: write.kind === "retry" ? write.readyAt : null,
      ord,
    }));
    return { params: [now, ...this.dialect.keyedRowsParams(rows), runnerId], rows };
  }

  /**
   * Counts terminal dependencies against their dependents and moves on those whose last dependency ended
   * (one statement): see {@link Advance}. Returns every changed dependent with its new status; a local claim
   * comes with its {@link ClaimedTask}.
   */
  async advanceDependents(tx: Queryable, rows: readonly Advance[], runnerId: string, now: number): Promise<Advanced[]> {
    if (!rows.length) return [];
    return (await tx.query(this.sql.advance, this.advanceParams(rows, runnerId, now))).map(toAdvanced);
  }

  private advanceParams(rows: readonly Advance[], runnerId: string, now: number): unknown[] {
    return this.dialect.keyedRowsParams(
      rows.map((r) => ({
        eid: r.executionId,
        tid: r.taskId,
        src: r.source.taskId,
        satt: r.source.attempt,
        sst: r.source.status,
        auto: r.defaultRule ? 1 : 0,
        loc: r.local ? 1 : 0,
        owner: runnerId,
        at: now,
      })),
    );
  }

  /** Counts finished and failed tasks against executions (one statement); returns what remains of each. */
  async adjustExecutions(
    tx: Queryable,
    rows: ReadonlyArray<{ executionId: string; finished: number; failed: number }>,
  ): Promise<Map<string, ExecutionCounts>> {
    if (!rows.length) return new Map();
    const param = rows.map((r) => ({ xid: r.executionId, fin: r.finished, nf: r.failed }));
    const out = await tx.query(this.sql.adjust, this.dialect.keyedRowsParams(param));
    return new Map(out.map((r) => [String(r.id), toCounts(r)]));
  }

  /** Appends events (one statement). */
  async insertEvents(tx: Queryable, events: readonly NewEvent[], runnerId: string | undefined, now: number): Promise<void> {
    const ws = new WriteSet();
    ws.events.push(...events);
    await this.flush(tx, ws, runnerId, now);
  }

  /** Sends a notification delivered at commit (PostgreSQL); a no-op elsewhere. */
  async notify(tx: Queryable, payload: string): Promise<void> {
    if (this.capabilities.listenNotify) await this.hooks.notifyMany(tx, await this.channelIn(tx), [payload]);
  }

  #channel: string | undefined;

  /**
   * The NOTIFY channel of this schema: `cloaca_` + the random token stored in `cloaca_meta` (see the
   * migration). Read once, then cached.
   */
  channel(): Promise<string> {
    return this.channelIn(this.driver);
  }

  /**
   * The NOTIFY channel once it has been read (a runner reads it to listen, before it takes any work), or
   * undefined; empty without LISTEN/NOTIFY.
   */
  knownChannel(): string | undefined {
    return this.capabilities.listenNotify ? this.#channel : "";
  }

  /** {@link SqlStore.channel}, read through `q` (inside a transaction, its own connection must be used). */
  async channelIn(q: Queryable): Promise<string> {
    if (this.#channel === undefined) {
      const [row] = await q.query<{ value: string }>(`SELECT value FROM ${this.p}cloaca_meta WHERE key = 'channel'`);
      if (!row) throw new Error(`${this.p}cloaca_meta has no channel token: the schema was not migrated`);
      this.#channel = `cloaca_${row.value}`;
    }
    return this.#channel;
  }

  // ---------------------------------------------------------------- control

  /** Cancels a running or paused execution and skips its unstarted tasks; false when already terminal. */
  async cancel(tx: Queryable, executionId: string, reason: string, now: number): Promise<boolean> {
    if ((await tx.run(this.sql.cancelExecution, [now, reason, executionId])) === 0) return false;
    await tx.run(this.sql.cancelTasks, [now, executionId]);
    return true;
  }

  /** Pauses a running execution (no new task starts); false when it is not running. */
  async pause(tx: Queryable, executionId: string, reason: string | undefined): Promise<boolean> {
    return (await tx.run(this.sql.pause, [reason ?? null, executionId])) > 0;
  }

  /** Resumes a paused execution; false when it is not paused. */
  async resume(tx: Queryable, executionId: string): Promise<boolean> {
    return (await tx.run(this.sql.resume, [executionId])) > 0;
  }

  // ---------------------------------------------------------------- reads

  /** One execution, or undefined. */
  async getExecution(id: string): Promise<ExecutionRecord | undefined> {
    const [r] = await this.driver.query(this.sql.getExecution, [id]);
    return r ? toExecution(r) : undefined;
  }

  /** An execution and its tasks (declaration order) in one query, or undefined. */
  async getSnapshot(id: string): Promise<ExecutionRows | undefined> {
    return (await this.snapshots(this.driver, [id])).get(id);
  }

  /** Executions and their tasks (declaration order) in one query, read through `q`; absent ids are left out. */
  snapshots(q: Queryable, ids: readonly string[]): Promise<Map<string, ExecutionRows>> {
    return this.readSnapshots(q, this.sql.snapshots, ids);
  }

  /**
   * {@link SqlStore.snapshots} of those of `ids` that are running or paused with no unfinished task left:
   * the executions an outcome batch finishes, read in its transaction before their finish is written.
   */
  finishingSnapshots(q: Queryable, ids: readonly string[]): Promise<Map<string, ExecutionRows>> {
    return this.readSnapshots(q, this.sql.finishingSnapshots, ids);
  }

  private async readSnapshots(q: Queryable, sql: string, ids: readonly string[]): Promise<Map<string, ExecutionRows>> {
    if (!ids.length) return new Map();
    return collectSnapshots(await q.query(sql, this.dialect.keyedRowsParams(ids.map((id) => ({ id })))));
  }

  /** Executions, newest first. */
  async listExecutions(filter: ExecutionFilter): Promise<ExecutionRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.workflow !== undefined) {
      where.push("workflow_name = ?");
      params.push(filter.workflow);
    }
    if (filter.status !== undefined) {
      where.push("status = ?");
      params.push(filter.status);
    }
    params.push(filter.limit ?? 100, filter.offset ?? 0);
    const rows = await this.driver.query(
      `SELECT ${EXECUTION_COLUMNS} FROM ${this.p}cloaca_executions ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ` +
        `ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
      params,
    );
    return rows.map(toExecution);
  }

  /** Current statuses of the given executions. */
  async statuses(ids: readonly string[]): Promise<Map<string, ExecutionStatus>> {
    if (!ids.length) return new Map();
    const rows = await this.driver.query(this.sql.statuses, [this.dialect.list(ids)]);
    return new Map(rows.map((r) => [String(r.id), r.status as ExecutionStatus]));
  }

  /** The earliest due time of a Ready task of these workflows, if any. */
  async nextReadyAt(workflowNames: readonly string[]): Promise<number | undefined> {
    if (!workflowNames.length) return undefined;
    const [r] = await this.driver.query(this.sql.nextReadyAt, [this.dialect.list(workflowNames)]);
    return optNum(r?.due);
  }

  /** An execution's event log in order. */
  async events(executionId: string): Promise<EventRecord[]> {
    const rows = await this.driver.query(this.sql.events, [executionId]);
    return rows.map((r) => ({
      seq: Number(r.seq),
      executionId: String(r.execution_id),
      taskId: optStr(r.task_id),
      type: String(r.event_type),
      data: parseJson(r.data),
      runnerId: optStr(r.runner_id),
      createdAt: Number(r.created_at),
    }));
  }

  /**
   * Deletes finished executions (Completed, Failed, Cancelled) that ended before `before` (epoch ms),
   * with their task rows and events, in one transaction; returns how many executions.
   */
  async cleanupExecutions(before: number): Promise<number> {
    // An execution that ended before the cutoff started before it: the bound on created_at walks its index
    // (PostgreSQL has no index on status, see migration 2). With clocks that disagree between hosts, one
    // that ended just before the cutoff may be left for the next cleanup.
    const finished =
      `SELECT id FROM ${this.p}cloaca_executions WHERE created_at < ? AND status IN ('Completed','Failed','Cancelled') AND completed_at < ?`;
    return this.driver.transaction(async (tx) => {
      await tx.run(`DELETE FROM ${this.p}cloaca_events WHERE execution_id IN (${finished})`, [before, before]);
      await tx.run(`DELETE FROM ${this.p}cloaca_tasks WHERE execution_id IN (${finished})`, [before, before]);
      return tx.run(`DELETE FROM ${this.p}cloaca_executions WHERE id IN (${finished})`, [before, before]);
    });
  }

  /** Deletes events older than `before` (epoch ms); returns how many. */
  async cleanupEvents(before: number): Promise<number> {
    return this.driver.run(this.sql.cleanupEvents, [before]);
  }

  /** Closes the connections. */
  close(): Promise<void> {
    return this.driver.close();
  }
}

