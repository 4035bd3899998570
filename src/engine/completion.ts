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
import { taskKey, type Advance, type ExecutionRows, type NewEvent, type SqlStore, type TaskWrite, type WriteSet } from "../store/sql-store.js";
import type { ClaimedTask, Queryable } from "../store/store.js";
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
  /** Successors made Ready for any runner. */
  readonly readyCount: number;
  /** Tasks skipped by the cascade, with reasons. */
  readonly skipped: ReadonlyArray<{ taskId: string; reason: string }>;
  /** Set when this outcome finished the execution. */
  readonly finished: "Completed" | "Failed" | undefined;
  /** When it finished the execution: the execution and its tasks as committed (what a snapshot read would return). */
  readonly result: ExecutionRows | undefined;
}

type Terminal = "Completed" | "Failed" | "Skipped";

interface MutableEffects {
  lost: boolean;
  localClaims: ClaimedTask[];
  readyCount: number;
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

/**
 * Records claimed attempts' outcomes and everything that follows from them, in `tx`; one result per
 * outcome. Events and execution finishes go to `ws`, which the caller flushes in the same transaction.
 * `reserveSlot` takes a local slot for a successor; when it says no, the successor goes to the queue.
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
  const { written, counts } = await store.finishTasks(tx, outcomes, runnerId, now);
  const results: MutableEffects[] = [];
  const work = new Map<string, ExecutionWork>();
  // The batch's own outcomes were counted against their executions by finishTasks; skips that cascade from
  // them are counted below.
  let terminal: Array<{ executionId: string; taskId: string; status: Terminal; cascaded: boolean }> = [];
  for (const outcome of outcomes) {
    const { claim, write } = outcome;
    const effects: MutableEffects = { lost: false, localClaims: [], readyCount: 0, skipped: [], finished: undefined, result: undefined, events: [] };
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
    let w = work.get(claim.executionId);
    if (!w) {
      w = { workflow: outcome.workflow, owner: { effects, outcome }, cascaded: 0 };
      work.set(claim.executionId, w);
    }
    w.owner = { effects, outcome };
    const status: Terminal = write.kind === "completed" ? "Completed" : write.kind === "failed" ? "Failed" : "Skipped";
    terminal.push({ executionId: claim.executionId, taskId: claim.taskId, status, cascaded: false });
  }

  // Propagate terminal outcomes through the DAGs, one statement per level of the skip cascade. A dependent
  // whose last dependency just ended becomes Ready — or is claimed by this runner at once when it has a
  // slot for it and the execution is running (the local fast path: no trip through the queue) — or, under
  // the default trigger rule with a failed or skipped dependency, is Skipped, which cascades. A custom
  // trigger rule is evaluated by the claimer, which loads the dependencies' outputs anyway.
  while (terminal.length) {
    const advances = new Map<string, Advance>();
    for (const t of terminal) {
      const w = work.get(t.executionId)!;
      if (t.cascaded) w.cascaded++;
      for (const dependent of w.workflow.dependents(t.taskId)) {
        const k = taskKey(t.executionId, dependent);
        let d = advances.get(k);
        if (!d) {
          const defaultRule = w.workflow.task(dependent)?.triggerRule === undefined;
          d = { executionId: t.executionId, taskId: dependent, count: 0, failed: 0, skipped: 0, defaultRule, local: false };
          advances.set(k, d);
        }
        d.count++;
        if (t.status === "Failed") d.failed++;
        if (t.status === "Skipped") d.skipped++;
      }
    }
    terminal = [];
    // A slot is offered to every dependent; those that do not become ready give it back (see BatchSlots).
    for (const d of advances.values()) d.local = reserveSlot();
    for (const r of await store.advanceDependents(tx, [...advances.values()], runnerId, now)) {
      const effects = work.get(r.executionId)!.owner.effects;
      if (r.status === "Skipped") {
        const reason = r.skipReason ?? "upstream skipped";
        effects.skipped.push({ taskId: r.taskId, reason });
        effects.events.push({ executionId: r.executionId, taskId: r.taskId, type: "task_skipped", data: { reason } });
        terminal.push({ executionId: r.executionId, taskId: r.taskId, status: "Skipped", cascaded: true });
      } else if (r.status === "Running" || r.status === "Ready") {
        effects.events.push({ executionId: r.executionId, taskId: r.taskId, type: "task_ready" });
        if (r.claim) effects.localClaims.push(r.claim);
        else effects.readyCount++;
      }
    }
  }

  const cascaded = [...work].filter(([, w]) => w.cascaded > 0);
  if (cascaded.length) {
    const after = await store.adjustExecutions(tx, cascaded.map(([executionId, w]) => ({ executionId, finished: w.cascaded, failed: 0 })));
    for (const [id, c] of after) counts.set(id, c);
  }
  const finishing: string[] = [];
  for (const [executionId, w] of work) {
    const c = counts.get(executionId);
    if (c && c.unfinished === 0 && (c.status === "Running" || c.status === "Paused")) {
      w.owner.effects.finished = c.failed > 0 ? "Failed" : "Completed";
      finishing.push(executionId);
    }
  }

  if (finishing.length) {
    // The rows as this transaction leaves them: the summary is computed from them, and (patched with the
    // finish) they are the result the waiters get, with no read after commit.
    const rows = await store.snapshots(tx, finishing);
    for (const executionId of finishing) {
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
