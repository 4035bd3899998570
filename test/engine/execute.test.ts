import { expect, it } from "vitest";
import { Context, WorkflowBuilder, WorkflowNotFoundError, ExecutionNotFoundError } from "../../src/index.js";
import { forEachBackend } from "../support/backends.js";
import { freshDatabase, openRunner } from "../support/runner.js";

let seq = 0;
const unique = (base: string) => `${base}-${process.pid}-${++seq}`;

forEachBackend((backend) => {
  it("runs a 3-task chain and passes context from task to task", async () => {
    const name = unique("chain");
    const wf = new WorkflowBuilder(name)
      .task("a", (ctx) => ctx.set("n", ctx.get<number>("n")! + 1))
      .task("b", { dependencies: ["a"] }, (ctx) => ctx.set("n", ctx.get<number>("n")! * 10))
      .task("c", { dependencies: ["b"] }, async (ctx) => ctx.set("done", true))
      .build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const result = await runner.execute(name, new Context({ n: 1 }));
    expect(result.status).toBe("Completed");
    expect(result.finalContext.get("n")).toBe(20);
    expect(result.finalContext.get("done")).toBe(true);
    expect(result.workflowName).toBe(name);
    expect(result.workflowVersion).toBe(wf.version);
    expect(result.errorMessage).toBeUndefined();
    expect(result.endTime.getTime()).toBeGreaterThanOrEqual(result.startTime.getTime());
    expect(result.durationMs).toBe(result.endTime.getTime() - result.startTime.getTime());
    expect(result.taskResults.map((t) => [t.taskId, t.status, t.attempts])).toEqual([
      ["a", "Completed", 1],
      ["b", "Completed", 1],
      ["c", "Completed", 1],
    ]);
    for (const t of result.taskResults) expect(t.endTime!.getTime()).toBeGreaterThanOrEqual(t.startTime!.getTime());
  });

  it("accepts a plain object as input and never mutates the caller's context", async () => {
    const name = unique("input");
    const wf = new WorkflowBuilder(name)
      .task("t", (ctx) => {
        ctx.set("x", 2);
        ctx.get<number[]>("list")!.push(99); // get returns a copy: the stored list is unchanged
      })
      .build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const input = new Context({ x: 1, list: [1] });
    const r1 = await runner.execute(name, input);
    expect(input.get("x")).toBe(1);
    expect(r1.finalContext.get("x")).toBe(2);
    expect(r1.finalContext.get("list")).toEqual([1]);
    const r2 = await runner.execute(name, { list: [] });
    expect(r2.finalContext.toObject()).toEqual({ list: [], x: 2 });
  });

  it("merges parallel outputs deterministically in declared dependency order", async () => {
    const name = unique("merge");
    const wf = new WorkflowBuilder(name)
      .task("setup", (ctx) => ctx.set("shared", { base: true }))
      // "slow" finishes last but is declared first: declaration order, not finish order, decides.
      .task("slow", { dependencies: ["setup"] }, async (ctx) => {
        await new Promise((r) => setTimeout(r, 30));
        ctx.set("winner", "slow");
        ctx.set("shared", { ...ctx.get<object>("shared")!, slow: 1 });
      })
      .task("fast", { dependencies: ["setup"] }, (ctx) => {
        ctx.set("winner", "fast");
        ctx.set("shared", { ...ctx.get<object>("shared")!, fast: 1 });
      })
      .task("join1", { dependencies: ["slow", "fast"] }, (ctx) => ctx.set("seen1", ctx.get("winner")!))
      .task("join2", { dependencies: ["fast", "slow"] }, (ctx) => ctx.set("seen2", ctx.get("winner")!))
      .build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    for (let i = 0; i < 3; i++) {
      const r = await runner.execute(name, {});
      expect(r.status).toBe("Completed");
      expect(r.finalContext.get("seen1")).toBe("fast");
      expect(r.finalContext.get("seen2")).toBe("slow");
      // objects merge recursively: both branches' keys survive
      expect(r.finalContext.get("shared")).toEqual({ base: true, slow: 1, fast: 1 });
    }
  });

  it("an inherited value never overwrites a newer value written by another branch; removals flow too", async () => {
    const name = unique("stale");
    const wf = new WorkflowBuilder(name)
      .task("setup", (ctx) => ctx.set("x", 5))
      .task("writer", { dependencies: ["setup"] }, (ctx) => {
        ctx.set("x", 2);
        ctx.remove("drop");
      })
      .task("bystander", { dependencies: ["setup"] }, (ctx) => ctx.set("y", 1)) // carries x=5 and drop, unchanged
      .task("join", { dependencies: ["writer", "bystander"] }, (ctx) => {
        ctx.set("seenX", ctx.get("x")!);
        ctx.set("seenDrop", ctx.has("drop"));
      })
      .build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const r = await runner.execute(name, { x: 1, drop: true });
    expect(r.finalContext.toObject()).toEqual({ x: 2, y: 1, seenX: 2, seenDrop: false });
  });

  it("a task that replaces an object really removes its fields downstream", async () => {
    const name = unique("replace");
    const wf = new WorkflowBuilder(name)
      .task("a", (ctx) => ctx.set("obj", { x: 1, y: 2 }))
      .task("b", { dependencies: ["a"] }, (ctx) => ctx.set("obj", { x: 1 }))
      .task("c", { dependencies: ["b"] }, (ctx) => ctx.set("seen", ctx.get("obj")!))
      .task("d", { dependencies: ["a", "c"] }, (ctx) => ctx.set("seenD", ctx.get("obj")!))
      .build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const r = await runner.execute(name);
    expect(r.finalContext.get("seen")).toEqual({ x: 1 });
    expect(r.finalContext.get("seenD")).toEqual({ x: 1 }); // a is an ancestor of c: its older obj does not come back
    expect(r.finalContext.get("obj")).toEqual({ x: 1 });
  });

  it("final context merges the leaves of a successful run", async () => {
    const name = unique("leaves");
    const wf = new WorkflowBuilder(name)
      .task("root", (ctx) => ctx.set("root", 1))
      .task("left", { dependencies: ["root"] }, (ctx) => ctx.set("left", 1))
      .task("right", { dependencies: ["root"] }, (ctx) => ctx.set("right", 1))
      .build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const r = await runner.execute(name, { input: 1 });
    expect(r.finalContext.toObject()).toEqual({ input: 1, root: 1, left: 1, right: 1 });
  });

  it("start() returns a handle whose wait() resolves when the execution finishes", async () => {
    const name = unique("handle");
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const wf = new WorkflowBuilder(name)
      .task("wait", async () => gate)
      .build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const started = new Promise((r) => runner.once("taskStarted", r));
    const exec = await runner.start(name);
    await started;
    expect(await exec.status()).toBe("Running");
    const snapshot = await runner.getExecution(exec.id);
    expect(snapshot.taskResults[0]!.status).toBe("Running");
    release();
    const result = await exec.wait();
    expect(result.executionId).toBe(exec.id);
    expect(result.status).toBe("Completed");
    expect(await exec.status()).toBe("Completed");
  });

  it("lists executions newest first with filters and paging", async () => {
    const a = new WorkflowBuilder(unique("la")).task("t", () => undefined).build({ register: false });
    const b = new WorkflowBuilder(unique("lb")).task("t", { retry: { maxAttempts: 1 } }, () => { throw new Error("no"); }).build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [a, b] });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await runner.execute(a.name)).executionId);
    const failed = await runner.execute(b.name);
    expect(failed.status).toBe("Failed");
    const all = await runner.listExecutions();
    expect(all.map((e) => e.executionId)).toEqual([failed.executionId, ...ids.reverse()]);
    expect((await runner.listExecutions({ workflow: a.name })).length).toBe(3);
    expect((await runner.listExecutions({ status: "Failed" })).map((e) => e.executionId)).toEqual([failed.executionId]);
    expect((await runner.listExecutions({ limit: 2, offset: 1 })).map((e) => e.executionId)).toEqual(ids.slice(0, 2));
    await expect(runner.listExecutions({ limit: 0 })).rejects.toThrow(/limit/);
  });

  it("rejects an unknown workflow and an unknown execution id with typed errors", async () => {
    const runner = await openRunner(await freshDatabase(backend));
    await expect(runner.execute("no-such-workflow")).rejects.toBeInstanceOf(WorkflowNotFoundError);
    await expect(runner.getExecution("00000000-0000-0000-0000-000000000000")).rejects.toBeInstanceOf(ExecutionNotFoundError);
  });

  it("finds workflows registered in the default registry after the runner was created", async () => {
    const runner = await openRunner(await freshDatabase(backend));
    const name = unique("late");
    new WorkflowBuilder(name).task("t", (ctx) => ctx.set("ok", 1)).build();
    expect(runner.workflows()).toContain(name);
    expect((await runner.execute(name)).finalContext.get("ok")).toBe(1);
  });

  it("records an event log: started, task completions and the finish, in order", async () => {
    const name = unique("events");
    const wf = new WorkflowBuilder(name)
      .task("a", () => undefined)
      .task("b", { dependencies: ["a"] }, () => undefined)
      .build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const r = await runner.execute(name);
    const types = (await runner.getExecutionEvents(r.executionId)).map((e) => `${e.type}${e.taskId ? `:${e.taskId}` : ""}`);
    expect(types).toEqual(["execution_started", "task_completed:a", "task_ready:b", "task_completed:b", "execution_completed"]);
    expect(await runner.cleanupEvents({ olderThan: new Date(Date.now() + 1000) })).toBe(types.length);
    expect(await runner.getExecutionEvents(r.executionId)).toEqual([]);
  });

  it("cleanupExecutions deletes finished executions with their tasks and events, never running ones", async () => {
    const name = unique("cleanup");
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const wf = new WorkflowBuilder(name)
      .task("t", async (ctx) => {
        if (ctx.get("hold")) await gate;
      })
      .build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const done = await runner.execute(name);
    const started = new Promise((r) => runner.once("taskStarted", r));
    const running = await runner.start(name, { hold: true });
    await started;
    await expect(runner.cleanupExecutions({ olderThan: -1 })).rejects.toThrow(/olderThan/);
    expect(await runner.cleanupExecutions({ olderThan: new Date(Date.now() + 60_000) })).toBe(1);
    await expect(runner.getExecution(done.executionId)).rejects.toBeInstanceOf(ExecutionNotFoundError);
    expect(await runner.getExecutionEvents(done.executionId)).toEqual([]);
    expect((await runner.listExecutions()).map((e) => e.executionId)).toEqual([running.id]);
    release();
    expect((await running.wait()).status).toBe("Completed");
  });
});
