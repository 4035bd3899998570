import { describe, expect, it } from "vitest";
import { WorkflowValidationError } from "../../src/errors.js";
import { WorkflowBuilder } from "../../src/workflow/builder.js";
import { findCycle, topologicalOrder } from "../../src/workflow/graph.js";
import { rules } from "../../src/workflow/rules.js";
import type { TaskDefinition, TaskFn } from "../../src/workflow/task.js";
import { Workflow } from "../../src/workflow/workflow.js";
import { DEFAULT_RETRY_POLICY } from "../../src/workflow/retry.js";

const noop: TaskFn = () => {};

/** Builds with a loose type so tests can declare dependencies in any order, like a JavaScript caller. */
function graph(name: string, spec: [string, string[]][]): Workflow {
  let b = new WorkflowBuilder(name) as unknown as { task(id: string, o: object, f: TaskFn): typeof b; build(o: object): Workflow };
  for (const [id, deps] of spec) b = b.task(id, { dependencies: deps }, noop);
  return b.build({ register: false });
}

describe("Workflow graph queries", () => {
  const diamond = graph("diamond", [
    ["start", []],
    ["left", ["start"]],
    ["right", ["start"]],
    ["end", ["left", "right"]],
  ]);

  it("topologicalSort of a diamond follows declaration order among ready tasks", () => {
    expect(diamond.topologicalSort()).toEqual(["start", "left", "right", "end"]);
  });

  it("executionLevels groups parallel tasks", () => {
    expect(diamond.executionLevels()).toEqual([["start"], ["left", "right"], ["end"]]);
  });

  it("roots, leaves and dependents", () => {
    expect(diamond.roots()).toEqual(["start"]);
    expect(diamond.leaves()).toEqual(["end"]);
    expect(diamond.dependents("start")).toEqual(["left", "right"]);
    expect(diamond.dependents("end")).toEqual([]);
    expect(diamond.dependents("unknown")).toEqual([]);
    expect(diamond.task("left")?.dependencies).toEqual(["start"]);
    expect(diamond.task("unknown")).toBeUndefined();
  });

  it("handles tasks declared after their dependents (JavaScript callers)", () => {
    const wf = graph("forward", [
      ["c", ["b"]],
      ["b", ["a"]],
      ["a", []],
      ["d", []],
    ]);
    expect(wf.topologicalSort()).toEqual(["a", "b", "c", "d"]);
    expect(wf.executionLevels()).toEqual([["a", "d"], ["b"], ["c"]]);
    expect(wf.roots()).toEqual(["a", "d"]);
    expect(wf.leaves()).toEqual(["c", "d"]);
  });

  it("levels use the deepest dependency and list ids in declaration order", () => {
    const wf = graph("levels", [
      ["r1", []],
      ["r2", []],
      ["x", ["r1"]],
      ["y", ["x", "r2"]],
      ["z", ["r2"]],
      ["w", ["y", "z"]],
    ]);
    expect(wf.executionLevels()).toEqual([["r1", "r2"], ["x", "z"], ["y"], ["w"]]);
    expect(wf.topologicalSort()).toEqual(["r1", "r2", "x", "y", "z", "w"]);
    expect(wf.roots()).toEqual(["r1", "r2"]);
    expect(wf.leaves()).toEqual(["w"]);
  });

  it("every task comes after its dependencies in topologicalSort", () => {
    const wf = graph("mixed", [
      ["e", ["b", "d"]],
      ["a", []],
      ["d", ["c"]],
      ["b", ["a"]],
      ["c", ["a"]],
    ]);
    const order = wf.topologicalSort();
    expect(order).toHaveLength(5);
    for (const t of wf.tasks) for (const dep of t.dependencies) expect(order.indexOf(dep)).toBeLessThan(order.indexOf(t.id));
  });

  it("returns copies that callers may change", () => {
    const order = diamond.topologicalSort();
    order.push("x");
    diamond.executionLevels()[0]?.push("x");
    expect(diamond.topologicalSort()).toEqual(["start", "left", "right", "end"]);
    expect(diamond.executionLevels()[0]).toEqual(["start"]);
  });

  it("handles a 20000-task chain without overflowing the stack", () => {
    const spec: [string, string[]][] = [["t0", []]];
    for (let i = 1; i < 20_000; i++) spec.push([`t${i}`, [`t${i - 1}`]]);
    const wf = graph("chain", spec);
    expect(wf.topologicalSort()).toHaveLength(20_000);
    expect(wf.executionLevels()).toHaveLength(20_000);
    expect(wf.leaves()).toEqual(["t19999"]);
    const cyclic = spec.map(([id, deps]) => ({ id, dependencies: id === "t0" ? ["t19999"] : deps }));
    expect(findCycle(cyclic)).toHaveLength(20_001);
    expect(topologicalOrder(cyclic)).toBeUndefined();
  });

  it("the @internal constructor still rejects a cycle", () => {
    const def = (id: string, dependencies: string[], position: number): TaskDefinition => ({
      id,
      dependencies,
      retry: DEFAULT_RETRY_POLICY,
      timeoutMs: undefined,
      triggerRule: undefined,
      fn: noop,
      position,
    });
    expect(() => new Workflow({ name: "w", description: "", tasks: [def("a", ["b"], 0), def("b", ["a"], 1)] })).toThrow(
      new WorkflowValidationError('workflow "w" has a dependency cycle: a -> b -> a'),
    );
  });
});

