/**
 * {@link WorkflowBuilder}: the typed, immutable builder that declares tasks and validates them into a
 * {@link Workflow}.
 */

import { WorkflowValidationError } from "../errors.js";
import { findCycle } from "./graph.js";
import { isPlainObject } from "./json.js";
import { defaultRegistry, type WorkflowRegistry } from "./registry.js";
import { resolveRetryPolicy, type ResolvedRetryPolicy, type RetryPolicy } from "./retry.js";
import { validateRule, type TriggerRule } from "./rules.js";
import type { TaskDefinition, TaskFn, TaskOptions } from "./task.js";
import { Workflow } from "./workflow.js";

/** Workflow names and task ids: 1–200 of letters, digits, `_`, `-`, `.`. */
export const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,200}$/;

/** The option names `task(id, options, fn)` accepts. */
export const TASK_OPTION_KEYS = ["dependencies", "retry", "timeoutMs", "triggerRules", "onSuccess", "onFailure"] as const;

/** Largest `timeoutMs` (the largest delay `setTimeout` honours; larger values would fire at once). */
export const MAX_TIMEOUT_MS = 2_147_483_647;

/** Options of {@link WorkflowBuilder.build}. */
export interface BuildOptions {
  /** Register the built workflow in `registry`. Default `true`. */
  register?: boolean;
  /** Where to register. Default {@link defaultRegistry} (process-wide). */
  registry?: WorkflowRegistry;
}

/** One `task(...)` call, as given (validated by `build()`), linked to the previous one. */
interface TaskEntry {
  readonly id: unknown;
  readonly options: unknown;
  readonly fn: unknown;
  readonly prev: TaskEntry | undefined;
}

/** A builder's whole state; shared (never mutated) between a builder and the ones derived from it. */
interface BuilderState {
  readonly name: unknown;
  readonly description: unknown;
  readonly last: TaskEntry | undefined;
}

function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return "an array";
  if (value === null || typeof value !== "object") return String(value);
  return "an object";
}

/**
 * Declares a workflow: `new WorkflowBuilder("etl").description("…").task("a", fn).task("b", { dependencies:
 * ["a"] }, fn).build()`.
 *
 * **Immutable:** every call returns a new builder and leaves the receiver unchanged, so chain the calls
 * (or keep the returned value). A common prefix can be shared by several workflows.
 *
 * **Typed DAG:** `Ids` is the union of the task ids declared so far, and `dependencies` only accepts
 * those, so a dependency on an undeclared (or later) task, or a typo, is a compile error. `build()` checks
 * everything again at run time for JavaScript callers.
 */
export class WorkflowBuilder<Ids extends string = never> {
  #state: BuilderState;

  /** Starts a workflow named `name` (validated by `build()`: 1–200 letters, digits, `_`, `-`, `.`). */
  constructor(name: string) {
    this.#state = { name, description: "", last: undefined };
  }

  static #from<T extends string>(state: BuilderState): WorkflowBuilder<T> {
    const builder = new WorkflowBuilder<T>(state.name as string);
    builder.#state = state;
    return builder;
  }

  /** Returns a builder with this description (default `""`). */
  description(text: string): WorkflowBuilder<Ids> {
    return WorkflowBuilder.#from<Ids>({ ...this.#state, description: text });
  }

  /** Returns a builder with a root task `id` (no dependencies, default options) added. */
  task<const Id extends string>(id: Id, fn: TaskFn): WorkflowBuilder<Ids | Id>;
  /** Returns a builder with task `id` added; `options.dependencies` may name only tasks declared before it. */
  task<const Id extends string>(id: Id, options: TaskOptions<Ids>, fn: TaskFn): WorkflowBuilder<Ids | Id>;
  task(id: string, optionsOrFn: unknown, maybeFn?: unknown): unknown {
    // task(id, fn) or task(id, options, fn); a JavaScript caller's task(id, options) is read as options
    // without a function, so build() reports the missing function rather than "got an object".
    const twoArgs = arguments.length < 3 && !isPlainObject(optionsOrFn);
    const last: TaskEntry = {
      id,
      options: twoArgs ? undefined : optionsOrFn,
      fn: twoArgs ? optionsOrFn : maybeFn,
      prev: this.#state.last,
    };
    return WorkflowBuilder.#from({ ...this.#state, last });
  }

  /**
   * Validates the declaration, computes the version and (unless `register: false`) registers the workflow
   * in `options.registry` (default {@link defaultRegistry}), replacing one of the same name.
   *
   * @throws WorkflowValidationError for: an empty or invalid workflow name; a description that is not a
   *   string; no tasks; an invalid task id (same charset as names); a task id declared twice; options that
   *   are not an object or have an unknown key; a task function or callback that is not a function;
   *   `dependencies` that is not an array of strings or lists an id twice; a `timeoutMs` that is not an
   *   integer in 1…2147483647; an invalid retry policy; an invalid trigger rule; a dependency on an
   *   unknown task; a dependency cycle (`… dependency cycle: a -> b -> c -> a`, read "->" as "depends on").
   */
  build(options: BuildOptions = {}): Workflow {
    const name = this.#state.name;
    if (typeof name !== "string" || name.length === 0) {
      throw new WorkflowValidationError(`workflow name must be a non-empty string (got ${show(name)})`);
    }
    if (!NAME_PATTERN.test(name)) {
      throw new WorkflowValidationError(
        `workflow name ${show(name)} is invalid: use 1–200 characters among letters, digits, "_", "-" and "."`,
      );
    }
    const where = `workflow "${name}"`;
    const description = this.#state.description;
    if (typeof description !== "string") {
      throw new WorkflowValidationError(`${where}: description must be a string (got ${show(description)})`);
    }

    const entries: TaskEntry[] = [];
    for (let e = this.#state.last; e !== undefined; e = e.prev) entries.push(e);
    entries.reverse();
    if (entries.length === 0) {
      throw new WorkflowValidationError(`${where} has no tasks; add at least one with .task(id, fn)`);
    }

    const positions = new Map<string, number>();
    const tasks: TaskDefinition[] = entries.map((entry, position) => {
      const def = validateTask(entry, position, where);
      const earlier = positions.get(def.id);
      if (earlier !== undefined) {
        throw new WorkflowValidationError(
          `${where}: task id "${def.id}" is declared twice (tasks #${earlier + 1} and #${position + 1})`,
        );
      }
      positions.set(def.id, position);
      return def;
    });

    for (const t of tasks) {
      for (const dep of t.dependencies) {
        if (!positions.has(dep)) {
          const known = tasks.map((x) => x.id);
          const list = known.length > 20 ? `${known.slice(0, 20).join(", ")}, …` : known.join(", ");
          throw new WorkflowValidationError(
            `${where}: task "${t.id}" depends on "${dep}", which is not a task of this workflow (tasks: ${list})`,
          );
        }
      }
    }

    const cycle = findCycle(tasks);
    if (cycle !== undefined) {
      throw new WorkflowValidationError(
        `${where} has a dependency cycle: ${cycle.join(" -> ")} (read "->" as "depends on")`,
      );
    }

    const workflow = new Workflow({ name, description, tasks });
    if (options.register ?? true) (options.registry ?? defaultRegistry).register(workflow);
    return workflow;
  }
}

