/**
 * The {@link Context}: the JSON object that flows along the edges of a workflow, and
 * {@link mergeOutputs}, the deterministic merge of dependency outputs (SPEC §2.2).
 */

import { ContextError } from "../errors.js";
import type { JsonObject, JsonValue } from "../types.js";
import { cloneJson, isJsonObject, isPlainObject, setOwn, toJsonValue } from "./json.js";

function checkKey(key: unknown): asserts key is string {
  if (typeof key !== "string" || key.length === 0) {
    throw new ContextError(
      `context keys must be non-empty strings (got ${typeof key === "string" ? "an empty string" : typeof key})`,
    );
  }
}

function normalize(key: string, value: unknown): JsonValue {
  const result = toJsonValue(value, key);
  if (!result.ok) {
    throw new ContextError(
      `context value for key "${key}" is not JSON: ${result.path} is ${result.reason}`,
    );
  }
  return result.value;
}

/**
 * A bag of JSON data shared along the DAG. A task reads its input from it and writes its output into it
 * in place (what the context holds when the task function returns is the task's output).
 *
 * **Values must be JSON**, checked when they go in (`new Context(obj)`, `set`, `insert`, `update`): `null`,
 * booleans, finite numbers, strings, arrays and plain objects of those. A `Date` is accepted and stored as
 * its ISO-8601 string (`toISOString()`), so `get` returns a string. Everything else is rejected with a
 * {@link ContextError} naming the key and the path inside the value (for example
 * `context value for key "rows" is not JSON: rows[2].x is a bigint …`): bigint, function, symbol,
 * NaN/±Infinity, cycles, instances of classes other than Date (Map, Set, RegExp, Buffer, user classes),
 * and `undefined` — as a top-level value *and* as an object property or array element (strict: JSON would
 * silently drop or change those, so we refuse instead; use `null` or leave the key out).
 *
 * Values are stored already normalised and copied, so later changes to the caller's objects do not leak
 * in, `get` returns a deep copy (mutating it does not change the context; call `set` again), and
 * serialising is cheap. Key order follows JavaScript object property order (integer-like keys first).
 */
export class Context {
  #data: JsonObject;

  /**
   * Creates a context from a plain object (copied and validated key by key), another `Context` (cloned),
   * or nothing (empty). Typed `object` rather than `Record<string, unknown>` so that values typed by an
   * interface (which has no index signature) are accepted; arrays, class instances and functions are
   * rejected at run time.
   * @throws ContextError if `obj` is not a plain object or a value is not JSON.
   */
  constructor(obj?: object) {
    this.#data = {};
    if (obj === undefined || obj === null) return;
    if (obj instanceof Context) {
      this.#data = cloneJson(obj.#data);
      return;
    }
    if (!isPlainObject(obj)) {
      throw new ContextError(
        `a context is created from a plain object (got ${Array.isArray(obj) ? "an array" : typeof obj === "object" ? "a class instance" : typeof obj})`,
      );
    }
    for (const key of Object.keys(obj)) {
      checkKey(key);
      setOwn(this.#data, key, normalize(key, (obj as Record<string, unknown>)[key]));
    }
  }

  /**
   * Wraps an object that is already valid JSON, without validating or copying it: the context takes
   * ownership of `obj` (the caller must not keep mutating it). For the engine, which loads contexts it
   * wrote itself from the database (`JSON.parse` output).
   * @internal
   */
  static fromTrustedObject(obj: JsonObject): Context {
    const ctx = new Context();
    ctx.#data = obj;
    return ctx;
  }

  /**
   * Parses a JSON object string into a context.
   * @throws ContextError if `text` is not valid JSON or is JSON but not an object (array, string, null…).
   */
  static fromJSON(text: string): Context {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new ContextError(`Context.fromJSON: invalid JSON (${(err as Error).message})`, { cause: err });
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new ContextError(
        `Context.fromJSON: expected a JSON object, got ${Array.isArray(parsed) ? "an array" : parsed === null ? "null" : typeof parsed}`,
      );
    }
    return Context.fromTrustedObject(parsed as JsonObject);
  }

