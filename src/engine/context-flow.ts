/**
 * How context flows through a DAG. Each completed task stores only its *delta* — the top-level keys it
 * set or changed and the keys it removed — and a task's input is rebuilt from its ancestors' deltas, key
 * by key:
 *
 * - the execution input is the starting point;
 * - for each key, the ancestors that wrote it are the candidates; a candidate that is an ancestor of another
 *   candidate is superseded (along a path the later writer wins — so a value a task merely inherited can
 *   never overwrite a newer one, and a task that replaced an object with a smaller one really removed
 *   those fields);
 * - the remaining, concurrent writers apply in the declared order of the dependencies they are reached
 *   through (SPEC §2.2): the first replaces the value, later ones merge into it — plain objects
 *   recursively, any other conflict won by the later-declared dependency.
 *
 * The final context is the input of a virtual sink depending on the completed tasks that no completed task
 * depends on (for a successful run, the leaves), in declaration order.
 */
import type { JsonObject, JsonValue } from "../types.js";
import { mergeOutputs } from "../workflow/context.js";
import { cloneJson, jsonEqual } from "../workflow/json.js";
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

const ancestorCache = new WeakMap<Workflow, Map<string, { list: readonly string[]; set: ReadonlySet<string> }>>();

function ancestry(workflow: Workflow, taskId: string): { list: readonly string[]; set: ReadonlySet<string> } {
  let byTask = ancestorCache.get(workflow);
  if (!byTask) {
    byTask = new Map();
    const order = workflow.topologicalSort();
    const rank = new Map(order.map((id, i) => [id, i]));
    for (const id of order) {
      const s = new Set<string>();
      for (const dep of workflow.task(id)?.dependencies ?? []) {
        s.add(dep);
        for (const a of byTask.get(dep)?.set ?? []) s.add(a);
      }
      byTask.set(id, { list: [...s].sort((a, b) => rank.get(a)! - rank.get(b)!), set: s });
    }
    ancestorCache.set(workflow, byTask);
  }
  return byTask.get(taskId) ?? { list: [], set: new Set() };
}

/** All ancestors of a task, in the workflow's topological order (cached per workflow). */
export function ancestorsOf(workflow: Workflow, taskId: string): readonly string[] {
  return ancestry(workflow, taskId).list;
}

/**
 * The context seen by something that depends on `deps` (declared order) and whose ancestors are
 * `ancestors` (topological order), given the completed tasks' deltas.
 */
function contextFor(
  workflow: Workflow,
  base: JsonObject,
  deps: readonly string[],
  ancestors: readonly string[],
  deltas: ReadonlyMap<string, ContextDelta>,
): JsonObject {
  const writers = new Map<string, string[]>();
  for (const id of ancestors) {
    const d = deltas.get(id);
    if (!d) continue;
    for (const key of [...Object.keys(d.set), ...d.removed]) {
      const list = writers.get(key);
      if (list) list.push(id);
      else writers.set(key, [id]);
    }
  }
  // Through which dependency (the last-declared one wins) each writer is reached.
  const reach = (w: string) => {
    for (let i = deps.length - 1; i >= 0; i--) if (deps[i] === w || ancestry(workflow, deps[i]!).set.has(w)) return i;
    return -1;
  };
  const result = cloneJson(base);
  for (const [key, candidates] of writers) {
    let live = candidates.filter((w) => !candidates.some((o) => o !== w && ancestry(workflow, o).set.has(w)));
    if (live.length > 1) {
      const topo = new Map(candidates.map((w, i) => [w, i]));
      live = live.map((w) => ({ w, r: reach(w) })).sort((a, b) => a.r - b.r || topo.get(a.w)! - topo.get(b.w)!).map((x) => x.w);
    }
    live.forEach((w, i) => {
      const d = deltas.get(w)!;
      if (!Object.hasOwn(d.set, key)) {
        delete result[key];
      } else if (i === 0 || !Object.hasOwn(result, key)) {
        result[key] = cloneJson(d.set[key] as JsonValue);
      } else {
        Object.assign(result, mergeOutputs({ [key]: result[key] as JsonValue }, [{ [key]: d.set[key] as JsonValue }]));
      }
    });
  }
  return result;
}

/** The input context of `taskId`, given the deltas of the execution's completed tasks. */
export function taskInput(
  workflow: Workflow,
  taskId: string,
  executionInput: JsonObject,
  deltas: ReadonlyMap<string, ContextDelta>,
): JsonObject {
  const deps = workflow.task(taskId)?.dependencies ?? [];
  return contextFor(workflow, executionInput, deps, ancestorsOf(workflow, taskId), deltas);
}

/**
 * The final context: the input of a virtual sink depending on every completed task that no completed task
 * depends on (for a successful run, the leaves), in declaration order.
 */
export function finalContext(workflow: Workflow, executionInput: JsonObject, deltas: ReadonlyMap<string, ContextDelta>): JsonObject {
  const completed = workflow.topologicalSort().filter((id) => deltas.has(id));
  const frontier = workflow.tasks.map((t) => t.id).filter((id) => deltas.has(id) && !workflow.dependents(id).some((x) => deltas.has(x)));
  return contextFor(workflow, executionInput, frontier, completed, deltas);
}
