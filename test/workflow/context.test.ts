import { describe, expect, it } from "vitest";
import { ContextError } from "../../src/errors.js";
import { Context } from "../../src/workflow/context.js";

function contextError(fn: () => unknown): ContextError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ContextError);
    return err as ContextError;
  }
  throw new Error("expected a ContextError, nothing was thrown");
}

describe("Context basic operations", () => {
  it("starts empty and copies the constructor object", () => {
    expect(new Context().size).toBe(0);
    const source = { a: 1, nested: { b: [1, 2] } };
    const ctx = new Context(source);
    source.nested.b.push(3);
    expect(ctx.get("nested")).toEqual({ b: [1, 2] });
    expect(ctx.keys()).toEqual(["a", "nested"]);
  });

  it("get returns a deep copy, the default when absent, and null for a stored null", () => {
    const ctx = new Context({ list: [1, 2], nothing: null });
    const list = ctx.get<number[]>("list");
    list?.push(99);
    expect(ctx.get("list")).toEqual([1, 2]);
    expect(ctx.get("missing")).toBeUndefined();
    expect(ctx.get("missing", 7)).toBe(7);
    expect(ctx.get("nothing", 7)).toBeNull();
  });

  it("set upserts and copies the value", () => {
    const ctx = new Context();
    const value = { x: 1 };
    ctx.set("k", value);
    value.x = 2;
    expect(ctx.get("k")).toEqual({ x: 1 });
    ctx.set("k", "replaced");
    expect(ctx.get("k")).toBe("replaced");
  });

  it("insert throws ContextError when the key exists", () => {
    const ctx = new Context({ a: 1 });
    ctx.insert("b", 2);
    expect(ctx.get("b")).toBe(2);
    const err = contextError(() => ctx.insert("a", 3));
    expect(err.message).toContain('context key "a" already exists');
    expect(ctx.get("a")).toBe(1);
  });

  it("update throws ContextError when the key is absent", () => {
    const ctx = new Context({ a: 1 });
    ctx.update("a", 5);
    expect(ctx.get("a")).toBe(5);
    const err = contextError(() => ctx.update("b", 1));
    expect(err.message).toContain('context key "b" does not exist');
    expect(ctx.has("b")).toBe(false);
  });

  it("remove returns the old value or undefined", () => {
    const ctx = new Context({ a: { x: 1 }, n: null });
    expect(ctx.remove("a")).toEqual({ x: 1 });
    expect(ctx.has("a")).toBe(false);
    expect(ctx.remove("a")).toBeUndefined();
    expect(ctx.remove("n")).toBeNull();
  });

  it("has is true for a key holding null; size and keys reflect content", () => {
    const ctx = new Context({ a: null });
    expect(ctx.has("a")).toBe(true);
    expect(ctx.has("b")).toBe(false);
    ctx.set("b", 1);
    expect(ctx.size).toBe(2);
    expect(ctx.keys()).toEqual(["a", "b"]);
  });

  it("inherited Object.prototype names are not keys", () => {
    const ctx = new Context();
    expect(ctx.has("toString")).toBe(false);
    expect(ctx.get("constructor")).toBeUndefined();
    ctx.insert("toString", "mine");
    expect(ctx.get("toString")).toBe("mine");
  });

  it('stores a "__proto__" key as data, not as a prototype', () => {
    const ctx = new Context();
    ctx.set("__proto__", { polluted: true });
    expect(ctx.has("__proto__")).toBe(true);
    expect(ctx.get("__proto__")).toEqual({ polluted: true });
    expect(JSON.parse(JSON.stringify(ctx))).toEqual(JSON.parse('{"__proto__":{"polluted":true}}'));
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
  });

  it("toObject is a deep copy; toJSON makes JSON.stringify work", () => {
    const ctx = new Context({ a: [1, { b: 2 }] });
    const obj = ctx.toObject();
    (obj["a"] as unknown[]).push(3);
    expect(ctx.get("a")).toEqual([1, { b: 2 }]);
    expect(JSON.stringify(ctx)).toBe('{"a":[1,{"b":2}]}');
    expect(ctx.toJSON()).toEqual({ a: [1, { b: 2 }] });
  });

  it("clone is independent", () => {
    const ctx = new Context({ a: { b: 1 } });
    const copy = ctx.clone();
    copy.set("a", 2);
    copy.set("c", 3);
    expect(ctx.get("a")).toEqual({ b: 1 });
    expect(ctx.has("c")).toBe(false);
  });

  it("accepts a value typed by an interface (no index signature)", () => {
    interface Input {
      day: string;
      count: number;
    }
    const input: Input = { day: "2026-11-26", count: 2 };
    expect(new Context(input).toObject()).toEqual({ day: "2026-11-26", count: 2 });
  });

  it("a Context passed to the constructor is cloned", () => {
    const ctx = new Context({ a: 1 });
    const copy = new Context(ctx);
    copy.set("a", 2);
    expect(ctx.get("a")).toBe(1);
    expect(copy.get("a")).toBe(2);
  });

  it("fromJSON parses an object and round-trips with JSON.stringify", () => {
    const ctx = Context.fromJSON('{"a":1,"b":[true,null],"c":{"d":"x"}}');
    expect(ctx.toObject()).toEqual({ a: 1, b: [true, null], c: { d: "x" } });
    expect(Context.fromJSON(JSON.stringify(ctx)).toObject()).toEqual(ctx.toObject());
  });

  it("fromJSON rejects invalid JSON and non-objects with ContextError", () => {
    expect(contextError(() => Context.fromJSON("{not json")).message).toContain("invalid JSON");
    expect(contextError(() => Context.fromJSON("[1,2]")).message).toContain("expected a JSON object, got an array");
    expect(contextError(() => Context.fromJSON("null")).message).toContain("got null");
    expect(contextError(() => Context.fromJSON('"s"')).message).toContain("got string");
  });

  it("fromTrustedObject wraps the object without copying", () => {
    const obj = { a: 1 };
    const ctx = Context.fromTrustedObject(obj);
    expect(ctx.toJSON()).toBe(obj);
    expect(ctx.get("a")).toBe(1);
  });

  it("rejects empty and non-string keys", () => {
    expect(contextError(() => new Context().set("", 1)).message).toContain("non-empty strings");
    expect(contextError(() => new Context({ "": 1 })).message).toContain("non-empty strings");
    expect(contextError(() => new Context().insert(42 as unknown as string, 1)).message).toContain("got number");
  });

  it("rejects a constructor argument that is not a plain object", () => {
    expect(contextError(() => new Context([1])).message).toContain("an array");
    expect(contextError(() => new Context(new Map())).message).toContain(
      "class instance",
    );
  });
});

