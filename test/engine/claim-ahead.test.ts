/**
 * Claim-ahead end to end (docs/retries-and-timeouts.md#claim-ahead): a runner whose bodies are quick claims
 * more tasks than it runs bodies, runs no more than `maxConcurrentTasks` bodies at once, and gives a
 * claimed task that could not start within 50 ms back to the queue, where another runner takes it.
 */
import { expect, it } from "vitest";
import { WorkflowBuilder, type DefaultRunner } from "../../src/index.js";
import { forEachBackend } from "../support/backends.js";
import { freshDatabase, openRunner } from "../support/runner.js";

let seq = 0;
const unique = (base: string) => `${base}-${process.pid}-${++seq}`;

/** Resolves once `runner` has emitted `event` `count` times (counting from now). */
function times(runner: DefaultRunner, event: "taskStarted" | "taskReleased" | "taskCompleted", count: number): Promise<void> {
  return new Promise((resolve) => {
    let n = 0;
    runner.on(event, () => {
      if (++n === count) resolve();
    });
  });
}

forEachBackend((backend) => {
  it("claims ahead once bodies are quick, runs at most C bodies, and gives back what did not start within 50 ms to another runner", async () => {
    const quick = new WorkflowBuilder(unique("quick")).task("q", (ctx) => ctx.set("q", 1)).build({ register: false });
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let now = 0;
    let peak = 0;
    const ranBy: string[] = [];
    let b = new WorkflowBuilder(unique("fan")) as WorkflowBuilder<string>;
    for (let i = 0; i < 8; i++) {
      b = b.task(`t${i}`, async (ctx, h) => {
        now++;
        peak = Math.max(peak, now);
        ranBy.push(`${h.taskId}`);
        // The first two bodies (on the first runner) wait for the gate; the others end at once.
        if (ctx.get("hold") === true && ranBy.length <= 2) await gate;
        now--;
      });
    }
    const fan = b.build({ register: false });
    const db = await freshDatabase(backend);
    const first = await openRunner(db, { workflows: [quick, fan], maxConcurrentTasks: 2, claimAhead: 6 });
    // One quick body sets the pace: 2 permits × 5 ms ÷ (well under 1 ms) → the full claim-ahead of 6.
    expect((await first.execute(quick.name)).status).toBe("Completed");

    const started = times(first, "taskStarted", 2);
    const released = times(first, "taskReleased", 6);
    const reasons: string[] = [];
    first.on("taskReleased", (e) => reasons.push(e.reason));
    // At start the runner claims every root it has a slot for: 2 run, 6 wait for a body that does not end.
    const exec = await first.start(fan.name, { hold: true });
    await started;
    await released;
    expect(peak).toBe(2);
    expect(reasons).toEqual(Array(6).fill("not started within 50 ms of its claim"));
    // They are back in the queue as if never claimed: no attempt used, no start time.
    const back = (await first.getExecution(exec.id)).taskResults.filter((t) => t.status === "Ready");
    expect(back.map((t) => [t.attempts, t.startTime])).toEqual(Array(6).fill([0, undefined]));

    // The released tasks are back in the queue: a second runner runs them while the first still holds two.
    const second = await openRunner(db, { workflows: [quick, fan], maxConcurrentTasks: 4 });
    await times(second, "taskCompleted", 6);
    expect(ranBy).toHaveLength(8);
    open();
    const result = await exec.wait();
    expect(result.status).toBe("Completed");
    // Given back as never claimed: every task ran one attempt.
    expect(result.taskResults.map((t) => t.attempts)).toEqual(Array(8).fill(1));
    const events = await first.getExecutionEvents(exec.id);
    expect(events.filter((e) => e.type === "task_released").map((e) => e.runnerId)).toEqual(Array(6).fill(first.runnerId));
    expect(events.filter((e) => e.type === "task_recovered")).toEqual([]);
  });

  it("with quick bodies and claim-ahead, every execution completes and no more than C bodies ever run at once", async () => {
    let now = 0;
    let peak = 0;
    let b = new WorkflowBuilder(unique("wide")) as WorkflowBuilder<string>;
    for (let i = 0; i < 6; i++) {
      b = b.task(`t${i}`, async (ctx) => {
        now++;
        peak = Math.max(peak, now);
        await new Promise<void>((r) => setImmediate(r));
        now--;
        ctx.set(`t${i}`, i);
      });
    }
    const wide = b.task("sum", { dependencies: ["t0", "t1", "t2", "t3", "t4", "t5"] }, (ctx) => ctx.set("done", true)).build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wide], maxConcurrentTasks: 3, claimAhead: 9 });
    const results = await Promise.all(Array.from({ length: 40 }, () => runner.execute(wide.name)));
    expect(results.every((r) => r.status === "Completed" && r.finalContext.get("done") === true)).toBe(true);
    expect(results.every((r) => r.taskResults.every((t) => t.attempts === 1))).toBe(true);
    expect(peak).toBe(3);
  });

  it("a runner alone picks its released tasks up again when a body ends, without waiting for the backstop poll", async () => {
    const quick = new WorkflowBuilder(unique("quickr")).task("q", (ctx) => ctx.set("q", 1)).build({ register: false });
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let b = new WorkflowBuilder(unique("fanr")) as WorkflowBuilder<string>;
    b = b.task("hold", async () => void (await gate));
    for (let i = 0; i < 3; i++) b = b.task(`t${i}`, (ctx) => ctx.set(`t${i}`, i));
    const fan = b.build({ register: false });
    // A backstop poll of a minute: only the runner's own wake-up can bring the released tasks back in time.
    const runner = await openRunner(await freshDatabase(backend), { workflows: [quick, fan], maxConcurrentTasks: 1, claimAhead: 3, pollIntervalMs: 60_000 });
    expect((await runner.execute(quick.name)).status).toBe("Completed");
    const released = times(runner, "taskReleased", 3);
    const exec = await runner.start(fan.name);
    await released;
    open();
    const result = await exec.wait({ timeoutMs: 10_000 });
    expect(result.status).toBe("Completed");
    expect(result.taskResults.map((t) => t.attempts)).toEqual([1, 1, 1, 1]);
  });

  it("a cancelled execution's task that was claimed ahead never starts its body", async () => {
    const quick = new WorkflowBuilder(unique("quickc")).task("q", (ctx) => ctx.set("q", 1)).build({ register: false });
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const blocker = new WorkflowBuilder(unique("block")).task("b", async () => void (await gate)).build({ register: false });
    let victimRan = 0;
    const victim = new WorkflowBuilder(unique("victim")).task("v", () => void victimRan++).build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [quick, blocker, victim], maxConcurrentTasks: 1, claimAhead: 3 });
    expect((await runner.execute(quick.name)).status).toBe("Completed");
    const started = times(runner, "taskStarted", 1);
    const x = await runner.start(blocker.name);
    await started;
    // Its one task is claimed at start (a slot ahead is free) and waits for the blocked body's permit.
    const y = await runner.start(victim.name);
    const victimFailed = new Promise<void>((r) => runner.on("taskFailed", (e) => e.executionId === y.id && r()));
    expect(await runner.cancel(y.id)).toBe(true);
    open();
    expect((await x.wait()).status).toBe("Completed");
    const result = await y.wait();
    expect(result.status).toBe("Cancelled");
    // The execution is Cancelled at once; the claimed task's attempt ends (unstarted) when a permit reaches it,
    // and is recorded in its own execution's write lane, maybe after x's outcome: wait for it.
    let task = result.taskResults[0]!;
    if (task.status === "Running") {
      await victimFailed;
      task = (await runner.getExecution(y.id)).taskResults[0]!;
    }
    expect(victimRan).toBe(0);
    expect(task.status === "Failed" || task.status === "Skipped").toBe(true);
  });

  it("claimAhead 0 claims only for free slots: a blocked runner holds no more claims than bodies", async () => {
    const quick = new WorkflowBuilder(unique("quick0")).task("q", (ctx) => ctx.set("q", 1)).build({ register: false });
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let b = new WorkflowBuilder(unique("fan0")) as WorkflowBuilder<string>;
    for (let i = 0; i < 4; i++) b = b.task(`t${i}`, async () => void (await gate));
    const fan = b.build({ register: false });
    const db = await freshDatabase(backend);
    const runner = await openRunner(db, { workflows: [quick, fan], maxConcurrentTasks: 1, claimAhead: 0 });
    expect((await runner.execute(quick.name)).status).toBe("Completed");
    const started = times(runner, "taskStarted", 1);
    const exec = await runner.start(fan.name);
    await started;
    const snap = await runner.getExecution(exec.id);
    expect(snap.taskResults.filter((t) => t.status === "Running")).toHaveLength(1);
    expect(snap.taskResults.filter((t) => t.status === "Ready")).toHaveLength(3);
    open();
    expect((await exec.wait()).status).toBe("Completed");
  });
});
