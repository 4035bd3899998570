/**
 * Task types: the function a user writes, the handle it receives, the options it is declared with and
 * the validated definition the engine runs.
 */

import type { Context } from "./context.js";
import type { ResolvedRetryPolicy, RetryPolicy } from "./retry.js";
import type { TriggerRule } from "./rules.js";

/** What a running task attempt gets besides its context. */
export interface TaskHandle {
  /** Id of the execution this attempt belongs to. */
  readonly executionId: string;
  /** Short id of the task (as declared on the builder). */
  readonly taskId: string;
  /** 1-based attempt number (1 = first try). */
  readonly attempt: number;
  /** Aborted when the attempt times out, the execution is cancelled, or the runner shuts down. */
  readonly signal: AbortSignal;
  /**
   * Waits until `condition()` returns true, polling every `pollIntervalMs` (engine default), without
   * holding a concurrency slot while waiting.
   */
  deferUntil(condition: () => boolean | Promise<boolean>, options?: { pollIntervalMs?: number }): Promise<void>;
}

/**
 * A task body. Changes it makes to `ctx` in place are the task's output (returning nothing keeps them).
 * Throwing (or rejecting) fails the attempt; the retry policy decides what happens next.
 */
export type TaskFn = (ctx: Context, handle: TaskHandle) => void | Promise<void>;

/**
 * Options of `WorkflowBuilder.task(id, options, fn)`. `Deps` is the union of the task ids declared earlier
 * on the same builder, so a dependency typo is a compile error. Unknown option names are rejected by `build()`.
 */
export interface TaskOptions<Deps extends string = string> {
  /**
   * Tasks that must be terminal before this one is considered. Their outputs are merged into this
   * task's input in this order (later wins a conflict). Default: none (a root task).
   */
  dependencies?: readonly Deps[];
  /** Retry policy; default `{ maxAttempts: 3, backoff: "exponential", initialDelayMs: 1000, … }` (see {@link RetryPolicy}). */
  retry?: RetryPolicy;
  /** Per-attempt time limit in ms, a positive integer ≤ 2147483647. Default: the runner's `taskTimeoutSeconds`. */
  timeoutMs?: number;
  /**
   * Replaces the default rule ("run iff every dependency `Completed`"). Evaluated once every dependency
   * is terminal; false → the task is `Skipped`. Status rules may only name this task's dependencies.
   */
  triggerRules?: TriggerRule;
  /** Called after a successful attempt with a copy of the output context. Errors thrown here are ignored. */
  onSuccess?: (taskId: string, ctx: Context) => void | Promise<void>;
  /** Called after each failed attempt (also those that will be retried). Errors thrown here are ignored. */
  onFailure?: (taskId: string, error: unknown, ctx: Context) => void | Promise<void>;
}

/** A validated task, as held by a {@link Workflow}. Frozen. */
export interface TaskDefinition {
  /** Short task id, unique within the workflow. */
  readonly id: string;
  /** Dependency ids in declared order (the merge order of their outputs). */
  readonly dependencies: readonly string[];
  /** Retry policy with defaults filled in. */
  readonly retry: ResolvedRetryPolicy;
  /** Per-attempt timeout in ms; `undefined` = the runner's default. */
  readonly timeoutMs: number | undefined;
  /** The trigger rule; `undefined` = the default "all dependencies Completed" rule. */
  readonly triggerRule: TriggerRule | undefined;
  /** Success callback, if any. */
  readonly onSuccess?: ((taskId: string, ctx: Context) => void | Promise<void>) | undefined;
  /** Failure callback, if any. */
  readonly onFailure?: ((taskId: string, error: unknown, ctx: Context) => void | Promise<void>) | undefined;
  /** The task body. */
  readonly fn: TaskFn;
  /** 0-based declaration index on the builder. */
  readonly position: number;
}
