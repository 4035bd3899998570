/** The events a runner emits (`runner.on(name, listener)`), in process, after the change is committed. */
import type { ExecutionStatus } from "../types.js";

/** Payloads by event name. */
export interface RunnerEvents {
  /** An execution was created by this runner. */
  executionStarted: { executionId: string; workflowName: string };
  /** An execution this runner finished (its last task was recorded here) or cancelled. */
  executionCompleted: { executionId: string; workflowName: string; status: ExecutionStatus };
  /** A task attempt started on this runner. */
  taskStarted: { executionId: string; taskId: string; attempt: number };
  /** A task attempt succeeded. */
  taskCompleted: { executionId: string; taskId: string; attempt: number; durationMs: number };
  /** A task failed for good (no attempts left or not retryable). */
  taskFailed: { executionId: string; taskId: string; attempt: number; error: string };
  /** A task attempt failed and another one is scheduled. */
  taskRetrying: { executionId: string; taskId: string; attempt: number; error: string; delayMs: number };
  /** A task was skipped (its rule was false, or upstream failed/skipped, or cancelled). */
  taskSkipped: { executionId: string; taskId: string; reason: string };
  /** A task of a dead runner was taken over (requeued) or abandoned by this runner. */
  taskRecovered: { executionId: string; taskId: string; fromRunner: string; abandoned: boolean };
  /** A task this runner claimed went back to the queue before its body started (claimed ahead and not started in time, or shutdown). */
  taskReleased: { executionId: string; taskId: string; reason: string };
  /** A background error the runner survived (database hiccup, callback failure). */
  runnerError: { error: unknown; where: string };
}

/** Names of runner events. */
export type RunnerEventName = keyof RunnerEvents;
