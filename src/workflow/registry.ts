/**
 * Workflow registries: name → {@link Workflow} maps. `WorkflowBuilder.build()` registers into
 * {@link defaultRegistry} (process-wide) unless told otherwise.
 */

import type { Workflow } from "./workflow.js";

/** A set of workflows keyed by name. Registering a name again replaces the earlier workflow. */
export class WorkflowRegistry {
  readonly #workflows = new Map<string, Workflow>();

  /** Adds `workflow` under its name, replacing any workflow already registered with that name. */
  register(workflow: Workflow): void {
    this.#workflows.set(workflow.name, workflow);
  }

  /** The workflow registered under `name`, or `undefined`. */
  get(name: string): Workflow | undefined {
    return this.#workflows.get(name);
  }

  /** True if a workflow is registered under `name`. */
  has(name: string): boolean {
    return this.#workflows.has(name);
  }

  /** Registered names, sorted. */
  names(): string[] {
    return [...this.#workflows.keys()].sort();
  }

  /** Removes the workflow registered under `name`; returns whether one was registered. */
  remove(name: string): boolean {
    return this.#workflows.delete(name);
  }

  /** Removes every workflow. */
  clear(): void {
    this.#workflows.clear();
  }
}

/** The process-wide registry that `WorkflowBuilder.build()` registers into by default. */
export const defaultRegistry = new WorkflowRegistry();
