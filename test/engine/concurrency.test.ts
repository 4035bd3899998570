import { expect, it } from "vitest";
import { WorkflowBuilder } from "../../src/index.js";
import { forEachBackend } from "../support/backends.js";
import { freshDatabase, openRunner } from "../support/runner.js";

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
});
