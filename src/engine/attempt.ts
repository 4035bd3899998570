/**
 * Runs one task attempt: builds its handle, enforces the timeout through `handle.signal`, implements
 * `deferUntil` without holding a slot, and turns the result into an outcome.
 */
import { TaskTimeoutError } from "../errors.js";
import type { Context } from "../workflow/context.js";
import type { TaskDefinition, TaskHandle } from "../workflow/task.js";
import type { Slots } from "./slots.js";
import type { AttemptAbort } from "./attempt-abort.js";

/** How an attempt ended. */
export type AttemptResult = { ok: true } | { ok: false; error: unknown; aborted: "timeout" | "cancel" | "shutdown" | undefined };

/** Why an attempt's signal was aborted by the engine. */
export class AbortReason extends Error {
  constructor(readonly kind: "cancel" | "shutdown", message: string) {
    super(message);
  }
}

/** Inputs of {@link runAttempt}. */
export interface AttemptInput {
  readonly def: TaskDefinition;
  readonly ctx: Context;
  readonly executionId: string;
  readonly attempt: number;
  readonly timeoutMs: number;
  readonly abort: AttemptAbort;
  readonly slots: Slots;
  readonly defaultPollMs: number;
  /** Called once, as soon as the body has ended (before `runAttempt` returns; synchronously for a synchronous body). */
  readonly onEnd?: () => void;
}

function sleep(ms: number, abort: AttemptAbort): Promise<void> {
  return new Promise((resolve, reject) => {
    if (abort.aborted) return reject(abort.reason);
    const timer = setTimeout(() => {
      remove();
      resolve();
    }, ms);
    const remove = abort.onAbort(() => {
      clearTimeout(timer);
      reject(abort.reason);
    });
  });
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === "function";
}

/** Runs the task body once. Never throws: failures come back as a result. */
export async function runAttempt(input: AttemptInput): Promise<AttemptResult> {
  const { def, ctx, abort, slots } = input;
  const handle: TaskHandle = {
    executionId: input.executionId,
    taskId: def.id,
    attempt: input.attempt,
    get signal() {
      return abort.signal;
    },
    async deferUntil(condition, options) {
      const poll = options?.pollIntervalMs ?? input.defaultPollMs;
      if (!Number.isInteger(poll) || poll < 1) throw new RangeError("deferUntil: pollIntervalMs must be a positive integer");
      if (await condition()) return;
      // Give the body permit and the slot back while waiting; take both again before the body continues.
      slots.passBody();
      slots.release();
      try {
        for (;;) {
          await sleep(poll, abort);
          if (await condition()) break;
        }
      } finally {
        await slots.acquire();
        const permit = slots.startBody(true);
        if (permit !== "run") await permit;
      }
    },
  };

  let timer: NodeJS.Timeout | undefined;
  try {
    // A body that is already aborted (the runner is shutting down) does not start.
    if (abort.aborted) throw abort.reason;
    const running = def.fn(ctx, handle);
    // A synchronous body is done; an asynchronous one races its timeout and the signal.
    if (isPromiseLike(running)) {
      const aborted = new Promise<never>((_, reject) => abort.onAbort(() => reject(abort.reason)));
      aborted.catch(() => undefined);
      timer = setTimeout(() => abort.abort(new TaskTimeoutError(def.id, input.timeoutMs)), input.timeoutMs);
      await Promise.race([running, aborted]);
    }
    if (abort.aborted) throw abort.reason;
    return { ok: true };
  } catch (error) {
    const reason: unknown = abort.aborted ? abort.reason : undefined;
    const kind =
      reason instanceof TaskTimeoutError ? "timeout" : reason instanceof AbortReason ? reason.kind : undefined;
    return { ok: false, error: reason ?? error, aborted: kind };
  } finally {
    clearTimeout(timer);
    input.onEnd?.();
  }
}
