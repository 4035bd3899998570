/**
 * How context flows through a DAG. Each completed task stores only its *delta* — the top-level keys it
 * set or changed and the keys it removed — so that a value a task merely inherited can never overwrite a
 * newer value written elsewhere (the trap of merging whole contexts: input `{x:1}`, `a` sets `x=2`, `b`
 * leaves it alone; merging whole outputs `[a, b]` would bring back `x=1`).
 *
 * A task's input is the execution input, then the deltas of all its completed ancestors in topological
 * order (so along any path the later writer wins), then its direct dependencies' deltas again in their
 * declared order (so SPEC §2.2 holds: for a conflict between dependencies the later-declared one wins;
 * plain objects merge recursively).
 */
import type { JsonObject, JsonValue } from "../types.js";
import { mergeOutputs } from "../workflow/context.js";
import { jsonEqual } from "../workflow/json.js";
import type { Workflow } from "../workflow/workflow.js";

/** What one task changed. */
export interface ContextDelta {
  readonly set: JsonObject;
  readonly removed: readonly string[];
}

/** The keys `output` sets or changes relative to `input`, and the keys it removed. */
export function diffContext(input: JsonObject, output: JsonObject): ContextDelta {
  const set: JsonObject = {};
  for (const key of Object.keys(output)) {
    const after = output[key] as JsonValue;
    if (!Object.hasOwn(input, key) || !jsonEqual(input[key] as JsonValue, after)) set[key] = after;
  }
  const removed = Object.keys(input).filter((k) => !Object.hasOwn(output, k));
  return { set, removed };
}

/** Decodes a stored delta (`{ set, removed }`). */
export function toDelta(stored: JsonObject | undefined): ContextDelta {
  if (!stored) return { set: {}, removed: [] };
  const set = stored.set;
  const removed = stored.removed;
  return {
    set: set && typeof set === "object" && !Array.isArray(set) ? (set as JsonObject) : {},
    removed: Array.isArray(removed) ? removed.map(String) : [],
  };
}

/** Applies deltas to a copy of `base`, in order. */
export function applyDeltas(base: JsonObject, deltas: readonly ContextDelta[]): JsonObject {
  let result = mergeOutputs(base, []);
  for (const d of deltas) {
    for (const key of d.removed) delete result[key];
    result = mergeOutputs(result, [d.set]);
  }
  return result;
}

const ancestorCache = new WeakMap<Workflow, Map<string, readonly string[]>>();

/** All ancestors of a task, in the workflow's topological order (cached per workflow). */
export function ancestorsOf(workflow: Workflow, taskId: string): readonly string[] {
  let byTask = ancestorCache.get(workflow);
  if (!byTask) {
    byTask = new Map();
    const order = workflow.topologicalSort();
    const rank = new Map(order.map((id, i) => [id, i]));
    const sets = new Map<string, Set<string>>();
    for (const id of order) {
      const s = new Set<string>();
      for (const dep of workflow.task(id)?.dependencies ?? []) {
        s.add(dep);
        for (const a of sets.get(dep) ?? []) s.add(a);
      }
      sets.set(id, s);
      byTask.set(id, [...s].sort((a, b) => rank.get(a)! - rank.get(b)!));
    }
    ancestorCache.set(workflow, byTask);
  }
  return byTask.get(taskId) ?? [];
}

/** The input context of `taskId`, given the deltas of the execution's completed tasks. */
export function taskInput(
  workflow: Workflow,
  taskId: string,
  executionInput: JsonObject,
  deltas: ReadonlyMap<string, ContextDelta>,
): JsonObject {
  const deps = workflow.task(taskId)?.dependencies ?? [];
  if (deps.length === 0) return mergeOutputs(executionInput, []);
  const ordered: ContextDelta[] = [];
  for (const id of ancestorsOf(workflow, taskId)) {
    const d = deltas.get(id);
    if (d) ordered.push(d);
  }
  if (deps.length > 1) {
    for (const id of deps) {
      const d = deltas.get(id);
      if (d) ordered.push(d);
    }
  }
  return applyDeltas(executionInput, ordered);
}

/**
 * The final context: as if a sink task depended on every completed task that no completed task depends
 * on (for a successful run, the leaves), in declaration order.
 */
export function finalContext(workflow: Workflow, executionInput: JsonObject, deltas: ReadonlyMap<string, ContextDelta>): JsonObject {
  const ordered: ContextDelta[] = [];
  for (const id of workflow.topologicalSort()) {
    const d = deltas.get(id);
    if (d) ordered.push(d);
  }
  for (const t of workflow.tasks) {
    const d = deltas.get(t.id);
    if (d && !workflow.dependents(t.id).some((x) => deltas.has(x))) ordered.push(d);
  }
  return applyDeltas(executionInput, ordered);
}
