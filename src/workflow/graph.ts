/**
 * Graph algorithms over a workflow's tasks (nodes in declaration order, edges = dependencies):
 * cycle finding, stable topological order and execution levels. Iterative, so deep chains do not
 * overflow the stack.
 */

/** A node of the dependency graph: its id and the ids it depends on. */
export interface GraphNode {
  /** Node id. */
  readonly id: string;
  /** Ids this node depends on (unknown ids are ignored here; the builder reports them). */
  readonly dependencies: readonly string[];
}

/**
 * Returns one dependency cycle as a list of ids that starts and ends with the same id, following
 * "depends on" edges (`["a", "b", "c", "a"]`: a depends on b, b on c, c on a), or `undefined` if the graph
 * is acyclic. Deterministic: nodes and dependencies are visited in declaration order.
 */
export function findCycle(nodes: readonly GraphNode[]): string[] | undefined {
  const index = new Map<string, number>();
  nodes.forEach((n, i) => index.set(n.id, i));
  const state = new Uint8Array(nodes.length); // 0 = unvisited, 1 = on the current path, 2 = done
  for (let start = 0; start < nodes.length; start++) {
    if (state[start] !== 0) continue;
    const path: number[] = [start];
    const next: number[] = [0];
    state[start] = 1;
    while (path.length > 0) {
      const top = path[path.length - 1] as number;
      const deps = (nodes[top] as GraphNode).dependencies;
      const i = next[next.length - 1] as number;
      if (i < deps.length) {
        next[next.length - 1] = i + 1;
        const d = index.get(deps[i] as string);
        if (d === undefined) continue;
        if (state[d] === 1) {
          const cycle = path.slice(path.indexOf(d)).map((p) => (nodes[p] as GraphNode).id);
          cycle.push((nodes[d] as GraphNode).id);
          return cycle;
        }
        if (state[d] === 0) {
          state[d] = 1;
          path.push(d);
          next.push(0);
        }
      } else {
        state[top] = 2;
        path.pop();
        next.pop();
      }
    }
  }
  return undefined;
}

/** A min-heap of node positions. */
class PositionHeap {
  readonly #items: number[] = [];
  get size(): number {
    return this.#items.length;
  }
  push(value: number): void {
    const a = this.#items;
    a.push(value);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((a[parent] as number) <= value) break;
      a[i] = a[parent] as number;
      i = parent;
    }
    a[i] = value;
  }
  pop(): number {
    const a = this.#items;
    const top = a[0] as number;
    const last = a.pop() as number;
    if (a.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const r = l + 1;
        const c = r < a.length && (a[r] as number) < (a[l] as number) ? r : l;
        if ((a[c] as number) >= last) break;
        a[i] = a[c] as number;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}

/**
 * A topological order (every node after all its dependencies). Stable: whenever several nodes are
 * ready, the one declared first comes first, so a graph declared in dependency order sorts to its
 * declaration order. Returns `undefined` if the graph has a cycle.
 */
export function topologicalOrder(nodes: readonly GraphNode[]): string[] | undefined {
  const index = new Map<string, number>();
  nodes.forEach((n, i) => index.set(n.id, i));
  const pending = new Array<number>(nodes.length).fill(0);
  const dependents: number[][] = nodes.map(() => []);
  nodes.forEach((n, i) => {
    for (const dep of n.dependencies) {
      const d = index.get(dep);
      if (d === undefined) continue;
      pending[i] = (pending[i] as number) + 1;
      (dependents[d] as number[]).push(i);
    }
  });
  const ready = new PositionHeap();
  pending.forEach((count, i) => {
    if (count === 0) ready.push(i);
  });
  const order: string[] = [];
  while (ready.size > 0) {
    const i = ready.pop();
    order.push((nodes[i] as GraphNode).id);
    for (const j of dependents[i] as number[]) {
      const left = (pending[j] as number) - 1;
      pending[j] = left;
      if (left === 0) ready.push(j);
    }
  }
  return order.length === nodes.length ? order : undefined;
}

/**
 * Groups nodes into levels that can run in parallel: level 0 holds the nodes without dependencies, level
 * k the nodes whose deepest dependency is in level k − 1. Each level lists ids in declaration order.
 * `order` must be a topological order of `nodes`.
 */
export function executionLevelsOf(nodes: readonly GraphNode[], order: readonly string[]): string[][] {
  const byId = new Map<string, { node: GraphNode; position: number }>();
  nodes.forEach((node, position) => byId.set(node.id, { node, position }));
  const level = new Map<string, number>();
  const levels: { id: string; position: number }[][] = [];
  for (const id of order) {
    const entry = byId.get(id);
    if (entry === undefined) continue;
    let l = 0;
    for (const dep of entry.node.dependencies) {
      const dl = level.get(dep);
      if (dl !== undefined && dl + 1 > l) l = dl + 1;
    }
    level.set(id, l);
    while (levels.length <= l) levels.push([]);
    (levels[l] as { id: string; position: number }[]).push({ id, position: entry.position });
  }
  return levels.map((group) => group.sort((a, b) => a.position - b.position).map((e) => e.id));
}
