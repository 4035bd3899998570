import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { JsonObject, JsonValue } from "../../src/types.js";
import { mergeOutputs } from "../../src/workflow/context.js";

const jsonValue: fc.Arbitrary<JsonValue> = fc.letrec<{ value: JsonValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -5, max: 5 }),
    fc.constantFrom("a", "b", ""),
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom("x", "y", "z"), tie("value"), { maxKeys: 3 }),
  ),
})).value;

const jsonObject: fc.Arbitrary<JsonObject> = fc.dictionary(fc.constantFrom("a", "b", "c", "d"), jsonValue, {
  maxKeys: 4,
});

describe("mergeOutputs", () => {
  it("applies outputs in order: later scalar wins", () => {
    expect(mergeOutputs({ x: 0 }, [{ x: 1 }, { x: 2 }])).toEqual({ x: 2 });
    expect(mergeOutputs({ x: 0 }, [{ x: 2 }, { x: 1 }])).toEqual({ x: 1 });
  });

  it("merges plain objects recursively", () => {
    const merged = mergeOutputs({ cfg: { a: 1, deep: { k: 1 } } }, [
      { cfg: { b: 2, deep: { l: 2 } } },
      { cfg: { a: 3 } },
    ]);
    expect(merged).toEqual({ cfg: { a: 3, b: 2, deep: { k: 1, l: 2 } } });
  });

  it("replaces arrays whole (no concatenation) and lets a type mismatch go to the later value", () => {
    expect(mergeOutputs({ list: [1, 2] }, [{ list: [3] }])).toEqual({ list: [3] });
    expect(mergeOutputs({ v: { a: 1 } }, [{ v: [1] }])).toEqual({ v: [1] });
    expect(mergeOutputs({ v: [1] }, [{ v: { a: 1 } }])).toEqual({ v: { a: 1 } });
    expect(mergeOutputs({ v: { a: 1 } }, [{ v: null }])).toEqual({ v: null });
    expect(mergeOutputs({ v: 1 }, [{ v: { a: 1 } }])).toEqual({ v: { a: 1 } });
  });

  it("keeps keys only present in the base or in earlier outputs", () => {
    expect(mergeOutputs({ base: 1 }, [{ a: 1 }, { b: 2 }])).toEqual({ base: 1, a: 1, b: 2 });
  });

  it("with no outputs returns a deep copy of the base", () => {
    const base = { a: { b: [1] } };
    const out = mergeOutputs(base, []);
    expect(out).toEqual(base);
    expect(out).not.toBe(base);
    expect(out["a"]).not.toBe(base.a);
  });

  it('treats a "__proto__" key as data', () => {
    const output = JSON.parse('{"__proto__":{"x":1}}') as JsonObject;
    const merged = mergeOutputs({}, [output]);
    expect(Object.hasOwn(merged, "__proto__")).toBe(true);
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
  });

  it("property: does not mutate its inputs and shares no objects with them", () => {
    fc.assert(
      fc.property(jsonObject, fc.array(jsonObject, { maxLength: 4 }), (base, outputs) => {
        const before = JSON.stringify([base, outputs]);
        const merged = mergeOutputs(base, outputs);
        expect(JSON.stringify([base, outputs])).toBe(before);
        // Mutating every nested object of the result must not reach the inputs.
        const scribble = (v: JsonValue): void => {
          if (Array.isArray(v)) {
            v.forEach(scribble);
            v.push("scribbled");
          } else if (v !== null && typeof v === "object") {
            Object.values(v).forEach(scribble);
            v["scribbled"] = true;
          }
        };
        scribble(merged);
        expect(JSON.stringify([base, outputs])).toBe(before);
      }),
    );
  });

  it("property: deterministic, and equal to merging one output at a time", () => {
    fc.assert(
      fc.property(jsonObject, fc.array(jsonObject, { maxLength: 4 }), (base, outputs) => {
        const once = mergeOutputs(base, outputs);
        expect(mergeOutputs(base, outputs)).toEqual(once);
        const stepwise = outputs.reduce((acc, o) => mergeOutputs(acc, [o]), base);
        expect(stepwise).toEqual(once);
      }),
    );
  });

  it("property: every top-level key of the last output keeps that output's non-object values", () => {
    fc.assert(
      fc.property(jsonObject, fc.array(jsonObject, { minLength: 1, maxLength: 4 }), (base, outputs) => {
        const merged = mergeOutputs(base, outputs);
        const last = outputs[outputs.length - 1] as JsonObject;
        for (const [key, value] of Object.entries(last)) {
          if (value === null || typeof value !== "object" || Array.isArray(value)) {
            expect(merged[key]).toEqual(value);
          }
        }
        for (const source of [base, ...outputs]) {
          for (const key of Object.keys(source)) expect(Object.hasOwn(merged, key)).toBe(true);
        }
      }),
    );
  });

  it("property: merging a context with itself is the identity", () => {
    fc.assert(
      fc.property(jsonObject, (obj) => {
        expect(mergeOutputs(obj, [obj])).toEqual(obj);
      }),
    );
  });
});
