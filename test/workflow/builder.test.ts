import { describe, expect, it } from "vitest";
import { WorkflowValidationError } from "../../src/errors.js";
import { WorkflowBuilder } from "../../src/workflow/builder.js";
import { defaultRegistry, WorkflowRegistry } from "../../src/workflow/registry.js";
import { rules } from "../../src/workflow/rules.js";
import type { TaskFn, TaskOptions } from "../../src/workflow/task.js";

const noop: TaskFn = () => {};

function validationError(fn: () => unknown): WorkflowValidationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WorkflowValidationError);
    return err as WorkflowValidationError;
  }
  throw new Error("expected a WorkflowValidationError, nothing was thrown");
}

/** A builder typed loosely, the way a JavaScript caller (or a cast) would use it. */
type LooseBuilder = {
  task(id: unknown, a: unknown, b?: unknown): LooseBuilder;
  description(text: unknown): LooseBuilder;
  build(options?: { register?: boolean; registry?: WorkflowRegistry }): ReturnType<WorkflowBuilder["build"]>;
};
const loose = (name: unknown): LooseBuilder => new WorkflowBuilder(name as string) as unknown as LooseBuilder;

const build = (b: LooseBuilder) => b.build({ register: false });

describe("WorkflowBuilder.build — valid workflows", () => {
  it("builds the SPEC example and fills in defaults", () => {
    const wf = new WorkflowBuilder("etl")
      .description("Nightly ETL")
      .task("extract", async (ctx) => {
        ctx.set("rows", [1, 2, 3]);
      })
      .task("transform", { dependencies: ["extract"], retry: { maxAttempts: 3, backoff: "exponential" } }, async (ctx) => {
        ctx.set("sum", ctx.get<number[]>("rows")!.reduce((a, b) => a + b, 0));
      })
      .task("load", { dependencies: ["transform"], timeoutMs: 5000 }, noop)
      .build({ register: false });
    expect(wf.name).toBe("etl");
    expect(wf.description).toBe("Nightly ETL");
    expect(wf.tasks.map((t) => t.id)).toEqual(["extract", "transform", "load"]);
    const extract = wf.task("extract")!;
    expect(extract.dependencies).toEqual([]);
    expect(extract.retry).toMatchObject({ maxAttempts: 3, backoff: "exponential", initialDelayMs: 1000 });
    expect(extract.timeoutMs).toBeUndefined();
    expect(extract.triggerRule).toBeUndefined();
    expect(extract.position).toBe(0);
    expect(wf.task("load")).toMatchObject({ dependencies: ["transform"], timeoutMs: 5000, position: 2 });
  });

  it("keeps the description empty when none is given", () => {
    expect(new WorkflowBuilder("w").task("a", noop).build({ register: false }).description).toBe("");
  });

  it("keeps callbacks, the function and a validated trigger rule", () => {
    const onSuccess = () => {};
    const onFailure = () => {};
    const wf = new WorkflowBuilder("w")
      .task("a", noop)
      .task("b", { dependencies: ["a"], onSuccess, onFailure, triggerRules: rules.anyOf(rules.taskFailed("a")) }, noop)
      .build({ register: false });
    const b = wf.task("b")!;
    expect(b.fn).toBe(noop);
    expect(b.onSuccess).toBe(onSuccess);
    expect(b.onFailure).toBe(onFailure);
    expect(b.triggerRule).toEqual({ type: "anyOf", rules: [{ type: "taskFailed", taskId: "a" }] });
  });

  it("is immutable: each call returns a new builder and the receiver is unchanged", () => {
    const base = new WorkflowBuilder("w").task("a", noop);
    const one = base.task("b", { dependencies: ["a"] }, noop).build({ register: false });
    const two = base.task("c", noop).description("d").build({ register: false });
    expect(one.tasks.map((t) => t.id)).toEqual(["a", "b"]);
    expect(two.tasks.map((t) => t.id)).toEqual(["a", "c"]);
    expect(two.description).toBe("d");
    expect(base.build({ register: false }).tasks.map((t) => t.id)).toEqual(["a"]);
  });

  it("accepts names and ids made of letters, digits, _, - and . up to 200 characters", () => {
    const long = "x".repeat(200);
    const wf = new WorkflowBuilder("my-flow_v1.2").task(long, noop).task("A-b_c.9", noop).build({ register: false });
    expect(wf.name).toBe("my-flow_v1.2");
    expect(wf.tasks.map((t) => t.id)).toEqual([long, "A-b_c.9"]);
  });

  it("freezes the definitions", () => {
    const deps: string[] = ["a"];
    const wf = new WorkflowBuilder("w")
      .task("a", noop)
      .task("b", { dependencies: deps as "a"[] }, noop)
      .build({ register: false });
    deps.push("zzz");
    expect(wf.task("b")!.dependencies).toEqual(["a"]);
    expect(Object.isFrozen(wf.tasks)).toBe(true);
    expect(Object.isFrozen(wf.task("b"))).toBe(true);
    expect(Object.isFrozen(wf.task("b")!.dependencies)).toBe(true);
  });
});