  /**
   * Returns a deep copy of the value under `key`, or `defaultValue` (returned as given, not copied) when
   * the key is absent. A stored `null` is returned as `null`, not replaced by the default. `T` is not
   * checked at run time.
   */
  get<T = JsonValue>(key: string): T | undefined;
  get<T = JsonValue>(key: string, defaultValue: T): T;
  get<T = JsonValue>(key: string, defaultValue?: T): T | undefined {
    if (!Object.hasOwn(this.#data, key)) return defaultValue;
    return cloneJson(this.#data[key] as JsonValue) as T;
  }

  /**
   * Sets `key` to a copy of `value`, adding or replacing it (upsert).
   * @throws ContextError if `key` is empty or `value` is not JSON (see the class description).
   */
  set(key: string, value: unknown): void {
    checkKey(key);
    setOwn(this.#data, key, normalize(key, value));
  }

  /**
   * Adds `key`; fails if it is already present.
   * @throws ContextError if `key` exists, is empty, or `value` is not JSON.
   */
  insert(key: string, value: unknown): void {
    checkKey(key);
    if (Object.hasOwn(this.#data, key)) {
      throw new ContextError(`context key "${key}" already exists (use set() to overwrite it)`);
    }
    setOwn(this.#data, key, normalize(key, value));
  }

  /**
   * Replaces the value of an existing `key`; fails if it is absent.
   * @throws ContextError if `key` is absent, empty, or `value` is not JSON.
   */
  update(key: string, value: unknown): void {
    checkKey(key);
    if (!Object.hasOwn(this.#data, key)) {
      throw new ContextError(`context key "${key}" does not exist (use set() or insert() to add it)`);
    }
    setOwn(this.#data, key, normalize(key, value));
  }

  /** Removes `key` and returns its old value, or `undefined` if it was absent. */
  remove(key: string): JsonValue | undefined {
    if (!Object.hasOwn(this.#data, key)) return undefined;
    const old = this.#data[key];
    delete this.#data[key];
    return old;
  }

  /** True if `key` is present (even when its value is `null`). */
  has(key: string): boolean {
    return Object.hasOwn(this.#data, key);
  }

  /** Number of keys. */
  get size(): number {
    return Object.keys(this.#data).length;
  }

  /** The keys, in JavaScript object property order. */
  keys(): string[] {
    return Object.keys(this.#data);
  }

  /** A deep copy of the whole context as a plain JSON object. */
  toObject(): JsonObject {
    return cloneJson(this.#data);
  }

  /**
   * The context's own storage, so that `JSON.stringify(ctx)` serialises it without an extra copy.
   * Treat the result as read-only; use {@link Context.toObject} for a copy you may change.
   */
  toJSON(): JsonObject {
    return this.#data;
  }

  /** An independent deep copy of this context. */
  clone(): Context {
    return Context.fromTrustedObject(cloneJson(this.#data));
  }
}

function mergeInto(target: JsonObject, source: JsonObject): void {
  for (const key of Object.keys(source)) {
    const incoming = source[key] as JsonValue;
    const existing = Object.hasOwn(target, key) ? target[key] : undefined;
    if (isJsonObject(existing) && isJsonObject(incoming)) {
      mergeInto(existing, incoming);
    } else {
      setOwn(target, key, cloneJson(incoming));
    }
  }
}

/**
 * The deterministic merge of SPEC §2.2. Starts from a deep copy of `base` and applies each of `outputs` in
 * the given order (the engine passes dependencies' outputs in their declared order): when both sides hold
 * a plain object the two merge recursively; any other conflict (arrays, scalars, null, a type mismatch)
 * is won by the later value, which replaces the earlier one whole (arrays are not concatenated). Keys are
 * never removed. Does not mutate its inputs; the result shares no objects with them.
 */
export function mergeOutputs(base: JsonObject, outputs: readonly JsonObject[]): JsonObject {
  const result = cloneJson(base);
  for (const output of outputs) mergeInto(result, output);
  return result;
}