function validateTask(entry: TaskEntry, position: number, where: string): TaskDefinition {
  const { id } = entry;
  if (typeof id !== "string" || !NAME_PATTERN.test(id)) {
    throw new WorkflowValidationError(
      `${where}: task id ${show(id)} (task #${position + 1}) is invalid: use 1–200 characters among letters, digits, "_", "-" and "."`,
    );
  }
  const at = `${where}: task "${id}"`;
  const raw = entry.options ?? {};
  if (!isPlainObject(raw)) {
    throw new WorkflowValidationError(`${at}: options must be an object (got ${show(raw)})`);
  }
  for (const key of Object.keys(raw)) {
    if (!(TASK_OPTION_KEYS as readonly string[]).includes(key)) {
      throw new WorkflowValidationError(`${at}: unknown option "${key}" (accepted: ${TASK_OPTION_KEYS.join(", ")})`);
    }
  }
  const opts = raw as TaskOptions;

  if (typeof entry.fn !== "function") {
    throw new WorkflowValidationError(`${at}: the task function must be a function (got ${show(entry.fn)})`);
  }
  for (const key of ["onSuccess", "onFailure"] as const) {
    if (opts[key] !== undefined && typeof opts[key] !== "function") {
      throw new WorkflowValidationError(`${at}: ${key} must be a function (got ${show(opts[key])})`);
    }
  }

  const deps: unknown = opts.dependencies ?? [];
  if (!Array.isArray(deps)) {
    throw new WorkflowValidationError(`${at}: dependencies must be an array of task ids (got ${show(deps)})`);
  }
  const seen = new Set<string>();
  for (const dep of deps as unknown[]) {
    if (typeof dep !== "string" || dep.length === 0) {
      throw new WorkflowValidationError(`${at}: dependencies must be task id strings (got ${show(dep)})`);
    }
    if (seen.has(dep)) throw new WorkflowValidationError(`${at}: dependency "${dep}" is listed twice`);
    seen.add(dep);
  }
  const dependencies = [...seen];

  const { timeoutMs } = opts;
  if (
    timeoutMs !== undefined &&
    (typeof timeoutMs !== "number" || !Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS)
  ) {
    throw new WorkflowValidationError(
      `${at}: timeoutMs must be a positive integer number of milliseconds ≤ ${MAX_TIMEOUT_MS} (got ${show(timeoutMs)})`,
    );
  }

  let retry: ResolvedRetryPolicy;
  try {
    retry = resolveRetryPolicy(opts.retry as RetryPolicy | undefined, id);
  } catch (err) {
    if (err instanceof WorkflowValidationError) throw new WorkflowValidationError(`${where}: ${err.message}`);
    throw err;
  }
  const triggerRule: TriggerRule | undefined =
    opts.triggerRules === undefined ? undefined : validateRule(opts.triggerRules, dependencies, `${at}: triggerRules`);

  return {
    id,
    dependencies,
    retry,
    timeoutMs,
    triggerRule,
    onSuccess: opts.onSuccess,
    onFailure: opts.onFailure,
    fn: entry.fn as TaskFn,
    position,
  };
}
