import { describe, expect, it } from "vitest";
import { diffContext, finalContext, taskInput, type ContextDelta } from "../../src/engine/context-flow.js";
import { WorkflowBuilder } from "../../src/index.js";

const noop = () => undefined;
const deltas = (entries: Record<string, Partial<ContextDelta>>) =>
  new Map(Object.entries(entries).map(([k, v]) => [k, { set: v.set ?? {}, removed: v.removed ?? [] }]));

describe("context flow (pure)", () => {
  const diamond = new WorkflowBuilder("cf-diamond")
    .task("setup", noop)
    .task("left", { dependencies: ["setup"] }, noop)
    .task("right", { dependencies: ["setup"] }, noop)
    .task("joinLR", { dependencies: ["left", "right"] }, noop)
    .task("joinRL", { dependencies: ["right", "left"] }, noop)
    .build({ register: false });

  it("diffContext records set, changed and removed top-level keys only", () => {
    expect(diffContext({ a: 1, b: { c: 1 }, gone: true }, { a: 1, b: { c: 2 }, n: null })).toEqual({
      set: { b: { c: 2 }, n: null },
      removed: ["gone"],
    });
  });

  it("concurrent writers apply in declared dependency order: objects merge, scalars go to the later", () => {
    const d = deltas({
      setup: { set: { obj: { base: 1 }, v: 0 } },
      left: { set: { obj: { base: 1, l: 1 }, v: "left" } },
      right: { set: { obj: { base: 1, r: 1 }, v: "right" } },
    });
    expect(taskInput(diamond, "joinLR", {}, d)).toEqual({ obj: { base: 1, l: 1, r: 1 }, v: "right" });
    expect(taskInput(diamond, "joinRL", {}, d)).toEqual({ obj: { base: 1, l: 1, r: 1 }, v: "left" });
  });

  it("a value only inherited never beats a newer write, and removals win along a path", () => {
    const d = deltas({ setup: { set: { x: 5, drop: 1 } }, left: { set: { x: 2 }, removed: ["drop"] }, right: { set: { y: 1 } } });
    expect(taskInput(diamond, "joinRL", { x: 1 }, d)).toEqual({ x: 2, y: 1 });
  });

  it("the final context is the merge over the completed frontier", () => {
    const d = deltas({ setup: { set: { s: 1 } }, left: { set: { l: 1 } }, right: { set: { r: 1 } }, joinLR: { set: { j: 1 } } });
    // joinRL did not complete: right and joinLR are the frontier (left is an ancestor of joinLR)
    expect(finalContext(diamond, { input: true }, d)).toEqual({ input: true, s: 1, l: 1, r: 1, j: 1 });
    expect(finalContext(diamond, { input: true }, new Map())).toEqual({ input: true });
  });
});