describe("WorkflowBuilder.build — registration", () => {
  it("registers in the default registry by default, replacing the same name", () => {
    const first = new WorkflowBuilder("builder-test-default-registry").task("a", noop).build();
    expect(defaultRegistry.get("builder-test-default-registry")).toBe(first);
    const second = new WorkflowBuilder("builder-test-default-registry").task("b", noop).build();
    expect(defaultRegistry.get("builder-test-default-registry")).toBe(second);
    defaultRegistry.remove("builder-test-default-registry");
  });

  it("registers in a given registry, and not at all with register: false", () => {
    const registry = new WorkflowRegistry();
    const wf = new WorkflowBuilder("builder-test-own-registry").task("a", noop).build({ registry });
    expect(registry.get("builder-test-own-registry")).toBe(wf);
    expect(defaultRegistry.has("builder-test-own-registry")).toBe(false);
    new WorkflowBuilder("builder-test-unregistered").task("a", noop).build({ register: false, registry });
    expect(registry.has("builder-test-unregistered")).toBe(false);
    expect(defaultRegistry.has("builder-test-unregistered")).toBe(false);
  });

  it("does not register a workflow that fails validation", () => {
    const registry = new WorkflowRegistry();
    expect(() => loose("builder-test-invalid").task("a", noop).task("a", noop).build({ registry })).toThrow(
      WorkflowValidationError,
    );
    expect(registry.names()).toEqual([]);
  });
});

