/**
 * Decides what task outcomes mean for the rest of their executions, inside the same transaction that
 * records them: readiness is decided at completion (work proportional to the edges touched, never a scan
 * of active executions), skips cascade, and an execution is finished when its last task is.
 *
 * Set-based: a batch of outcomes — of any number of executions — costs a fixed number of statements
 * (record the attempts and count them against their executions, advance their dependents, read the
 * finishing executions), not a few per outcome. Each cascade level of skips adds one, and a cascade one
 * more count.
 */
import {
  taskKey,
  type Advance,
  type Advanced,
  type ExecutionRows,
  type NewEvent,
  type OutcomeResults,
  type SqlStore,
  type TaskWrite,
  type WriteSet,
} from "../store/sql-store.js";
import type { ClaimedTask, Queryable, TaskInputs, TaskKey } from "../store/store.js";
import type { JsonObject } from "../types.js";
import { finalContext as computeFinalContext, toDelta, type ContextDelta } from "./context-flow.js";
import type { Workflow } from "../workflow/workflow.js";

/** One outcome to record. */
export interface Outcome {
  readonly workflow: Workflow;
  readonly claim: ClaimedTask;
  readonly write: TaskWrite;
}

/** What recording one outcome changed. */
export interface OutcomeEffects {
  /** The claim was lost (another runner took the task over): nothing was written. */
  readonly lost: boolean;
  /** Successors this runner claimed for itself in the same transaction (slots already reserved). */
  readonly localClaims: ClaimedTask[];
  /** Successors made Ready for any runner (and this outcome's own task, when it is retried). */
  readonly readyCount: number;
  /** The successors made Ready (not the retried task, which is not due yet). */
  readonly madeReady: TaskKey[];
  /** Tasks skipped by the cascade, with reasons. */
  readonly skipped: ReadonlyArray<{ taskId: string; reason: string }>;
  /** Set when this outcome finished the execution. */
  readonly finished: "Completed" | "Failed" | undefined;
  /** When it finished the execution: the execution and its tasks as committed (what a snapshot read would return). */
  readonly result: ExecutionRows | undefined;
}

const TERMINAL_STATUSES = ["Completed", "Failed", "Skipped"] as const;
type Terminal = (typeof TERMINAL_STATUSES)[number];
const TERMINAL: ReadonlySet<string> = new Set(TERMINAL_STATUSES);

interface MutableEffects {
  lost: boolean;
  localClaims: ClaimedTask[];
  readyCount: number;
  madeReady: TaskKey[];
  skipped: Array<{ taskId: string; reason: string }>;
  finished: "Completed" | "Failed" | undefined;
  result: ExecutionRows | undefined;
  events: NewEvent[];
}

/** Per execution: what this batch did to it. Execution-wide effects go to its last outcome in the batch. */
interface ExecutionWork {
  readonly workflow: Workflow;
  owner: { effects: MutableEffects; outcome: Outcome };
  /** Tasks skipped by the cascade (not yet counted against the execution). */
  cascaded: number;
}

/** A task that ended in this transaction: its dependents are advanced by one edge each. */
interface Ended {
  readonly executionId: string;
  readonly workflow: Workflow;
  readonly taskId: string;
  /** Its row's attempt and status as this transaction wrote them. */
  readonly attempt: number;
  readonly status: Terminal;
}

/**
 * Records claimed attempts' outcomes and everything that follows from them, in `tx`; one result per
 * outcome. Events and execution finishes go to `ws`, which the caller flushes in the same transaction.
 * `reserveSlot` takes a local slot for a successor; when it says no, the successor goes to the queue.
 *
 * The outcomes' write, the advance of their dependents and the read of the executions they may finish are
 * one statement on PostgreSQL (see SqlStore.writeOutcomes): the advance counts an edge only if its source
 * row is as this batch wrote it, and the read only returns executions left with no unfinished task.
 */
