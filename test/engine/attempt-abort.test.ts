/**
 * An attempt's abort (src/engine/attempt-abort.ts) on its own, and through runAttempt: the body's
 * `handle.signal` is made only when read, and reads the same whenever it is first read. The engine's
 * timeouts, cancels and shutdowns end to end are in retry-timeout.test.ts and lifecycle.test.ts.
 */
import { afterEach, describe, expect, it } from "vitest";
import { AttemptAbort } from "../../src/engine/attempt-abort.js";
import { AbortReason, runAttempt } from "../../src/engine/attempt.js";
import { Context } from "../../src/workflow/context.js";
import type { TaskDefinition, TaskHandle } from "../../src/workflow/task.js";
import type { Slots } from "../../src/engine/slots.js";

describe("AttemptAbort", () => {
  it("a signal first read after the abort is already aborted, with the abort's reason", () => {
    const abort = new AttemptAbort();
    const reason = new Error("why");
    abort.abort(reason);
    expect(abort.aborted).toBe(true);
    expect(abort.reason).toBe(reason);
    expect(abort.signal.aborted).toBe(true);
    expect(abort.signal.reason).toBe(reason);
  });

  it("a signal read before the abort is aborted by it; its listeners run before the engine's", () => {
    const abort = new AttemptAbort();
    const signal = abort.signal;
    expect(signal.aborted).toBe(false);
    expect(abort.signal).toBe(signal); // one signal per attempt
    const order: string[] = [];
    abort.onAbort(() => order.push("engine"));
    signal.addEventListener("abort", () => order.push("body"));
    abort.abort("first");
    expect(order).toEqual(["body", "engine"]);
    expect(signal.reason).toBe("first");
  });

  it("aborts once: a later abort changes nothing and calls no listener again", () => {
    const abort = new AttemptAbort();
    let calls = 0;
    abort.onAbort(() => calls++);
    abort.abort("first");
    abort.abort("second");
    expect(calls).toBe(1);
    expect(abort.reason).toBe("first");
    expect(abort.signal.reason).toBe("first");
  });

  it("a listener added after the abort runs at once; a removed one never runs", () => {
    const abort = new AttemptAbort();
    let removedCalls = 0;
    const remove = abort.onAbort(() => removedCalls++);
    remove();
    abort.abort("x");
    expect(removedCalls).toBe(0);
    let late = 0;
    abort.onAbort(() => late++);
    expect(late).toBe(1);
  });
});

describe("runAttempt with an attempt's abort", () => {
  const def = (fn: TaskDefinition["fn"]): TaskDefinition =>
    ({ id: "t", fn, dependencies: [], retry: { maxAttempts: 1 } }) as unknown as TaskDefinition;
  // deferUntil is the only user of the slots; these bodies do not call it.
  const noSlots = undefined as unknown as Slots;

  describe("AbortControllers made", () => {
    const Real = globalThis.AbortController;
    afterEach(() => {
      globalThis.AbortController = Real;
    });

    it("none for bodies that never read their signal (synchronous or not), one for a body that does", async () => {
      let made = 0;
      globalThis.AbortController = class extends Real {
        constructor() {
          super();
          made++;
        }
      };
      const run = (fn: TaskDefinition["fn"]) =>
        runAttempt({ def: def(fn), ctx: new Context({}), executionId: "e", attempt: 1, timeoutMs: 60_000, abort: new AttemptAbort(), slots: noSlots, defaultPollMs: 100 });
      expect(await run(() => undefined)).toEqual({ ok: true });
      expect(await run(async () => undefined)).toEqual({ ok: true });
      expect(made).toBe(0);
      expect(await run((_ctx: Context, handle: TaskHandle) => void handle.signal.aborted)).toEqual({ ok: true });
      expect(made).toBe(1);
    });
  });

  it("an asynchronous body aborted before it reads its signal fails as cancelled and then reads it aborted", async () => {
    const abort = new AttemptAbort();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let seen: { aborted: boolean; reason: unknown } | undefined;
    let bodyDone!: () => void;
    const bodyEnded = new Promise<void>((r) => (bodyDone = r));
    const running = runAttempt({
      def: def(async (_ctx: Context, handle: TaskHandle) => {
        await gate;
        seen = { aborted: handle.signal.aborted, reason: handle.signal.reason };
        bodyDone();
      }),
      ctx: new Context({}),
      executionId: "e",
      attempt: 1,
      timeoutMs: 60_000,
      abort,
      slots: noSlots,
      defaultPollMs: 100,
    });
    const reason = new AbortReason("cancel", "cancelled by a test");
    abort.abort(reason);
    const result = await running;
    expect(result).toEqual({ ok: false, error: reason, aborted: "cancel" });
    release();
    await bodyEnded;
    expect(seen).toEqual({ aborted: true, reason });
  });

  it("a timeout aborts the signal the body is listening on, with TaskTimeoutError", async () => {
    const abort = new AttemptAbort();
    let heard: unknown;
    const result = await runAttempt({
      def: def(
        (_ctx: Context, handle: TaskHandle) =>
          new Promise<void>((resolve) =>
            handle.signal.addEventListener("abort", () => {
              heard = handle.signal.reason;
              resolve();
            }),
          ),
      ),
      ctx: new Context({}),
      executionId: "e",
      attempt: 1,
      timeoutMs: 10,
      abort,
      slots: noSlots,
      defaultPollMs: 100,
    });
    expect(result.ok).toBe(false);
    expect(result.ok === false && result.aborted).toBe("timeout");
    expect((heard as Error).name).toBe("TaskTimeoutError");
    expect(abort.reason).toBe(heard);
  });
});
