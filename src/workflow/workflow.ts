/**
 * The {@link Workflow}: an immutable, validated, versioned DAG of tasks, made by `WorkflowBuilder.build()`.
 */

import { WorkflowValidationError } from "../errors.js";
import { executionLevelsOf, findCycle, topologicalOrder } from "./graph.js";
import type { TaskDefinition } from "./task.js";
import { computeWorkflowVersion } from "./version.js";

const EMPTY: readonly string[] = Object.freeze([]);

/**
 * A validated workflow definition. Immutable: its task list and every task definition are frozen, and
 * the graph queries are computed once at construction.
 */
export class Workflow {
  /** Workflow name (letters, digits, `_`, `-`, `.`; 1–200 characters). */
  readonly name: string;
  /** Free-text description; `""` when none was given. */
  readonly description: string;
  /** Content hash (16 hex characters) of the whole definition; see `computeWorkflowVersion`. */
  readonly version: string;
  /** The tasks in declaration order. */
  readonly tasks: readonly TaskDefinition[];

  readonly #byId: ReadonlyMap<string, TaskDefinition>;
  readonly #dependents: ReadonlyMap<string, readonly string[]>;
  readonly #order: readonly string[];
  readonly #levels: readonly (readonly string[])[];

  /**
   * Builds a workflow from already-validated parts (unique ids, known dependencies). Use
   * `WorkflowBuilder.build()`, which validates; this constructor only rejects a cycle.
   * @internal
   */
  constructor(init: { readonly name: string; readonly description: string; readonly tasks: readonly TaskDefinition[] }) {
    this.name = init.name;
    this.description = init.description;
    this.tasks = Object.freeze(init.tasks.map((t) => Object.freeze({ ...t, dependencies: Object.freeze([...t.dependencies]) })));
    this.#byId = new Map(this.tasks.map((t) => [t.id, t]));
    const dependents = new Map<string, string[]>(this.tasks.map((t) => [t.id, []]));
    for (const t of this.tasks) for (const dep of t.dependencies) dependents.get(dep)?.push(t.id);
    this.#dependents = new Map([...dependents].map(([id, list]) => [id, Object.freeze(list)]));
    const order = topologicalOrder(this.tasks);
    if (order === undefined) {
      const cycle = findCycle(this.tasks) ?? [];
      throw new WorkflowValidationError(`workflow "${this.name}" has a dependency cycle: ${cycle.join(" -> ")}`);
    }
    this.#order = Object.freeze(order);
    this.#levels = Object.freeze(executionLevelsOf(this.tasks, order).map((l) => Object.freeze(l)));
    this.version = computeWorkflowVersion(this);
  }

  /** The task with this id, or `undefined`. */
  task(id: string): TaskDefinition | undefined {
    return this.#byId.get(id);
  }

  /** Ids of the tasks that list `id` as a dependency, in declaration order (empty for an unknown id). */
  dependents(id: string): readonly string[] {
    return this.#dependents.get(id) ?? EMPTY;
  }

  /** All task ids, every task after its dependencies; ties go to the task declared first. */
  topologicalSort(): string[] {
    return [...this.#order];
  }

  /** Task ids grouped by depth: level 0 = roots, level k = tasks whose deepest dependency is at k − 1. */
  executionLevels(): string[][] {
    return this.#levels.map((l) => [...l]);
  }

  /** Ids of the tasks without dependencies, in declaration order. */
  roots(): string[] {
    return this.tasks.filter((t) => t.dependencies.length === 0).map((t) => t.id);
  }

  /** Ids of the tasks no other task depends on, in declaration order. */
  leaves(): string[] {
    return this.tasks.filter((t) => this.dependents(t.id).length === 0).map((t) => t.id);
  }
}
