/**
 * Decides what a task's outcome means for the rest of its execution, inside the same transaction that
 * records the outcome: readiness is decided at completion (work proportional to the edges touched, never
 * a scan of active executions), skips cascade, and the execution is finished when its last task is.
 */
import type { SqlStore, NewEvent, TaskWrite } from "../store/sql-store.js";
import type { ClaimedTask, Queryable } from "../store/store.js";
import type { JsonObject } from "../types.js";
import { finalContext as computeFinalContext, toDelta, type ContextDelta } from "./context-flow.js";
import type { Workflow } from "../workflow/workflow.js";

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
}

/** Inputs of {@link recordOutcome}. */
export interface OutcomeInput {
  readonly store: SqlStore;
  readonly tx: Queryable;
  readonly workflow: Workflow;
  readonly claim: ClaimedTask;
  readonly runnerId: string;
  readonly write: TaskWrite;
  readonly now: number;
  /** Reserves one local slot for a successor; false when none is free (the successor goes to the queue). */
  readonly reserveSlot: () => boolean;
  /** Events are appended here and written by the caller in the same transaction. */
  readonly events: NewEvent[];
}

const LOST: OutcomeEffects = { lost: true, localClaims: [], readyCount: 0, skipped: [], finished: undefined };

/** Records a claimed attempt's outcome and everything that follows from it, in `tx`. */
export async function recordOutcome(input: OutcomeInput): Promise<OutcomeEffects> {
  const { store, tx, workflow, claim, runnerId, write, now, events } = input;
  if (!(await store.finishTask(tx, claim, runnerId, write, now))) return LOST;
  const executionId = claim.executionId;
  events.push(taskEvent(claim, write));
  if (write.kind === "retry") {
    return { lost: false, localClaims: [], readyCount: 1, skipped: [], finished: undefined };
  }

  // Propagate terminal outcomes through the DAG. A queue, because skips cascade.
  const terminal: Array<{ taskId: string; status: "Completed" | "Failed" | "Skipped" }> = [
    { taskId: claim.taskId, status: write.kind === "completed" ? "Completed" : write.kind === "failed" ? "Failed" : "Skipped" },
  ];
  const skipped: Array<{ taskId: string; reason: string }> = [];
  const ready: string[] = [];
  let finishedCount = 0;
  let failedCount = 0;
  for (let i = 0; i < terminal.length; i++) {
    const t = terminal[i]!;
    finishedCount++;
    if (t.status === "Failed") failedCount++;
    const dependents = workflow.dependents(t.taskId);
    if (!dependents.length) continue;
    const counters = await store.decrementDependents(tx, executionId, dependents, t.status);
    const skipGroups = new Map<string, string[]>();
    for (const c of counters) {
      if (c.depsRemaining > 0) continue;
      const def = workflow.task(c.taskId);
      // A custom trigger rule is evaluated by the claimer, which loads the dependencies' outputs anyway.
      let reason: string | undefined;
      if (def?.triggerRule === undefined) {
        if (c.upstreamFailed > 0) reason = "upstream failed";
        else if (c.upstreamSkipped > 0) reason = "upstream skipped";
      }
      if (reason === undefined) {
        ready.push(c.taskId);
      } else {
        skipped.push({ taskId: c.taskId, reason });
        terminal.push({ taskId: c.taskId, status: "Skipped" });
        const group = skipGroups.get(reason) ?? [];
        group.push(c.taskId);
        skipGroups.set(reason, group);
      }
    }
    for (const [reason, ids] of skipGroups) await store.markSkipped(tx, executionId, ids, reason, now);
  }
  for (const s of skipped) events.push({ executionId, taskId: s.taskId, type: "task_skipped", data: { reason: s.reason } });

  const counts = await store.adjustExecution(tx, executionId, finishedCount, failedCount);

  // Local fast path: successors this runner has room for start right after commit, without the queue —
  // unless the execution is paused or cancelled, when they only become Ready.
  const local: string[] = [];
  const queued: string[] = [];
  const claimable = counts?.status === "Running";
  for (const id of ready) (claimable && input.reserveSlot() ? local : queued).push(id);
  const localClaims = await store.claimLocal(tx, executionId, local, runnerId, now);
  await store.markReady(tx, executionId, queued, now);
  for (const id of ready) events.push({ executionId, taskId: id, type: "task_ready" });

  let finished: "Completed" | "Failed" | undefined;
  if (counts && counts.unfinished === 0 && (counts.status === "Running" || counts.status === "Paused")) {
    finished = counts.failed > 0 ? "Failed" : "Completed";
    const { finalContext, errorMessage } = await summarize(store, tx, workflow, executionId);
    await store.finishExecution(tx, executionId, finished, finalContext, errorMessage, now);
    events.push({ executionId, type: finished === "Completed" ? "execution_completed" : "execution_failed" });
  }
  return { lost: false, localClaims, readyCount: queued.length, skipped, finished };
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
async function summarize(
  store: SqlStore,
  tx: Queryable,
  workflow: Workflow,
  executionId: string,
): Promise<{ finalContext: JsonObject; errorMessage: string | undefined }> {
  const { input, tasks: rows } = await store.terminalOutputs(tx, executionId);
  const deltas = new Map<string, ContextDelta>();
  const failures: string[] = [];
  for (const r of rows) {
    if (r.status === "Completed") deltas.set(r.taskId, toDelta(r.output));
    else if (r.status === "Failed") failures.push(`${r.taskId}: ${r.error ?? "failed"}`);
  }
  const finalContext = computeFinalContext(workflow, input, deltas);
  const errorMessage = failures.length
    ? `${failures.length} task${failures.length === 1 ? "" : "s"} failed (${failures.join("; ")})`
    : undefined;
  return { finalContext, errorMessage };
}
