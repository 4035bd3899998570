import { expect, it } from "vitest";
import { WorkflowBuilder, rules } from "../../src/index.js";
import { forEachBackend } from "../support/backends.js";
import { freshDatabase, openRunner } from "../support/runner.js";

let seq = 0;
const unique = (base: string) => `${base}-${process.pid}-${++seq}`;
const noRetry = { maxAttempts: 1 } as const;
const boom = () => {
  throw new Error("boom");
};

forEachBackend((backend) => {
  it("a failed task fails the execution and skips its dependents with the reason recorded", async () => {
    const name = unique("fail");
    const wf = new WorkflowBuilder(name)
      .task("a", (ctx) => ctx.set("a", 1))
      .task("b", { dependencies: ["a"], retry: noRetry }, boom)
      .task("c", { dependencies: ["b"] }, (ctx) => ctx.set("c", 1))
      .task("d", { dependencies: ["c"] }, (ctx) => ctx.set("d", 1))
      .task("side", { dependencies: ["a"] }, (ctx) => ctx.set("side", 1))
      .build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const r = await runner.execute(name);
    expect(r.status).toBe("Failed");
    expect(r.errorMessage).toContain("b: boom");
    const byId = Object.fromEntries(r.taskResults.map((t) => [t.taskId, t]));
    expect(byId.b!.status).toBe("Failed");
    expect(byId.b!.errorMessage).toBe("boom");
    expect(byId.c!.status).toBe("Skipped");
    expect(byId.c!.skipReason).toBe("upstream failed");
    expect(byId.c!.attempts).toBe(0);
    expect(byId.d!.status).toBe("Skipped");
    expect(byId.d!.skipReason).toBe("upstream skipped");
    expect(byId.side!.status).toBe("Completed");
    // what completed is still in the final context
    expect(r.finalContext.get("side")).toBe(1);
    expect(r.finalContext.has("c")).toBe(false);
  });

  it("a task failure is a result, not a thrown error, and emits taskFailed", async () => {
    const name = unique("result");
    const wf = new WorkflowBuilder(name).task("only", { retry: noRetry }, boom).build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const failed: string[] = [];
    runner.on("taskFailed", (e) => failed.push(`${e.taskId}:${e.error}`));
    const r = await runner.execute(name, { keep: 1 });
    expect(r.status).toBe("Failed");
    expect(failed).toEqual(["only:boom"]);
    expect(r.finalContext.get("keep")).toBe(1);
  });

  it("rules.always() runs after a failed dependency; taskFailed/taskSuccess pick the branch", async () => {
    const name = unique("always");
    const wf = new WorkflowBuilder(name)
      .task("work", { retry: noRetry }, boom)
      .task("cleanup", { dependencies: ["work"], triggerRules: rules.always() }, (ctx) => ctx.set("cleaned", true))
      .task("onError", { dependencies: ["work"], triggerRules: rules.taskFailed("work") }, (ctx) => ctx.set("alerted", true))
      .task("onOk", { dependencies: ["work"], triggerRules: rules.taskSuccess("work") }, (ctx) => ctx.set("celebrated", true))
      .build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const r = await runner.execute(name);
    const status = Object.fromEntries(r.taskResults.map((t) => [t.taskId, t.status]));
    expect(status).toEqual({ work: "Failed", cleanup: "Completed", onError: "Completed", onOk: "Skipped" });
    expect(r.taskResults.find((t) => t.taskId === "onOk")!.skipReason).toBe("trigger rule not satisfied");
    expect(r.status).toBe("Failed");
    expect(r.finalContext.get("alerted")).toBe(true);
  });

  it("contextValue rules and nested combinators decide on the merged input", async () => {
    const name = unique("ctxrule");
    const wf = new WorkflowBuilder(name)
      .task("measure", (ctx) => ctx.set("score", ctx.get<number>("input")! * 2))
      .task(
        "high",
        {
          dependencies: ["measure"],
          triggerRules: rules.allOf(
            rules.contextValue("score", "greaterThan", 10),
            rules.anyOf(rules.contextValue("tags", "contains", "vip"), rules.noneOf(rules.contextValue("blocked", "exists"))),
          ),
        },
        (ctx) => ctx.set("path", "high"),
      )
      .task(
        "low",
        { dependencies: ["measure"], triggerRules: rules.contextValue("score", "lessThan", 11) },
        (ctx) => ctx.set("path", "low"),
      )
      .build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const high = await runner.execute(name, { input: 6, tags: [] });
    expect(high.finalContext.get("path")).toBe("high");
    expect(high.status).toBe("Completed");
    const low = await runner.execute(name, { input: 5 });
    expect(low.finalContext.get("path")).toBe("low");
    const blocked = await runner.execute(name, { input: 6, blocked: true, tags: ["x"] });
    expect(blocked.taskResults.map((t) => t.status)).toEqual(["Completed", "Skipped", "Skipped"]);
    expect(blocked.status).toBe("Completed"); // skipped tasks do not fail a workflow
  });

  it("a skipped task with a custom rule downstream still lets that rule run", async () => {
    const name = unique("skipchain");
    const wf = new WorkflowBuilder(name)
      .task("gate", { triggerRules: rules.contextValue("go", "equals", true) }, (ctx) => ctx.set("gated", 1))
      .task("after", { dependencies: ["gate"], triggerRules: rules.taskSkipped("gate") }, (ctx) => ctx.set("fallback", 1))
      .task("tail", { dependencies: ["after"] }, (ctx) => ctx.set("tail", 1))
      .build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const r = await runner.execute(name, { go: false });
    expect(r.taskResults.map((t) => t.status)).toEqual(["Skipped", "Completed", "Completed"]);
    expect(r.finalContext.get("tail")).toBe(1);
  });

  it("onSuccess and onFailure callbacks receive the task id and context", async () => {
    const name = unique("callbacks");
    const seen: string[] = [];
    let failureSeen!: () => void;
    const failureCalled = new Promise<void>((r) => (failureSeen = r));
    const wf = new WorkflowBuilder(name)
      .task("ok", { onSuccess: (id, ctx) => void seen.push(`success:${id}:${ctx.get("v")}`) }, (ctx) => ctx.set("v", 7))
      .task(
        "bad",
        { dependencies: ["ok"], retry: noRetry, onFailure: (id, err) => {
          seen.push(`failure:${id}:${(err as Error).message}`);
          failureSeen();
        } },
        boom,
      )
      .build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    await runner.execute(name);
    await failureCalled;
    expect(seen).toEqual(["success:ok:7", "failure:bad:boom"]);
  });
});
