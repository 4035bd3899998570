import { expect, it } from "vitest";
import { TaskTimeoutError, WorkflowBuilder } from "../../src/index.js";
import { forEachBackend } from "../support/backends.js";
import { freshDatabase, openRunner } from "../support/runner.js";

let seq = 0;
const unique = (base: string) => `${base}-${process.pid}-${++seq}`;

forEachBackend((backend) => {
  it("retries a failing task and succeeds on a later attempt, counting attempts", async () => {
    const name = unique("retry");
    let calls = 0;
    const wf = new WorkflowBuilder(name)
      .task("flaky", { retry: { maxAttempts: 3, backoff: "fixed", initialDelayMs: 20, jitter: false } }, (ctx, h) => {
        calls++;
        if (h.attempt < 3) throw new Error(`attempt ${h.attempt} failed`);
        ctx.set("attempt", h.attempt);
      })
      .build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const retrying: number[] = [];
    runner.on("taskRetrying", (e) => retrying.push(e.attempt));
    const r = await runner.execute(name);
    expect(r.status).toBe("Completed");
    expect(calls).toBe(3);
    expect(retrying).toEqual([1, 2]);
    expect(r.taskResults[0]!.attempts).toBe(3);
    expect(r.finalContext.get("attempt")).toBe(3);
  });

  it("gives up after maxAttempts and fails with the last error", async () => {
    const name = unique("exhaust");
    let calls = 0;
    const wf = new WorkflowBuilder(name)
      .task("always-bad", { retry: { maxAttempts: 2, initialDelayMs: 10, jitter: false } }, () => {
        calls++;
        throw new Error(`bad ${calls}`);
      })
      .build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const r = await runner.execute(name);
    expect(r.status).toBe("Failed");
    expect(calls).toBe(2);
    expect(r.taskResults[0]!.errorMessage).toBe("bad 2");
  });

  it("retryOn decides which errors are retried", async () => {
    const name = unique("retryon");
    const calls: Record<string, number> = { never: 0, pattern: 0, fn: 0 };
    const failWith = (id: string, msg: string) => () => {
      calls[id]!++;
      throw new Error(msg);
    };
    const fast = { initialDelayMs: 5, jitter: false, maxAttempts: 3 } as const;
    const wf = new WorkflowBuilder(name)
      .task("never", { retry: { ...fast, retryOn: "never" } }, failWith("never", "x"))
      .task("pattern", { retry: { ...fast, retryOn: ["deadlock"] } }, failWith("pattern", "validation error"))
      .task("fn", { retry: { ...fast, retryOn: (e) => String(e).includes("again") } }, failWith("fn", "try again"))
      .build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    await runner.execute(name);
    expect(calls).toEqual({ never: 1, pattern: 1, fn: 3 });
  });

  it("stores the retry due time in the database, and a waiting retry holds no slot", async () => {
    const name = unique("due");
    const other = unique("other");
    const wf = new WorkflowBuilder(name)
      .task("later", { retry: { maxAttempts: 2, backoff: "fixed", initialDelayMs: 60_000, jitter: false } }, () => {
        throw new Error("come back in a minute");
      })
      .build({ register: false });
    const quick = new WorkflowBuilder(other).task("t", (ctx) => ctx.set("ran", 1)).build({ register: false });
    const db = await freshDatabase(backend);
    const runner = await openRunner(db, { workflows: [wf, quick], maxConcurrentTasks: 1 });
    const retrying = new Promise<{ delayMs: number }>((r) => runner.once("taskRetrying", r));
    const exec = await runner.start(name);
    const ev = await retrying;
    expect(ev.delayMs).toBeGreaterThan(55_000);
    // The only slot is free while the retry waits: another workflow runs to completion.
    expect((await runner.execute(other)).finalContext.get("ran")).toBe(1);
    const events = await runner.getExecutionEvents(exec.id);
    const scheduled = events.find((e) => e.type === "task_retry_scheduled")!;
    expect(Number(scheduled.data!.readyAt) - scheduled.createdAt).toBeGreaterThanOrEqual(59_000);
    expect((await runner.getExecution(exec.id)).taskResults[0]!.status).toBe("Ready");
    await runner.shutdown();
    // A new runner on the same database sees the same pending retry: it is durable, not a timer in memory.
    const again = await openRunner(db, { workflows: [wf] });
    const snap = await again.getExecution(exec.id);
    expect(snap.status).toBe("Running");
    expect(snap.taskResults[0]!.status).toBe("Ready");
    expect(snap.taskResults[0]!.errorMessage).toBe("come back in a minute");
  });

  it("timeoutMs aborts handle.signal and fails the attempt with TaskTimeoutError", async () => {
    const name = unique("timeout");
    let abortReason: unknown;
    const wf = new WorkflowBuilder(name)
      .task("slow", { timeoutMs: 50, retry: { maxAttempts: 1 } }, async (_ctx, handle) => {
        await new Promise<void>((resolve) =>
          handle.signal.addEventListener("abort", () => {
            abortReason = handle.signal.reason;
            resolve();
          }),
        );
      })
      .build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const r = await runner.execute(name);
    expect(r.status).toBe("Failed");
    expect(abortReason).toBeInstanceOf(TaskTimeoutError);
    expect(r.taskResults[0]!.errorMessage).toMatch(/timed out after 50 ms/);
  });

  it("a synchronous body cannot be interrupted: it outlasts timeoutMs and its result stands", async () => {
    const name = unique("sync-over-time");
    const wf = new WorkflowBuilder(name)
      .task("busy", { timeoutMs: 20, retry: { maxAttempts: 1 } }, (ctx, handle) => {
        const until = performance.now() + 60;
        while (performance.now() < until) {
          // a CPU-bound body: nothing else runs until it returns
        }
        ctx.set("aborted", handle.signal.aborted);
      })
      .build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const r = await runner.execute(name);
    expect(r.status).toBe("Completed");
    expect(r.finalContext.get("aborted")).toBe(false);
    expect(r.taskResults[0]!.attempts).toBe(1);
  });

  it("a timed-out attempt is retried when the policy allows it", async () => {
    const name = unique("timeout-retry");
    const wf = new WorkflowBuilder(name)
      .task("sometimes-slow", { timeoutMs: 30, retry: { maxAttempts: 2, initialDelayMs: 5, jitter: false, retryOn: "transient" } }, async (ctx, h) => {
        if (h.attempt === 1) await new Promise((r) => h.signal.addEventListener("abort", r));
        ctx.set("attempt", h.attempt);
      })
      .build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const r = await runner.execute(name);
    expect(r.status).toBe("Completed");
    expect(r.finalContext.get("attempt")).toBe(2);
  });
});
