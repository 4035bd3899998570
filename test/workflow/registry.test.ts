import { describe, expect, it } from "vitest";
import { WorkflowBuilder } from "../../src/workflow/builder.js";
import { defaultRegistry, WorkflowRegistry } from "../../src/workflow/registry.js";

const make = (name: string, task = "a") => new WorkflowBuilder(name).task(task, () => {}).build({ register: false });

describe("WorkflowRegistry", () => {
  it("registers, gets, lists (sorted) and checks names", () => {
    const registry = new WorkflowRegistry();
    const b = make("b");
    const a = make("a");
    registry.register(b);
    registry.register(a);
    expect(registry.get("a")).toBe(a);
    expect(registry.get("b")).toBe(b);
    expect(registry.get("c")).toBeUndefined();
    expect(registry.has("a")).toBe(true);
    expect(registry.has("c")).toBe(false);
    expect(registry.names()).toEqual(["a", "b"]);
  });

  it("re-registering a name replaces the workflow", () => {
    const registry = new WorkflowRegistry();
    const first = make("w", "one");
    const second = make("w", "two");
    registry.register(first);
    registry.register(second);
    expect(registry.get("w")).toBe(second);
    expect(registry.names()).toEqual(["w"]);
  });

  it("remove reports whether a workflow was removed; clear empties it", () => {
    const registry = new WorkflowRegistry();
    registry.register(make("x"));
    registry.register(make("y"));
    expect(registry.remove("x")).toBe(true);
    expect(registry.remove("x")).toBe(false);
    expect(registry.names()).toEqual(["y"]);
    registry.clear();
    expect(registry.names()).toEqual([]);
  });

  it("defaultRegistry is a WorkflowRegistry shared by the process", () => {
    expect(defaultRegistry).toBeInstanceOf(WorkflowRegistry);
  });
});
