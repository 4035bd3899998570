import { expect, it } from "vitest";
import { WorkflowBuilder, type Context } from "../../src/index.js";
import { forEachBackend } from "../support/backends.js";
import { lockExecutionRow, startHeld } from "../support/held.js";
import { freshDatabase, openRunner } from "../support/runner.js";
import { within } from "../support/wait.js";

let seq = 0;
const unique = (base: string) => `${base}-${process.pid}-${++seq}`;

forEachBackend((backend) => {
  it("never runs more than maxConcurrentTasks task bodies at once, and reaches that limit", async () => {
    const name = unique("slots");
    let now = 0;
    let peak = 0;
    const body = async () => {
      now++;
      peak = Math.max(peak, now);
      await new Promise((r) => setTimeout(r, 15));
      now--;
    };
    let b = new WorkflowBuilder(name) as WorkflowBuilder<string>;
    for (let i = 0; i < 8; i++) b = b.task(`t${i}`, body);
    const wf = b.build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf], maxConcurrentTasks: 3 });
    const results = await Promise.all([runner.execute(name), runner.execute(name), runner.execute(name)]);
    expect(results.every((r) => r.status === "Completed")).toBe(true);
    expect(peak).toBe(3);
  });

  it("slots freed while outcomes are still being written are counted once: after heavy churn, exactly C bodies run at once", async () => {
    // Synchronous bodies end at once, so most outcomes wait for a batch while their slots already run other
    // work. A slot given back twice would let more than C bodies run afterwards; one lost, fewer.
    const churn = unique("churn");
    let b = new WorkflowBuilder(churn) as WorkflowBuilder<string>;
    b = b.task("a", (ctx) => ctx.set("a", 1)).task("b", { dependencies: ["a"] }, (ctx) => ctx.set("b", 1));
    b = b.task("c", { dependencies: ["a"] }, (ctx) => ctx.set("c", 1)).task("d", { dependencies: ["b", "c"] }, (ctx) => ctx.set("d", 1));
    const name = unique("probe");
    let now = 0;
    let peak = 0;
    let probe = new WorkflowBuilder(name) as WorkflowBuilder<string>;
    for (let i = 0; i < 8; i++) {
      probe = probe.task(`t${i}`, async () => {
        now++;
        peak = Math.max(peak, now);
        await new Promise((r) => setTimeout(r, 15));
        now--;
      });
    }
    const runner = await openRunner(await freshDatabase(backend), { workflows: [b.build({ register: false }), probe.build({ register: false })], maxConcurrentTasks: 3 });
    const churned = await Promise.all(Array.from({ length: 60 }, () => runner.execute(churn)));
    expect(churned.every((r) => r.status === "Completed" && r.finalContext.get("d") === 1)).toBe(true);
    const results = await Promise.all([runner.execute(name), runner.execute(name)]);
    expect(results.every((r) => r.status === "Completed")).toBe(true);
    expect(peak).toBe(3);
  });

  it("deferUntil frees the slot while waiting", async () => {
    const name = unique("defer");
    const other = unique("other");
    let flag = false;
    const wf = new WorkflowBuilder(name)
      .task("waiter", async (ctx, h) => {
        await h.deferUntil(() => flag, { pollIntervalMs: 5 });
        ctx.set("waited", true);
      })
      .build({ register: false });
    const setter = new WorkflowBuilder(other).task("set", () => void (flag = true)).build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf, setter], maxConcurrentTasks: 1 });
    const started = new Promise((r) => runner.once("taskStarted", r));
    const waiting = await runner.start(name);
    await started;
    // With one slot, this can only run if the deferred task gave its slot back.
    expect((await runner.execute(other)).status).toBe("Completed");
    const r = await waiting.wait();
    expect(r.status).toBe("Completed");
    expect(r.finalContext.get("waited")).toBe(true);
  });

  it("two runners in one process on one database share the work without stalling each other", async () => {
    const name = unique("pair");
    const ran = new Map<string, number>();
    const wf = new WorkflowBuilder(name)
      .task("a", async (ctx, h) => {
        ran.set(`${h.executionId}/a`, (ran.get(`${h.executionId}/a`) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 2));
        ctx.set("a", 1);
      })
      .task("b", { dependencies: ["a"] }, (ctx, h) => {
        ran.set(`${h.executionId}/b`, (ran.get(`${h.executionId}/b`) ?? 0) + 1);
        ctx.set("b", 1);
      })
      .build({ register: false });
    const db = await freshDatabase(backend);
    const one = await openRunner(db, { workflows: [wf], maxConcurrentTasks: 2 });
    const two = await openRunner(db, { workflows: [wf], maxConcurrentTasks: 2 });
    const byRunner = new Map<string, number>();
    for (const r of [one, two]) r.on("taskStarted", () => byRunner.set(r.runnerId, (byRunner.get(r.runnerId) ?? 0) + 1));
    const execs = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? one : two).start(name)));
    const results = await Promise.all(execs.map((e) => e.wait({ timeoutMs: 20_000 })));
    expect(results.every((r) => r.status === "Completed")).toBe(true);
    expect([...ran.values()].every((n) => n === 1)).toBe(true);
    expect(ran.size).toBe(40);
    expect(byRunner.get(one.runnerId)).toBeGreaterThan(0);
    expect(byRunner.get(two.runnerId)).toBeGreaterThan(0);
  });

  it("two runners sharing fan-in executions whose branches fail on either: every execution ends right, no error", async () => {
    const name = unique("fan-in");
    const fails = (i: number) => i % 3 === 0;
    const branch = (id: string) => async (ctx: Context) => {
      await new Promise((r) => setTimeout(r, 1 + (ctx.get<number>("i")! % 4)));
      if (id === "b2" && fails(ctx.get<number>("i")!)) throw new Error(`b2 fails for ${ctx.get("i")}`);
      ctx.set(id, 1);
    };
    const wf = new WorkflowBuilder(name)
      .task("root", (ctx) => ctx.set("root", 1))
      .task("b1", { dependencies: ["root"] }, branch("b1"))
      .task("b2", { dependencies: ["root"], retry: { maxAttempts: 1 } }, branch("b2"))
      .task("b3", { dependencies: ["root"] }, branch("b3"))
      .task("merge", { dependencies: ["b1", "b2", "b3"] }, (ctx) => ctx.set("merged", 1))
      .build({ register: false });
    const db = await freshDatabase(backend);
    // claimAhead 9 (3 per permit): with a deeper claim-ahead the runner that finishes a root keeps all three
    // branches more often, and the branches of an execution must run on both runners for this test to mean anything.
    const options = { workflows: [wf], maxConcurrentTasks: 3, claimAhead: 9 };
    const runners = [await openRunner(db, options), await openRunner(db, options)];
    const errors: unknown[] = [];
    for (const r of runners) r.on("runnerError", (e) => errors.push(e.error));
    const byRunner = new Map<string, Set<string>>();
    for (const r of runners) r.on("taskStarted", (e) => byRunner.set(e.executionId, (byRunner.get(e.executionId) ?? new Set()).add(r.runnerId)));
    const execs = await Promise.all(Array.from({ length: 30 }, (_, i) => runners[i % 2]!.start(name, { i })));
    const results = await Promise.all(execs.map((e) => e.wait({ timeoutMs: 30_000 })));
    results.forEach((r, i) => {
      const byId = Object.fromEntries(r.taskResults.map((t) => [t.taskId, t]));
      if (fails(i)) {
        expect([r.status, byId.b2!.status, byId.merge!.status, byId.merge!.skipReason]).toEqual(["Failed", "Failed", "Skipped", "upstream failed"]);
      } else {
        expect([r.status, r.finalContext.get("merged")]).toEqual(["Completed", 1]);
      }
    });
    // The branches of some executions ran on both runners: each recorded its own without knowing the other's.
    expect([...byRunner.values()].some((set) => set.size === 2)).toBe(true);
    expect(errors).toEqual([]);
  });

  it("a submit-only runner (maxConcurrentTasks 0) starts executions that another runner runs", async () => {
    const name = unique("submit-only");
    const wf = new WorkflowBuilder(name).task("t", (ctx) => ctx.set("ok", 1)).build({ register: false });
    const db = await freshDatabase(backend);
    const api = await openRunner(db, { workflows: [wf], maxConcurrentTasks: 0 });
    const worker = await openRunner(db, { workflows: [wf], maxConcurrentTasks: 2 });
    const ranOn: string[] = [];
    api.on("taskStarted", () => ranOn.push("api"));
    worker.on("taskStarted", () => ranOn.push("worker"));
    const result = await api.execute(name);
    expect(result.status).toBe("Completed");
    expect(ranOn).toEqual(["worker"]);
  });

  if (backend.name === "postgres") {
    // SQLite has one writer: a write that waits holds up every other write (the claim included), so this
    // overlap exists on PostgreSQL only.
    it("a body's slot runs other work while its outcome waits to be written (a row lock holds the write)", async () => {
      const { db, runner, x, open, quick: other } = await startHeld(backend, "b", { maxConcurrentTasks: 1 });
      const bStarted = new Promise<void>((r) => runner.on("taskStarted", (e) => e.taskId === "b" && r()));
      const y = await runner.start(other); // queued: the only slot is a's
      const lock = await lockExecutionRow(db, x.id);
      try {
        open(); // a's body ends; its outcome updates x's row and waits for the lock
        const waited = await within(bStarted, "b started", "b did not start within 10 s");
        expect(waited).toBe("b started");
        expect(await runner.status(x.id)).toBe("Running"); // a's outcome is still unwritten
      } finally {
        await lock.release();
      }
      expect((await x.wait()).status).toBe("Completed");
      expect((await y.wait()).finalContext.get("b")).toBe(1);
    });

    // One write lane: with two, the outcomes of the other lane's executions would still be recorded while
    // the lock holds this one (write-lanes.test.ts).
    it("runs ahead of its unrecorded outcomes by one full batch at most (256), then waits for them", async () => {
      const { db, runner, x, open, quick } = await startHeld(backend, "q", { maxConcurrentTasks: 1, writeLanes: 1 });
      let ran = 0;
      let reached!: () => void;
      const atBound = new Promise<void>((r) => (reached = r));
      runner.on("taskStarted", (e) => e.taskId === "q" && ++ran === 256 && reached());
      const queued = await Promise.all(Array.from({ length: 300 }, () => runner.start(quick)));
      const lock = await lockExecutionRow(db, x.id);
      try {
        open(); // a's outcome waits for the lock, and every outcome after it waits for a's batch
        await atBound;
        // Nothing signals that the runner stopped claiming: watch for a moment that no 257th body starts.
        await new Promise((r) => setTimeout(r, 300));
        expect(ran).toBe(256);
      } finally {
        await lock.release();
      }
      expect((await x.wait()).status).toBe("Completed");
      const results = await Promise.all(queued.map((e) => e.wait()));
      expect(results.every((r) => r.status === "Completed")).toBe(true);
      expect(ran).toBe(300);
    });
  }
});
