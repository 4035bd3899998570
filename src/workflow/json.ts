/**
 * JSON helpers shared by the context, the trigger rules and the merge: strict conversion of arbitrary
 * values to JSON (with the path of the first offending part), deep copy, deep equality, and a safe
 * own-property write. Pure functions, no I/O.
 */

import type { JsonObject, JsonValue } from "../types.js";

/** Outcome of {@link toJsonValue}: the converted value, or where and why conversion failed. */
export type JsonConversion =
  | { readonly ok: true; readonly value: JsonValue }
  | { readonly ok: false; readonly path: string; readonly reason: string };

/**
 * True for plain objects: `{}` literals, `Object.create(null)` and `JSON.parse` results. Arrays, class
 * instances (Date, Map, Set, RegExp, Buffer, user classes) and boxed primitives are not plain.
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Writes `obj[key] = value` as an own data property. Unlike plain assignment this is safe for the key
 * `"__proto__"`, which would otherwise change the object's prototype instead of adding a key.
 */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") {
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Appends an object key to a display path: `a.b` for identifiers, `a["x y"]` otherwise. */
export function childPath(path: string, key: string): string {
  return IDENTIFIER.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** Describes a non-JSON value for an error message ("a bigint", "a Map instance", …). */
function describeNonJson(value: unknown): string {
  switch (typeof value) {
    case "bigint":
      return "a bigint (convert it to a number or a string)";
    case "function":
      return "a function";
    case "symbol":
      return "a symbol";
    case "undefined":
      return "undefined (use null, or leave the key out)";
    case "number":
      return `${String(value)} (only finite numbers are JSON)`;
    default: {
      const proto: unknown = typeof value === "object" && value !== null ? Object.getPrototypeOf(value) : undefined;
      const ctor =
        typeof proto === "object" && proto !== null && typeof (proto as { constructor?: unknown }).constructor === "function"
          ? (proto as { constructor: { name: string } }).constructor.name
          : "";
      return `a ${ctor || "non-plain object"} instance (only plain objects, arrays and Date are accepted)`;
    }
  }
}

/**
 * Converts `value` to a fresh JSON value, strictly. Accepted: `null`, booleans, finite numbers (`-0`
 * becomes `0`), strings, arrays and plain objects of those, and `Date` (stored as its ISO-8601 string,
 * `date.toISOString()`). Rejected, with the path of the first offending part (rooted at `rootPath`, e.g.
 * `rows[2].x`): bigint, function, symbol, `undefined` anywhere (also as an object property or array
 * element/hole), NaN and ±Infinity, invalid dates, cycles, symbol-keyed properties and instances of any
 * other class (Map, Set, RegExp, Buffer, boxed primitives, user classes — even with a `toJSON` method).
 * Objects shared (without a cycle) are copied at each place they appear.
 */
export function toJsonValue(value: unknown, rootPath: string): JsonConversion {
  const ancestors = new Set<object>();
  let failure: { path: string; reason: string } | undefined;

  const convert = (v: unknown, path: string): JsonValue | undefined => {
    if (v === null) return null;
    switch (typeof v) {
      case "string":
      case "boolean":
        return v;
      case "number":
        if (!Number.isFinite(v)) break;
        return v === 0 ? 0 : v;
      case "object": {
        if (ancestors.has(v)) {
          failure = { path, reason: "a reference to one of its own ancestors (a cycle)" };
          return undefined;
        }
        if (v instanceof Date) {
          const time = v.getTime();
          if (Number.isNaN(time)) {
            failure = { path, reason: "an invalid Date" };
            return undefined;
          }
          return v.toISOString();
        }
        if (Array.isArray(v)) {
          ancestors.add(v);
          const out: JsonValue[] = new Array<JsonValue>(v.length);
          for (let i = 0; i < v.length; i++) {
            const item = convert(v[i], `${path}[${i}]`);
            if (item === undefined) return undefined;
            out[i] = item;
          }
          ancestors.delete(v);
          return out;
        }
        if (!isPlainObject(v)) break;
        if (Object.getOwnPropertySymbols(v).length > 0) {
          failure = { path, reason: "an object with symbol keys (JSON keys are strings)" };
          return undefined;
        }
        ancestors.add(v);
        const out: JsonObject = {};
        for (const key of Object.keys(v)) {
          const item = convert(v[key], childPath(path, key));
          if (item === undefined) return undefined;
          setOwn(out, key, item);
        }
        ancestors.delete(v);
        return out;
      }
      default:
        break;
    }
    failure = { path, reason: describeNonJson(v) };
    return undefined;
  };

  const result = convert(value, rootPath);
  if (result === undefined) {
    const f = failure ?? { path: rootPath, reason: describeNonJson(value) };
    return { ok: false, path: f.path, reason: f.reason };
  }
  return { ok: true, value: result };
}

/** Deep copy of a JSON value (assumed valid: no checks). */
export function cloneJson<T extends JsonValue>(value: T): T {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) {
    const out: JsonValue[] = new Array<JsonValue>(value.length);
    for (let i = 0; i < value.length; i++) out[i] = cloneJson(value[i] as JsonValue);
    return out as T;
  }
  const out: JsonObject = {};
  for (const key of Object.keys(value)) setOwn(out, key, cloneJson((value as JsonObject)[key] as JsonValue));
  return out as T;
}

/** Deep structural equality of two JSON values. Object key order does not matter; array order does. */
export function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i] as JsonValue, b[i] as JsonValue)) return false;
    return true;
  }
  const aKeys = Object.keys(a);
  if (aKeys.length !== Object.keys(b).length) return false;
  for (const key of aKeys) {
    if (!Object.hasOwn(b, key)) return false;
    if (!jsonEqual(a[key] as JsonValue, b[key] as JsonValue)) return false;
  }
  return true;
}

/** True for a JSON object (not an array, not null). */
export function isJsonObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
