/**
 * Compile-time checks of the typed DAG, verified by `tsc --noEmit` (part of the test command): each
 * `@ts-expect-error` must hit a real type error, or tsc fails with "Unused '@ts-expect-error' directive".
 */
import { describe, expect, expectTypeOf, it } from "vitest";
import { WorkflowBuilder } from "../../src/workflow/builder.js";
import type { TaskFn } from "../../src/workflow/task.js";
import type { Workflow } from "../../src/workflow/workflow.js";

const fn: TaskFn = () => {};

// Positive: dependencies on earlier ids compile, without `as const`.
const ok = new WorkflowBuilder("types-ok")
  .task("extract", fn)
  .task("transform", { dependencies: ["extract"] }, fn)
  .task("load", { dependencies: ["transform", "extract"], retry: { backoff: "linear" } }, fn);

expectTypeOf(ok).toEqualTypeOf<WorkflowBuilder<"extract" | "transform" | "load">>();

new WorkflowBuilder("types-typo")
  .task("extract", fn)
  // @ts-expect-error "extarct" is a typo: not an id declared earlier on this builder
  .task("transform", { dependencies: ["extarct"] }, fn);

new WorkflowBuilder("types-later")
  // @ts-expect-error "b" is declared only after "a": dependencies may only point backwards
  .task("a", { dependencies: ["b"] }, fn)
  .task("b", fn);

// @ts-expect-error the first task has nothing to depend on
new WorkflowBuilder("types-first").task("a", { dependencies: ["a"] }, fn);

const other = new WorkflowBuilder("types-other").task("x", fn);
// @ts-expect-error ids of another builder are not visible here
new WorkflowBuilder("types-separate").task("y", fn).task("z", { dependencies: ["x"] }, fn);
void other;

new WorkflowBuilder("types-backoff").task("a", {
  // @ts-expect-error unknown backoff strings are type errors too
  retry: { backoff: "quadratic" },
}, fn);

describe("WorkflowBuilder types", () => {
  it("the positively typed builder builds the declared tasks", () => {
    const wf = ok.build({ register: false });
    expectTypeOf(wf).toEqualTypeOf<Workflow>();
    expect(wf.topologicalSort()).toEqual(["extract", "transform", "load"]);
  });
});