export async function recordOutcomes(
  store: SqlStore,
  tx: Queryable,
  ws: WriteSet,
  runnerId: string,
  now: number,
  outcomes: readonly Outcome[],
  reserveSlot: () => boolean,
): Promise<OutcomeEffects[]> {
  // What the outcomes end, assuming every write lands (the statements below check it). Without a skip
  // cascade, only an execution with an ended task that nothing depends on can finish: those are read.
  const ended: Ended[] = [];
  const sinks = new Set<string>();
  for (const { workflow, claim, write } of outcomes) {
    if (write.kind === "retry") continue;
    const status: Terminal = write.kind === "completed" ? "Completed" : write.kind === "failed" ? "Failed" : "Skipped";
    // A skip by trigger rule gives its attempt back (see SqlStore.writeOutcomes).
    const attempt = write.kind === "skipped" ? claim.attempt - 1 : claim.attempt;
    ended.push({ executionId: claim.executionId, workflow, taskId: claim.taskId, attempt, status });
    if (workflow.dependents(claim.taskId).length === 0) sinks.add(claim.executionId);
  }
  const { written, counts, advanced, finishing: speculative } = await store.writeOutcomes(
    tx,
    outcomes,
    advancesOf(ended, reserveSlot),
    [...sinks],
    runnerId,
    now,
  );

  const results: MutableEffects[] = [];
  const work = new Map<string, ExecutionWork>();
  for (const outcome of outcomes) {
    const { claim, write } = outcome;
    const effects = noEffects();
    results.push(effects);
    if (!written.has(taskKey(claim.executionId, claim.taskId))) {
      effects.lost = true;
      continue;
    }
    effects.events.push(taskEvent(claim, write));
    if (write.kind === "retry") {
      effects.readyCount = 1;
      continue;
    }
    const w = work.get(claim.executionId);
    if (w) w.owner = { effects, outcome };
    else work.set(claim.executionId, { workflow: outcome.workflow, owner: { effects, outcome }, cascaded: 0 });
  }

  // Propagate through the DAGs, one statement per further level of the skip cascade. A dependent whose last
  // dependency just ended became Ready — or was claimed by this runner at once when it had a slot and the
  // execution is running (the local fast path: no trip through the queue) — or, under the default trigger
  // rule with a failed or skipped dependency, Skipped, which cascades. A custom trigger rule is evaluated by
  // the claimer, which loads the dependencies' outputs anyway.
  let changed = advanced;
  while (changed.length) {
    const skippedNow: Ended[] = [];
    for (const r of changed) {
      const w = work.get(r.executionId)!;
      const effects = w.owner.effects;
      if (r.status === "Skipped") {
        const reason = r.skipReason ?? "upstream skipped";
        effects.skipped.push({ taskId: r.taskId, reason });
        effects.events.push({ executionId: r.executionId, taskId: r.taskId, type: "task_skipped", data: { reason } });
        w.cascaded++;
        skippedNow.push({ executionId: r.executionId, workflow: w.workflow, taskId: r.taskId, attempt: r.attempt, status: "Skipped" });
      } else if (r.status === "Running" || r.status === "Ready") {
        effects.events.push({ executionId: r.executionId, taskId: r.taskId, type: "task_ready" });
        madeReady(effects, r);
      }
    }
    changed = skippedNow.length ? await store.advanceDependents(tx, advancesOf(skippedNow, reserveSlot), runnerId, now) : [];
  }

  const cascaded = [...work].filter(([, w]) => w.cascaded > 0);
  if (cascaded.length) {
    const after = await store.adjustExecutions(tx, cascaded.map(([executionId, w]) => ({ executionId, finished: w.cascaded, failed: 0 })));
    for (const [id, c] of after) counts.set(id, c);
  }
  const finished: string[] = [];
  for (const [executionId, w] of work) {
    const c = counts.get(executionId);
    if (c && c.unfinished === 0 && (c.status === "Running" || c.status === "Paused")) {
      w.owner.effects.finished = c.failed > 0 ? "Failed" : "Completed";
      finished.push(executionId);
    }
  }

  if (finished.length) {
    // The rows as this transaction leaves them: the summary is computed from them, and (patched with the
    // finish) they are the result the waiters get, with no read after commit. The read sent with the writes
    // holds them unless a skip cascade changed the execution after it, or another runner's outcome for the
    // same execution committed while the write waited for the execution's row (PostgreSQL): the write then
    // counted that outcome, but the read, which sees the database as it was when the statement began, still
    // shows that task unfinished, without its output. Every task of a finished execution has ended, so a
    // read that shows one unfinished is stale, and a new statement reads the rows again.
    const stale = (rows: ExecutionRows) => rows.tasks.some((t) => !TERMINAL.has(t.status));
    const missing = finished.filter((id) => !speculative.has(id) || work.get(id)!.cascaded > 0 || stale(speculative.get(id)!));
    const rows = missing.length ? new Map([...speculative, ...(await store.snapshots(tx, missing))]) : speculative;
    for (const executionId of finished) {
      const w = work.get(executionId)!;
      const effects = w.owner.effects;
      const status = effects.finished!;
      effects.events.push({ executionId, type: status === "Completed" ? "execution_completed" : "execution_failed" });
      const before = rows.get(executionId)!;
      const { finalContext, errorMessage } = summarize(w.workflow, before);
      effects.result = { execution: { ...before.execution, status, finalContext, errorMessage, completedAt: now }, tasks: before.tasks };
      store.planFinish(ws, { executionId, status, finalContext, errorMessage }, now);
    }
  }
  for (const effects of results) ws.events.push(...effects.events);
  return results;
}

