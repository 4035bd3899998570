/** The result and snapshot types the runner returns, built from store records. */
import type { ExecutionRecord, TaskRecord } from "../store/store.js";
import type { ExecutionStatus, TaskStatus, TerminalExecutionStatus } from "../types.js";
import { Context } from "../workflow/context.js";

/** One task's outcome within an execution. */
export interface TaskResult {
  /** Short task id. */
  readonly taskId: string;
  /** Final (or current, for a running execution) status. */
  readonly status: TaskStatus;
  /** How many times the task body was started (0 for a skipped task). */
  readonly attempts: number;
  /** The last error, for a failed (or retried) task. */
  readonly errorMessage: string | undefined;
  /** Why it was skipped (`upstream failed`, `upstream skipped`, `trigger rule not satisfied`, `cancelled`). */
  readonly skipReason: string | undefined;
  /** When its first attempt started. */
  readonly startTime: Date | undefined;
  /** When it became terminal. */
  readonly endTime: Date | undefined;
}

/** A point-in-time view of an execution, terminal or not. */
export interface ExecutionSnapshot {
  readonly executionId: string;
  readonly workflowName: string;
  /** Content version of the workflow definition the execution was started with. */
  readonly workflowVersion: string;
  readonly status: ExecutionStatus;
  readonly startTime: Date;
  /** Set once the execution is terminal. */
  readonly endTime: Date | undefined;
  /** Milliseconds from start to end (or to now while running). */
  readonly durationMs: number;
  /** Merge of the outputs of the completed tasks that no completed task depends on (the leaves of a successful run); the input until then. */
  readonly finalContext: Context;
  /** For a failed execution: which tasks failed and why. For a cancelled one: the reason. */
  readonly errorMessage: string | undefined;
  /** Why it is paused, while paused. */
  readonly pauseReason: string | undefined;
  /** Every task in declaration order. */
  readonly taskResults: readonly TaskResult[];
}

/** The result of a finished execution: `execute` resolves with it, a task failure is `status: "Failed"`. */
export interface WorkflowResult extends ExecutionSnapshot {
  readonly status: TerminalExecutionStatus;
  readonly endTime: Date;
}

/** A row of `listExecutions`. */
export interface ExecutionSummary {
  readonly executionId: string;
  readonly workflowName: string;
  readonly workflowVersion: string;
  readonly status: ExecutionStatus;
  readonly startTime: Date;
  readonly endTime: Date | undefined;
  readonly errorMessage: string | undefined;
}

/** True for the statuses an execution ends in. */
export function isTerminal(status: ExecutionStatus): status is TerminalExecutionStatus {
  return status === "Completed" || status === "Failed" || status === "Cancelled";
}

const date = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms));

/** Builds a snapshot from an execution row and its task rows. */
export function toSnapshot(e: ExecutionRecord, tasks: readonly TaskRecord[]): ExecutionSnapshot {
  return {
    executionId: e.id,
    workflowName: e.workflowName,
    workflowVersion: e.workflowVersion,
    status: e.status,
    startTime: new Date(e.createdAt),
    endTime: date(e.completedAt),
    durationMs: (e.completedAt ?? Date.now()) - e.createdAt,
    finalContext: Context.fromTrustedObject(e.finalContext ?? e.input),
    errorMessage: e.errorMessage,
    pauseReason: e.pauseReason,
    taskResults: tasks.map((t) => ({
      taskId: t.taskId,
      status: t.status,
      attempts: t.attempts,
      errorMessage: t.errorMessage,
      skipReason: t.skipReason,
      startTime: date(t.startedAt),
      endTime: date(t.completedAt),
    })),
  };
}

/** Builds a list row from an execution row. */
export function toSummary(e: ExecutionRecord): ExecutionSummary {
  return {
    executionId: e.id,
    workflowName: e.workflowName,
    workflowVersion: e.workflowVersion,
    status: e.status,
    startTime: new Date(e.createdAt),
    endTime: date(e.completedAt),
    errorMessage: e.errorMessage,
  };
}
