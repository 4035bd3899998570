/**
 * What this runner already knows of its executions' inputs: the execution input it submitted and the
 * terminal states (with outputs) of the tasks whose outcomes it committed or read. A task this runner
 * claims next — a root it just started, or a successor claimed on the local fast path — usually finds
 * everything it reads here and starts without a round trip to the database.
 *
 * Only committed, final facts are kept: an execution's input never changes, and a task that reached
 * Completed, Failed or Skipped never leaves it. A missing fact is simply read from the database, so the
 * cache can drop anything at any time (it keeps the most recent `capacity` executions).
 */
import type { DependencyState, TaskInputs } from "../store/store.js";
import type { JsonObject } from "../types.js";

interface Entry {
  readonly input: JsonObject;
  readonly states: Map<string, DependencyState>;
}

/** Execution inputs and terminal task states, by execution. */
export class InputCache {
  readonly #entries = new Map<string, Entry>();

  constructor(private readonly capacity = 10_000) {}

  /** Number of executions held (for tests). */
  get size(): number {
    return this.#entries.size;
  }

  /** Remembers an execution's input (it was just committed). */
  started(executionId: string, input: JsonObject): void {
    this.#put(executionId, { input, states: new Map() });
  }

  /** Remembers a committed terminal state; ignored for an execution not held. */
  record(executionId: string, state: DependencyState): void {
    this.#entries.get(executionId)?.states.set(state.taskId, state);
  }

  /** Remembers what a read from the database returned. */
  fill(executionId: string, inputs: TaskInputs): void {
    const entry = this.#entries.get(executionId) ?? this.#put(executionId, { input: inputs.input, states: new Map() });
    for (const [taskId, state] of inputs.dependencies) entry.states.set(taskId, state);
  }

  /** Forgets an execution (it finished: nothing of it will be claimed again). */
  forget(executionId: string): void {
    this.#entries.delete(executionId);
  }

  /** The inputs of a task reading `needed` (its ancestors), when all of them are known here. */
  inputsFor(executionId: string, needed: readonly string[]): TaskInputs | undefined {
    const entry = this.#entries.get(executionId);
    if (!entry) return undefined;
    const dependencies = new Map<string, DependencyState>();
    for (const id of needed) {
      const state = entry.states.get(id);
      if (!state) return undefined;
      dependencies.set(id, state);
    }
    return { input: entry.input, dependencies };
  }

  #put(executionId: string, entry: Entry): Entry {
    this.#entries.delete(executionId);
    this.#entries.set(executionId, entry);
    if (this.#entries.size > this.capacity) this.#entries.delete(this.#entries.keys().next().value!);
    return entry;
  }
}