describe("Workflow version", () => {
  const base = () =>
    new WorkflowBuilder("versioned")
      .description("d")
      .task("a", async (ctx) => {
        ctx.set("x", 1);
      })
      .task(
        "b",
        {
          dependencies: ["a"],
          retry: { maxAttempts: 2, retryOn: ["busy"] },
          timeoutMs: 1000,
          triggerRules: rules.taskSuccess("a"),
          onSuccess: () => {},
        },
        async (ctx) => {
          ctx.set("y", 2);
        },
      );

  it("is 16 hex characters and identical for identical definitions", () => {
    const v1 = base().build({ register: false }).version;
    const v2 = base().build({ register: false }).version;
    expect(v1).toMatch(/^[0-9a-f]{16}$/);
    expect(v2).toBe(v1);
  });

  it("ignores option key order and defaults written out explicitly", () => {
    const v1 = new WorkflowBuilder("w").task("a", { retry: { maxAttempts: 2, jitter: false } }, noop).build({ register: false }).version;
    const v2 = new WorkflowBuilder("w")
      .task("a", { retry: { jitter: false, maxAttempts: 2, backoff: "exponential" } }, noop)
      .build({ register: false }).version;
    expect(v2).toBe(v1);
  });

  it("changes with every part of the definition", () => {
    const reference = base().build({ register: false }).version;
    const variants: Record<string, () => WorkflowBuilder<string>> = {
      name: () => new WorkflowBuilder("versioned2").description("d").task("a", noop),
      description: () => base().description("other"),
      "extra task": () => base().task("c", noop),
      "task id": () =>
        new WorkflowBuilder("versioned")
          .description("d")
          .task("a2", async (ctx) => {
            ctx.set("x", 1);
          }),
      "task function source": () =>
        new WorkflowBuilder("versioned")
          .description("d")
          .task("a", async (ctx) => {
            ctx.set("x", 2);
          })
          .task(
            "b",
            {
              dependencies: ["a"],
              retry: { maxAttempts: 2, retryOn: ["busy"] },
              timeoutMs: 1000,
              triggerRules: rules.taskSuccess("a"),
              onSuccess: () => {},
            },
            async (ctx) => {
              ctx.set("y", 2);
            },
          ),
    };
    const versions = new Set([reference]);
    for (const [label, make] of Object.entries(variants)) {
      const v = make().build({ register: false }).version;
      expect(versions.has(v), label).toBe(false);
      versions.add(v);
    }
  });

  it("changes with dependencies, their order, options, rules and callbacks", () => {
    const mk = (opts: object, fn: TaskFn = noop) =>
      (new WorkflowBuilder("opts").task("a", noop).task("b", noop) as unknown as {
        task(id: string, o: object, f: TaskFn): { build(o: object): Workflow };
      })
        .task("c", opts, fn)
        .build({ register: false }).version;
    const cases: Record<string, object> = {
      none: {},
      "deps a": { dependencies: ["a"] },
      "deps a,b": { dependencies: ["a", "b"] },
      "deps b,a": { dependencies: ["b", "a"] },
      maxAttempts: { retry: { maxAttempts: 5 } },
      backoff: { retry: { backoff: "linear" } },
      initialDelayMs: { retry: { initialDelayMs: 10 } },
      maxDelayMs: { retry: { maxDelayMs: 70_000 } },
      multiplier: { retry: { multiplier: 3 } },
      jitter: { retry: { jitter: false } },
      "retryOn never": { retry: { retryOn: "never" } },
      "retryOn patterns": { retry: { retryOn: ["x"] } },
      "retryOn fn 1": { retry: { retryOn: () => true } },
      "retryOn fn 2": { retry: { retryOn: () => false } },
      timeoutMs: { timeoutMs: 10 },
      "rule always": { triggerRules: rules.always() },
      "rule ctx": { triggerRules: rules.contextValue("k", "exists") },
      "rule ctx value": { triggerRules: rules.contextValue("k", "equals", 1) },
      "rule ctx value 2": { triggerRules: rules.contextValue("k", "equals", 2) },
      onSuccess: { onSuccess: () => {} },
      "onSuccess other": { onSuccess: () => 1 },
      onFailure: { onFailure: () => {} },
    };
    const seen = new Map<string, string>();
    for (const [label, opts] of Object.entries(cases)) {
      const v = mk(opts);
      expect(seen.get(v), `${label} collides with ${seen.get(v) ?? ""}`).toBeUndefined();
      seen.set(v, label);
    }
    expect(mk({}, () => {})).toBe(mk({}, () => {}));
    expect(mk({}, (ctx) => ctx.set("k", 1))).not.toBe(mk({}, () => {}));
  });

  it("changes with the task declaration order", () => {
    const ab = new WorkflowBuilder("order").task("a", noop).task("b", noop).build({ register: false }).version;
    const ba = new WorkflowBuilder("order").task("b", noop).task("a", noop).build({ register: false }).version;
    expect(ab).not.toBe(ba);
  });
});
