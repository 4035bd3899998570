import { expect, it } from "vitest";
import { ConfigurationError, DefaultRunner, RunnerStateError, WorkflowBuilder } from "../../src/index.js";
import { forEachBackend, sqliteBackend } from "../support/backends.js";
import { freshDatabase, openRunner } from "../support/runner.js";

let seq = 0;
const unique = (base: string) => `${base}-${process.pid}-${++seq}`;

function gated(name: string) {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const wf = new WorkflowBuilder(name)
    .task("hold", async (ctx) => {
      await gate;
      ctx.set("held", true);
    })
    .task("after", { dependencies: ["hold"] }, (ctx) => ctx.set("after", true))
    .build({ register: false });
  return { wf, release };
}

forEachBackend((backend) => {
  it("shutdown waits for running tasks to finish and records their outcome", async () => {
    const name = unique("graceful");
    const { wf, release } = gated(name);
    const db = await freshDatabase(backend);
    const runner = await openRunner(db, { workflows: [wf] });
    const started = new Promise((r) => runner.once("taskStarted", r));
    const exec = await runner.start(name);
    await started;
    const stopping = runner.shutdown({ timeoutMs: 10_000 });
    release();
    await stopping;
    await expect(runner.start(name)).rejects.toBeInstanceOf(RunnerStateError);
    const next = await openRunner(db, { workflows: [wf] });
    const result = await next.waitFor(exec.id, { timeoutMs: 10_000 });
    expect(result.status).toBe("Completed");
    // "hold" finished on the first runner; "after" was left for the next one (the first stopped claiming)
    expect(result.taskResults.map((t) => [t.taskId, t.status, t.attempts])).toEqual([
      ["hold", "Completed", 1],
      ["after", "Completed", 1],
    ]);
  });

  it("shutdown past its timeout aborts running tasks and hands them back to the queue", async () => {
    const name = unique("abort");
    let signalled = false;
    const wf = new WorkflowBuilder(name)
      .task("stubborn", async (ctx, h) => {
        if (h.attempt === 1) {
          await new Promise<void>((r) => h.signal.addEventListener("abort", () => r()));
          signalled = true;
          throw new Error("aborted");
        }
        ctx.set("second", h.attempt);
      })
      .build({ register: false });
    const db = await freshDatabase(backend);
    const runner = await openRunner(db, { workflows: [wf] });
    const started = new Promise((r) => runner.once("taskStarted", r));
    const exec = await runner.start(name);
    await started;
    await runner.shutdown({ timeoutMs: 50 });
    expect(signalled).toBe(true);
    const next = await openRunner(db, { workflows: [wf] });
    const result = await next.waitFor(exec.id, { timeoutMs: 10_000 });
    expect(result.status).toBe("Completed");
    expect(result.finalContext.get("second")).toBe(2);
  });

  it("await using shuts the runner down at scope exit", async () => {
    const db = await freshDatabase(backend);
    let escaped: DefaultRunner;
    {
      await using runner =
        db.schema === undefined ? await DefaultRunner.connect(db.url) : DefaultRunner.withSchema(db.url, db.schema);
      await runner.ready();
      escaped = runner;
    }
    await expect(escaped.listExecutions()).rejects.toBeInstanceOf(RunnerStateError);
  });

  it("cancel skips unstarted tasks, aborts running ones and resolves waiters as Cancelled", async () => {
    const name = unique("cancel");
    let aborted = false;
    const wf = new WorkflowBuilder(name)
      .task("long", async (_ctx, h) => {
        await new Promise<void>((r) => h.signal.addEventListener("abort", () => r()));
        aborted = true;
      })
      .task("next", { dependencies: ["long"] }, () => undefined)
      .build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const started = new Promise((r) => runner.once("taskStarted", r));
    const exec = await runner.start(name);
    await started;
    const waiting = exec.wait();
    expect(await exec.cancel("no longer needed")).toBe(true);
    const result = await waiting;
    expect(result.status).toBe("Cancelled");
    expect(result.errorMessage).toBe("no longer needed");
    expect(aborted).toBe(true);
    expect(result.taskResults.find((t) => t.taskId === "next")!.skipReason).toBe("cancelled");
    expect(await exec.cancel()).toBe(false);
  });

  it("pause stops new tasks from starting until resume", async () => {
    const name = unique("pause");
    const { wf, release } = gated(name);
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const started = new Promise((r) => runner.once("taskStarted", r));
    const exec = await runner.start(name);
    await started;
    expect(await exec.pause("maintenance")).toBe(true);
    const holdDone = new Promise((r) => runner.once("taskCompleted", r));
    release();
    await holdDone;
    const snap = await runner.getExecution(exec.id);
    expect(snap.status).toBe("Paused");
    expect(snap.pauseReason).toBe("maintenance");
    expect(snap.taskResults[1]!.status).toBe("Ready"); // ready, but not started while paused
    expect(await exec.resume()).toBe(true);
    const result = await exec.wait();
    expect(result.status).toBe("Completed");
    expect(result.finalContext.get("after")).toBe(true);
  });

  it("wait() gives up after its timeout with ExecutionTimeoutError while the execution keeps running", async () => {
    const name = unique("wait-timeout");
    const { wf, release } = gated(name);
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const exec = await runner.start(name);
    await expect(exec.wait({ timeoutMs: 30 })).rejects.toMatchObject({ code: "EXECUTION_TIMEOUT" });
    release();
    expect((await exec.wait()).status).toBe("Completed");
  });

  it("wait() refuses a timeout that is not a finite number ≥ 0", async () => {
    const name = unique("wait-bad-timeout");
    const { wf, release } = gated(name);
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const exec = await runner.start(name);
    for (const timeoutMs of [-1, Number.NaN, Number.POSITIVE_INFINITY, "5" as unknown as number]) {
      await expect(exec.wait({ timeoutMs })).rejects.toMatchObject({ code: "CONFIGURATION", message: expect.stringContaining("timeoutMs") });
    }
    release();
    expect((await exec.wait()).status).toBe("Completed");
  });
});

it("withSchema on a SQLite URL says multi-tenancy requires PostgreSQL", async () => {
  const db = await sqliteBackend.newDatabase();
  try {
    expect(() => DefaultRunner.withSchema(db.url, "tenant_a")).toThrow(ConfigurationError);
    expect(() => DefaultRunner.withSchema(db.url, "tenant_a")).toThrow(/multi-tenancy requires PostgreSQL/);
  } finally {
    await db.dispose();
  }
});

it("bad configuration is a ConfigurationError at construction, naming the option", () => {
  expect(() => new DefaultRunner("sqlite:///:memory:", { maxConcurrentTasks: -1 })).toThrow(/maxConcurrentTasks/);
  expect(() => new DefaultRunner("sqlite:///:memory:", { maxConcurrentTasks: 1.5 })).toThrow(ConfigurationError);
  expect(() => new DefaultRunner("mysql://x/y")).toThrow(ConfigurationError);
});

it("fromEnv reads DATABASE_URL and CLOACA_* overrides, and names a missing variable", async () => {
  const db = await sqliteBackend.newDatabase();
  try {
    expect(() => DefaultRunner.fromEnv({})).toThrow(/DATABASE_URL/);
    const runner = DefaultRunner.fromEnv({ DATABASE_URL: db.url, CLOACA_MAX_CONCURRENT_TASKS: "7" });
    await runner.ready();
    expect(runner.config.maxConcurrentTasks).toBe(7);
    await runner.shutdown();
  } finally {
    await db.dispose();
  }
});