describe("WorkflowBuilder.build — validation errors", () => {
  it("empty name", () => {
    expect(validationError(() => build(loose("").task("a", noop))).message).toBe(
      'workflow name must be a non-empty string (got "")',
    );
    expect(validationError(() => build(loose(undefined).task("a", noop))).message).toBe(
      "workflow name must be a non-empty string (got undefined)",
    );
  });

  it("invalid name characters or length", () => {
    for (const name of ["has space", "a/b", "a::b", "x".repeat(201)]) {
      expect(validationError(() => build(loose(name).task("a", noop))).message).toBe(
        `workflow name ${JSON.stringify(name)} is invalid: use 1–200 characters among letters, digits, "_", "-" and "."`,
      );
    }
  });

  it("description that is not a string", () => {
    expect(validationError(() => build(loose("w").description(5).task("a", noop))).message).toBe(
      'workflow "w": description must be a string (got 5)',
    );
  });

  it("no tasks", () => {
    expect(validationError(() => new WorkflowBuilder("w").build({ register: false })).message).toBe(
      'workflow "w" has no tasks; add at least one with .task(id, fn)',
    );
  });

  it("invalid task id", () => {
    for (const id of ["", "with space", "a:b", 7, "y".repeat(201)]) {
      expect(validationError(() => build(loose("w").task("ok", noop).task(id, noop))).message).toBe(
        `workflow "w": task id ${typeof id === "string" ? JSON.stringify(id) : String(id)} (task #2) is invalid: use 1–200 characters among letters, digits, "_", "-" and "."`,
      );
    }
  });

  it("duplicate task id", () => {
    const b = loose("w").task("a", noop).task("b", noop).task("a", noop);
    expect(validationError(() => build(b)).message).toBe('workflow "w": task id "a" is declared twice (tasks #1 and #3)');
  });

  it("unknown dependency, named", () => {
    const b = loose("w").task("a", noop).task("b", { dependencies: ["a", "nope"] }, noop);
    expect(validationError(() => build(b)).message).toBe(
      'workflow "w": task "b" depends on "nope", which is not a task of this workflow (tasks: a, b)',
    );
  });

  it("dependency listed twice", () => {
    const b = loose("w").task("a", noop).task("b", { dependencies: ["a", "a"] }, noop);
    expect(validationError(() => build(b)).message).toBe('workflow "w": task "b": dependency "a" is listed twice');
  });

  it("dependencies that are not an array of strings", () => {
    expect(validationError(() => build(loose("w").task("b", { dependencies: "a" }, noop))).message).toBe(
      'workflow "w": task "b": dependencies must be an array of task ids (got "a")',
    );
    expect(validationError(() => build(loose("w").task("b", { dependencies: [1] }, noop))).message).toBe(
      'workflow "w": task "b": dependencies must be task id strings (got 1)',
    );
  });

  it("a cycle names its tasks in order", () => {
    const b = loose("w")
      .task("a", { dependencies: ["b"] }, noop)
      .task("b", { dependencies: ["c"] }, noop)
      .task("c", { dependencies: ["a"] }, noop);
    expect(validationError(() => build(b)).message).toBe(
      'workflow "w" has a dependency cycle: a -> b -> c -> a (read "->" as "depends on")',
    );
  });

  it("a cycle reachable from an acyclic prefix names only the cycle", () => {
    const b = loose("w")
      .task("root", noop)
      .task("x", { dependencies: ["root", "z"] }, noop)
      .task("y", { dependencies: ["x"] }, noop)
      .task("z", { dependencies: ["y"] }, noop);
    expect(validationError(() => build(b)).message).toContain("dependency cycle: x -> z -> y -> x");
  });

  it("a self-dependency is a cycle", () => {
    expect(validationError(() => build(loose("w").task("a", { dependencies: ["a"] }, noop))).message).toContain(
      "dependency cycle: a -> a",
    );
  });

  it("options that are not an object, or have an unknown key", () => {
    expect(validationError(() => build(loose("w").task("a", 5, noop))).message).toBe(
      'workflow "w": task "a": options must be an object (got 5)',
    );
    expect(validationError(() => build(loose("w").task("a", { retries: 3 }, noop))).message).toBe(
      'workflow "w": task "a": unknown option "retries" (accepted: dependencies, retry, timeoutMs, triggerRules, onSuccess, onFailure)',
    );
  });

  it("timeoutMs that is not a positive integer within setTimeout's range", () => {
    for (const timeoutMs of [0, -1, 1.5, "100", Number.NaN, 2_147_483_648]) {
      expect(validationError(() => build(loose("w").task("a", { timeoutMs }, noop))).message).toContain(
        'workflow "w": task "a": timeoutMs must be a positive integer number of milliseconds ≤ 2147483647',
      );
    }
    expect(build(loose("w").task("a", { timeoutMs: 2_147_483_647 }, noop)).task("a")!.timeoutMs).toBe(2_147_483_647);
  });

  it("bad retry policy, named with workflow, task and field", () => {
    expect(validationError(() => build(loose("w").task("a", { retry: { maxAttempts: 0 } }, noop))).message).toBe(
      'workflow "w": task "a": retry.maxAttempts must be an integer ≥ 1 (got 0)',
    );
    expect(validationError(() => build(loose("w").task("a", { retry: { backoff: "weird" } }, noop))).message).toContain(
      'task "a": retry.backoff must be one of "fixed", "linear", "exponential" (got "weird")',
    );
  });

  it("bad trigger rule", () => {
    expect(
      validationError(() => build(loose("w").task("a", noop).task("b", { dependencies: ["a"], triggerRules: { type: "nope" } }, noop)))
        .message,
    ).toContain('workflow "w": task "b": triggerRules: unknown trigger rule type "nope"');
    expect(
      validationError(() => build(loose("w").task("a", noop).task("b", { triggerRules: rules.taskSuccess("a") }, noop))).message,
    ).toContain('workflow "w": task "b": triggerRules: taskSuccess("a") refers to a task that is not a dependency');
  });

  it("task function or callbacks that are not functions", () => {
    expect(validationError(() => build(loose("w").task("a", "not a fn"))).message).toBe(
      'workflow "w": task "a": the task function must be a function (got "not a fn")',
    );
    expect(validationError(() => build(loose("w").task("a", { dependencies: [] }))).message).toBe(
      'workflow "w": task "a": the task function must be a function (got undefined)',
    );
    expect(validationError(() => build(loose("w").task("a", { onSuccess: 1 }, noop))).message).toBe(
      'workflow "w": task "a": onSuccess must be a function (got 1)',
    );
    expect(validationError(() => build(loose("w").task("a", { onFailure: {} }, noop))).message).toBe(
      'workflow "w": task "a": onFailure must be a function (got an object)',
    );
  });

  it("accepts an options object declared separately", () => {
    const options = { retry: { maxAttempts: 1 } } satisfies TaskOptions;
    expect(new WorkflowBuilder("w").task("a", options, noop).build({ register: false }).task("a")!.retry.maxAttempts).toBe(1);
  });
});