/** A batch {@link recordOutcomesAtOnce} can record: the final contexts of the executions it may finish. */
export interface OneTripPlan {
  readonly finishes: ReadonlyArray<{ readonly executionId: string; readonly finalContext: JsonObject }>;
}

/**
 * Whether a batch's outcomes can be recorded without reading anything back before COMMIT, and with what
 * finishes: every outcome completed (no retry timer, no failure to summarize); no other dependency of a
 * default-rule dependent is `known` to have ended other than Completed (that would skip the dependent, and
 * a skip cascade needs reading back); and for an execution whose ended tasks include one nothing depends
 * on, every other task is `known` as Completed or Skipped (its final context is computed here). `known`
 * returns the execution input and those tasks' committed states, or undefined when any is not known.
 *
 * A dependency not known here (still running, queued, or ended on another runner) is taken as pending. If
 * it had in fact ended Failed or Skipped, the statement finds the dependent to skip and refuses the batch
 * (`ONE_TRIP_REFUSED`, see SqlStore.writeOutcomesFinishing): the caller then records it on two trips.
 */
export function oneTripPlan(
  outcomes: readonly Outcome[],
  known: (executionId: string, taskIds: readonly string[]) => TaskInputs | undefined,
): OneTripPlan | undefined {
  const byExecution = new Map<string, { workflow: Workflow; outputs: Map<string, JsonObject> }>();
  for (const { workflow, claim, write } of outcomes) {
    if (write.kind !== "completed") return undefined;
    let e = byExecution.get(claim.executionId);
    if (!e) byExecution.set(claim.executionId, (e = { workflow, outputs: new Map() }));
    e.outputs.set(claim.taskId, write.output);
  }
  const finishes: Array<{ executionId: string; finalContext: JsonObject }> = [];
  for (const [executionId, { workflow, outputs }] of byExecution) {
    const settled = (taskIds: readonly string[], ok: (status: string) => boolean): TaskInputs | undefined => {
      const others = taskIds.filter((id) => !outputs.has(id));
      const k = known(executionId, others);
      return k && [...k.dependencies.values()].every((d) => ok(d.status)) ? k : undefined;
    };
    const ended = (id: string) => known(executionId, [id])?.dependencies.get(id)?.status;
    let sink = false;
    for (const taskId of outputs.keys()) {
      const dependents = workflow.dependents(taskId);
      if (dependents.length === 0) sink = true;
      for (const d of dependents) {
        const task = workflow.task(d);
        if (task?.triggerRule !== undefined) continue; // a custom rule is evaluated by the claimer: never skipped here
        const skips = (task?.dependencies ?? []).some((id) => !outputs.has(id) && (ended(id) ?? "Completed") !== "Completed");
        if (skips) return undefined;
      }
    }
    if (!sink) continue;
    const all = settled(workflow.tasks.map((t) => t.id), (st) => st === "Completed" || st === "Skipped");
    if (!all) return undefined;
    const deltas = new Map<string, ContextDelta>();
    for (const [taskId, state] of all.dependencies) if (state.status === "Completed") deltas.set(taskId, toDelta(state.output));
    for (const [taskId, output] of outputs) deltas.set(taskId, toDelta(output));
    finishes.push({ executionId, finalContext: computeFinalContext(workflow, all.input, deltas) });
  }
  return { finishes };
}

/**
 * Records a batch {@link oneTripPlan} accepted in one statement (PostgreSQL: SqlStore.writeOutcomesFinishing),
 * which also writes its events, finishes its executions and sends the notifications `notify` gives; sends it
 * and returns at once, so the caller can send its claim and COMMIT behind it. `effects` settles when the
 * statement has answered.
 */