describe("Context JSON validation names the key and the path", () => {
  class Custom {
    x = 1;
  }
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic["self"] = cyclic;
  const cases: [string, unknown, string, string][] = [
    ["bigint", 10n, "big", "a bigint"],
    ["function", () => 1, "fn", "a function"],
    ["symbol", Symbol("s"), "sym", "a symbol"],
    ["top-level undefined", undefined, "u", "undefined"],
    ["NaN", NaN, "n", "NaN"],
    ["Infinity", Infinity, "inf", "Infinity"],
    ["-Infinity", -Infinity, "ninf", "-Infinity"],
    ["Map", new Map(), "m", "a Map instance"],
    ["Set", new Set([1]), "s", "a Set instance"],
    ["RegExp", /x/, "r", "a RegExp instance"],
    ["custom class", new Custom(), "c", "a Custom instance"],
    ["invalid Date", new Date(Number.NaN), "d", "an invalid Date"],
  ];
  for (const [label, value, key, reason] of cases) {
    it(`rejects ${label} at set()`, () => {
      const err = contextError(() => new Context().set(key, value));
      expect(err.message).toContain(`key "${key}"`);
      expect(err.message).toContain(`${key} is ${reason}`);
    });
  }

  it("gives the path inside the value", () => {
    const rows = [{ x: 1 }, { x: 2 }, { x: 3n }];
    const err = contextError(() => new Context().set("rows", rows));
    expect(err.message).toBe(
      'context value for key "rows" is not JSON: rows[2].x is a bigint (convert it to a number or a string)',
    );
    const err2 = contextError(() => new Context().set("a", { "odd key": [null, { f: () => 0 }] }));
    expect(err2.message).toContain('a["odd key"][1].f is a function');
  });

  it("rejects undefined object properties and array elements (strict)", () => {
    expect(contextError(() => new Context().set("o", { a: 1, b: undefined })).message).toContain("o.b is undefined");
    expect(contextError(() => new Context().set("arr", [1, undefined])).message).toContain("arr[1] is undefined");
    expect(contextError(() => new Context().set("holes", [1, , 3])).message).toContain("holes[1] is undefined");
  });

  it("rejects cycles but accepts shared (acyclic) references", () => {
    expect(contextError(() => new Context().set("c", cyclic)).message).toContain("c.self is a reference to one of its own ancestors");
    const shared = { v: 1 };
    const ctx = new Context({ pair: [shared, shared] });
    expect(ctx.get("pair")).toEqual([{ v: 1 }, { v: 1 }]);
  });

  it("rejects non-JSON values at insert, update and in the constructor", () => {
    const ctx = new Context({ a: 1 });
    expect(contextError(() => ctx.insert("b", 1n)).message).toContain('key "b"');
    expect(contextError(() => ctx.update("a", NaN)).message).toContain('key "a"');
    expect(ctx.get("a")).toBe(1);
    expect(contextError(() => new Context({ ok: 1, bad: new Set() })).message).toContain('key "bad"');
  });

  it("rejects symbol-keyed properties", () => {
    const value = { [Symbol("s")]: 1 };
    expect(contextError(() => new Context().set("k", value)).message).toContain("symbol keys");
  });

  it("stores a Date as its ISO string, also nested", () => {
    const when = new Date("2026-11-26T10:00:00.000Z");
    const ctx = new Context({ when, nested: { at: [when] } });
    expect(ctx.get("when")).toBe("2026-11-26T10:00:00.000Z");
    expect(ctx.get("nested")).toEqual({ at: ["2026-11-26T10:00:00.000Z"] });
  });

  it("accepts every JSON shape, null-prototype objects included, and turns -0 into 0", () => {
    const bare = Object.create(null) as Record<string, unknown>;
    bare["k"] = "v";
    const ctx = new Context({ n: null, b: false, i: -0, f: 1.5, s: "", a: [], o: {}, bare });
    expect(ctx.toObject()).toEqual({ n: null, b: false, i: 0, f: 1.5, s: "", a: [], o: {}, bare: { k: "v" } });
    expect(Object.is(ctx.get("i"), 0)).toBe(true);
  });
});