export function recordOutcomesAtOnce(
  store: SqlStore,
  tx: Queryable,
  runnerId: string,
  now: number,
  outcomes: readonly Outcome[],
  reserveSlot: () => boolean,
  plan: OneTripPlan,
  /** The notifications to send in the statement, given the batch's advances. */
  notify: (advances: readonly Advance[]) => string[] = () => [],
): { effects: Promise<OutcomeEffects[]> } {
  const ended: Ended[] = outcomes.map(({ workflow, claim }) => ({
    executionId: claim.executionId,
    workflow,
    taskId: claim.taskId,
    attempt: claim.attempt,
    status: "Completed",
  }));
  const advances = advancesOf(ended, reserveSlot);
  const effects = store
    .writeOutcomesFinishing(tx, outcomes, advances, plan.finishes, runnerId, now, notify(advances))
    .then((r) => oneTripEffects(outcomes, r, now));
  return { effects };
}

function oneTripEffects(outcomes: readonly Outcome[], r: OutcomeResults, now: number): OutcomeEffects[] {
  const results: MutableEffects[] = [];
  const owner = new Map<string, MutableEffects>();
  for (const { claim } of outcomes) {
    const effects = noEffects();
    results.push(effects);
    if (!r.written.has(taskKey(claim.executionId, claim.taskId))) effects.lost = true;
    else owner.set(claim.executionId, effects);
  }
  for (const a of r.advanced) {
    const effects = owner.get(a.executionId)!;
    // oneTripPlan admitted no batch whose dependents can be skipped: each came back Running or Ready.
    madeReady(effects, a);
  }
  for (const [executionId, effects] of owner) {
    if (!r.counts.get(executionId)?.ended) continue;
    effects.finished = "Completed";
    const rows = r.finishing.get(executionId)!;
    effects.result = { execution: { ...rows.execution, completedAt: rows.execution.completedAt ?? now }, tasks: rows.tasks };
  }
  return results;
}

/** Effects of an outcome before anything is known of it. */
function noEffects(): MutableEffects {
  return { lost: false, localClaims: [], readyCount: 0, madeReady: [], skipped: [], finished: undefined, result: undefined, events: [] };
}

/** A dependent became ready: claimed here at once (it comes with its claim), or left Ready for any runner. */
function madeReady(effects: MutableEffects, r: Advanced): void {
  if (r.claim) effects.localClaims.push(r.claim);
  else {
    effects.readyCount++;
    effects.madeReady.push({ executionId: r.executionId, taskId: r.taskId });
  }
}

/** One edge per dependent of each ended task; each dependent is offered a slot (see BatchSlots). */
function advancesOf(ended: readonly Ended[], reserveSlot: () => boolean): Advance[] {
  const local = new Map<string, boolean>();
  const out: Advance[] = [];
  for (const e of ended) {
    for (const dependent of e.workflow.dependents(e.taskId)) {
      const k = taskKey(e.executionId, dependent);
      let loc = local.get(k);
      if (loc === undefined) local.set(k, (loc = reserveSlot()));
      out.push({
        executionId: e.executionId,
        taskId: dependent,
        source: { taskId: e.taskId, attempt: e.attempt, status: e.status },
        defaultRule: e.workflow.task(dependent)?.triggerRule === undefined,
        local: loc,
      });
    }
  }
  return out;
}

function taskEvent(claim: ClaimedTask, write: TaskWrite): NewEvent {
  const base = { executionId: claim.executionId, taskId: claim.taskId };
  switch (write.kind) {
    case "completed":
      return { ...base, type: "task_completed", data: { attempt: claim.attempt } };
    case "failed":
      return { ...base, type: "task_failed", data: { attempt: claim.attempt, error: write.error } };
    case "retry":
      return { ...base, type: "task_retry_scheduled", data: { attempt: claim.attempt, error: write.error, readyAt: write.readyAt } };
    case "skipped":
      return { ...base, type: "task_skipped", data: { reason: write.reason } };
  }
}

/** The final context (see `finalContext` in context-flow) and the failure summary. */
function summarize(
  workflow: Workflow,
  { execution, tasks }: ExecutionRows,
): { finalContext: JsonObject; errorMessage: string | undefined } {
  const deltas = new Map<string, ContextDelta>();
  const failures: string[] = [];
  for (const r of tasks) {
    if (r.status === "Completed") deltas.set(r.taskId, toDelta(r.output));
    else if (r.status === "Failed") failures.push(`${r.taskId}: ${r.errorMessage ?? "failed"}`);
  }
  const finalContext = computeFinalContext(workflow, execution.input, deltas);
  const errorMessage = failures.length
    ? `${failures.length} task${failures.length === 1 ? "" : "s"} failed (${failures.join("; ")})`
    : undefined;
  return { finalContext, errorMessage };
}
