import { describe, expect, it } from "vitest";
import { WorkflowValidationError } from "../../src/errors.js";
import type { JsonObject, TaskStatus } from "../../src/types.js";
import { decideTrigger, evaluateRule, rules, validateRule, type TriggerRule } from "../../src/workflow/rules.js";

function validationError(fn: () => unknown): WorkflowValidationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WorkflowValidationError);
    return err as WorkflowValidationError;
  }
  throw new Error("expected a WorkflowValidationError, nothing was thrown");
}

const PATH = 'task "t": triggerRules';

function evalWith(rule: TriggerRule, context: JsonObject = {}, statuses: Record<string, TaskStatus> = {}): boolean {
  return evaluateRule(rule, { statuses: new Map(Object.entries(statuses)), context });
}

describe("rules builders", () => {
  it("produce the JSON shapes", () => {
    expect(rules.always()).toEqual({ type: "always" });
    expect(rules.taskSuccess("a")).toEqual({ type: "taskSuccess", taskId: "a" });
    expect(rules.taskFailed("a")).toEqual({ type: "taskFailed", taskId: "a" });
    expect(rules.taskSkipped("a")).toEqual({ type: "taskSkipped", taskId: "a" });
    expect(rules.contextValue("k", "equals", 1)).toEqual({ type: "contextValue", key: "k", op: "equals", value: 1 });
    expect(rules.contextValue("k", "exists")).toEqual({ type: "contextValue", key: "k", op: "exists" });
    expect("value" in rules.contextValue("k", "exists")).toBe(false);
  });

  it("combinators accept rest arguments or one array, and nest", () => {
    const a = rules.taskSuccess("a");
    const b = rules.taskFailed("b");
    expect(rules.allOf(a, b)).toEqual({ type: "allOf", rules: [a, b] });
    expect(rules.allOf([a, b])).toEqual(rules.allOf(a, b));
    expect(rules.anyOf([a])).toEqual({ type: "anyOf", rules: [a] });
    expect(rules.noneOf(a, rules.anyOf(b))).toEqual({ type: "noneOf", rules: [a, { type: "anyOf", rules: [b] }] });
  });

  it("are JSON round-trippable", () => {
    const rule = rules.allOf(rules.anyOf(rules.taskSuccess("a"), rules.contextValue("k", "greaterThan", 3)), rules.always());
    expect(JSON.parse(JSON.stringify(rule))).toEqual(rule);
  });
});

describe("validateRule", () => {
  it("accepts valid rules (nested) and returns an independent copy", () => {
    const input = rules.allOf(rules.anyOf(rules.taskSuccess("a"), rules.taskSkipped("b")), rules.contextValue("k", "contains", [1]));
    const out = validateRule(input, ["a", "b"], PATH);
    expect(out).toEqual(input);
    expect(out).not.toBe(input);
    (input.rules as TriggerRule[]).push(rules.always());
    expect((out as { rules: readonly TriggerRule[] }).rules).toHaveLength(2);
  });

  it("rejects a non-object", () => {
    expect(validationError(() => validateRule("always", [], PATH)).message).toBe(
      `${PATH}: a trigger rule must be an object such as { type: "always" } (got "always")`,
    );
  });

  it("rejects an unknown or missing type and lists the accepted ones", () => {
    const err = validationError(() => validateRule({ type: "allSuccess" }, [], PATH));
    expect(err.message).toBe(
      `${PATH}: unknown trigger rule type "allSuccess" (accepted: always, taskSuccess, taskFailed, taskSkipped, contextValue, allOf, anyOf, noneOf)`,
    );
    expect(validationError(() => validateRule({}, [], PATH)).message).toContain("unknown trigger rule type (missing)");
  });

  it("rejects an unknown field", () => {
    const err = validationError(() => validateRule({ type: "taskSuccess", taskId: "a", task_name: "a" }, ["a"], PATH));
    expect(err.message).toBe(`${PATH}: unknown field "task_name" in a "taskSuccess" rule (accepted: type, taskId)`);
  });

  it("rejects a missing taskId", () => {
    expect(validationError(() => validateRule({ type: "taskFailed" }, ["a"], PATH)).message).toBe(
      `${PATH}: a "taskFailed" rule needs a non-empty taskId string (got undefined)`,
    );
  });

  it("rejects a taskId that is not a dependency, and says why", () => {
    const err = validationError(() => validateRule(rules.taskSuccess("c"), ["a", "b"], PATH));
    expect(err.message).toContain(`${PATH}: taskSuccess("c") refers to a task that is not a dependency of this task`);
    expect(err.message).toContain("a rule can only look at the task's own dependencies");
    expect(err.message).toContain("(dependencies: a, b)");
    const none = validationError(() => validateRule(rules.taskSkipped("x"), [], PATH));
    expect(none.message).toContain("(this task has no dependencies)");
  });

  it("rejects an unknown operator and lists the accepted ones (no silent fallback)", () => {
    const err = validationError(() => validateRule({ type: "contextValue", key: "k", op: "Equals", value: 1 }, [], PATH));
    expect(err.message).toBe(
      `${PATH}: unknown contextValue operator "Equals" (accepted: equals, notEquals, greaterThan, lessThan, contains, notContains, exists, notExists)`,
    );
    expect(validationError(() => validateRule({ type: "contextValue", key: "k" }, [], PATH)).message).toContain(
      "unknown contextValue operator (missing)",
    );
  });

  it("rejects a missing or empty key", () => {
    expect(validationError(() => validateRule({ type: "contextValue", key: "", op: "exists" }, [], PATH)).message).toBe(
      `${PATH}: a "contextValue" rule needs a non-empty key string (got "")`,
    );
  });

  it("requires a value for operators that compare, and refuses one for exists/notExists", () => {
    for (const op of ["equals", "notEquals", "greaterThan", "lessThan", "contains", "notContains"] as const) {
      expect(validationError(() => validateRule({ type: "contextValue", key: "k", op }, [], PATH)).message).toBe(
        `${PATH}: contextValue operator "${op}" needs a value (rules.contextValue("k", "${op}", value))`,
      );
    }
    expect(validationError(() => validateRule({ type: "contextValue", key: "k", op: "exists", value: 1 }, [], PATH)).message).toBe(
      `${PATH}: contextValue operator "exists" takes no value (got 1)`,
    );
    expect(validateRule({ type: "contextValue", key: "k", op: "notExists" }, [], PATH)).toEqual(rules.contextValue("k", "notExists"));
  });

  it("accepts null as a value", () => {
    expect(validateRule(rules.contextValue("k", "equals", null), [], PATH)).toEqual({ type: "contextValue", key: "k", op: "equals", value: null });
  });

  it("rejects a greaterThan/lessThan value that is not a number or string", () => {
    expect(validationError(() => validateRule(rules.contextValue("k", "greaterThan", [1]), [], PATH)).message).toBe(
      `${PATH}: contextValue operator "greaterThan" compares numbers or strings (got an array)`,
    );
    expect(validationError(() => validateRule(rules.contextValue("k", "lessThan", null), [], PATH)).message).toContain("(got null)");
  });

  it("rejects a value that is not JSON, with its path", () => {
    const err = validationError(() => validateRule({ type: "contextValue", key: "k", op: "equals", value: { a: 1n } }, [], PATH));
    expect(err.message).toContain(`value is not JSON: ${PATH}.value.a is a bigint`);
  });

  it("stores a Date value as its ISO string", () => {
    const out = validateRule({ type: "contextValue", key: "k", op: "equals", value: new Date("2026-01-01T00:00:00Z") }, [], PATH);
    expect(out).toEqual({ type: "contextValue", key: "k", op: "equals", value: "2026-01-01T00:00:00.000Z" });
  });

  it("rejects an empty or missing combinator list", () => {
    expect(validationError(() => validateRule(rules.anyOf(), [], PATH)).message).toBe(
      `${PATH}: "anyOf" needs at least one rule (got an empty list)`,
    );
    expect(validationError(() => validateRule({ type: "noneOf" }, [], PATH)).message).toBe(
      `${PATH}: "noneOf" needs a rules array (got undefined)`,
    );
  });

  it("reports errors in nested rules with their path", () => {
    const rule = rules.allOf(rules.always(), rules.anyOf(rules.taskSuccess("a"), { type: "bogus" } as unknown as TriggerRule));
    expect(validationError(() => validateRule(rule, ["a"], PATH)).message).toContain(
      `${PATH}.rules[1].rules[1]: unknown trigger rule type "bogus"`,
    );
  });
});

describe("evaluateRule", () => {
  it("always is true", () => {
    expect(evalWith(rules.always())).toBe(true);
  });

  it("task status rules match Completed / Failed / Skipped exactly", () => {
    const statuses: Record<string, TaskStatus> = { ok: "Completed", bad: "Failed", skip: "Skipped" };
    expect(evalWith(rules.taskSuccess("ok"), {}, statuses)).toBe(true);
    expect(evalWith(rules.taskSuccess("bad"), {}, statuses)).toBe(false);
    expect(evalWith(rules.taskFailed("bad"), {}, statuses)).toBe(true);
    expect(evalWith(rules.taskFailed("skip"), {}, statuses)).toBe(false);
    expect(evalWith(rules.taskSkipped("skip"), {}, statuses)).toBe(true);
    expect(evalWith(rules.taskSkipped("ok"), {}, statuses)).toBe(false);
    expect(evalWith(rules.taskSuccess("unknown"), {}, statuses)).toBe(false);
  });

  it("equals / notEquals use deep JSON equality", () => {
    const ctx = { obj: { a: [1, { b: 2 }], c: null }, n: 1, s: "x", nul: null };
    expect(evalWith(rules.contextValue("obj", "equals", { c: null, a: [1, { b: 2 }] }), ctx)).toBe(true);
    expect(evalWith(rules.contextValue("obj", "equals", { a: [1, { b: 3 }], c: null }), ctx)).toBe(false);
    expect(evalWith(rules.contextValue("n", "equals", 1), ctx)).toBe(true);
    expect(evalWith(rules.contextValue("n", "equals", "1"), ctx)).toBe(false);
    expect(evalWith(rules.contextValue("nul", "equals", null), ctx)).toBe(true);
    expect(evalWith(rules.contextValue("missing", "equals", null), ctx)).toBe(false);
    expect(evalWith(rules.contextValue("s", "notEquals", "y"), ctx)).toBe(true);
    expect(evalWith(rules.contextValue("s", "notEquals", "x"), ctx)).toBe(false);
    expect(evalWith(rules.contextValue("missing", "notEquals", 1), ctx)).toBe(true);
  });

  it("greaterThan / lessThan compare number-number and string-string only", () => {
    const ctx = { n: 5, s: "b", mixed: "5", arr: [9] };
    expect(evalWith(rules.contextValue("n", "greaterThan", 4), ctx)).toBe(true);
    expect(evalWith(rules.contextValue("n", "greaterThan", 5), ctx)).toBe(false);
    expect(evalWith(rules.contextValue("n", "lessThan", 6), ctx)).toBe(true);
    expect(evalWith(rules.contextValue("n", "lessThan", 5), ctx)).toBe(false);
    expect(evalWith(rules.contextValue("s", "greaterThan", "a"), ctx)).toBe(true);
    expect(evalWith(rules.contextValue("s", "lessThan", "c"), ctx)).toBe(true);
    expect(evalWith(rules.contextValue("mixed", "greaterThan", 4), ctx)).toBe(false);
    expect(evalWith(rules.contextValue("mixed", "lessThan", 6), ctx)).toBe(false);
    expect(evalWith(rules.contextValue("n", "greaterThan", "4"), ctx)).toBe(false);
    expect(evalWith(rules.contextValue("arr", "greaterThan", 1), ctx)).toBe(false);
    expect(evalWith(rules.contextValue("missing", "lessThan", 1), ctx)).toBe(false);
  });

  it("contains works on strings (substring) and arrays (deep-equal element)", () => {
    const ctx = { s: "hello world", arr: [1, { a: [2] }, "x"], obj: { k: 1 }, n: 12 };
    expect(evalWith(rules.contextValue("s", "contains", "lo wo"), ctx)).toBe(true);
    expect(evalWith(rules.contextValue("s", "contains", "bye"), ctx)).toBe(false);
    expect(evalWith(rules.contextValue("arr", "contains", { a: [2] }), ctx)).toBe(true);
    expect(evalWith(rules.contextValue("arr", "contains", "x"), ctx)).toBe(true);
    expect(evalWith(rules.contextValue("arr", "contains", { a: [3] }), ctx)).toBe(false);
    expect(evalWith(rules.contextValue("s", "contains", 1), ctx)).toBe(false);
    expect(evalWith(rules.contextValue("obj", "contains", "k"), ctx)).toBe(false);
    expect(evalWith(rules.contextValue("n", "contains", 1), ctx)).toBe(false);
    expect(evalWith(rules.contextValue("missing", "contains", 1), ctx)).toBe(false);
  });

  it("notContains is the negation of contains", () => {
    const ctx = { s: "abc", arr: [1] };
    expect(evalWith(rules.contextValue("s", "notContains", "b"), ctx)).toBe(false);
    expect(evalWith(rules.contextValue("s", "notContains", "z"), ctx)).toBe(true);
    expect(evalWith(rules.contextValue("arr", "notContains", 1), ctx)).toBe(false);
    expect(evalWith(rules.contextValue("arr", "notContains", 2), ctx)).toBe(true);
    expect(evalWith(rules.contextValue("missing", "notContains", 2), ctx)).toBe(true);
  });

  it("exists means the key is present, even with null; notExists the opposite", () => {
    const ctx = { nul: null };
    expect(evalWith(rules.contextValue("nul", "exists"), ctx)).toBe(true);
    expect(evalWith(rules.contextValue("nul", "notExists"), ctx)).toBe(false);
    expect(evalWith(rules.contextValue("missing", "exists"), ctx)).toBe(false);
    expect(evalWith(rules.contextValue("missing", "notExists"), ctx)).toBe(true);
    expect(evalWith(rules.contextValue("toString", "exists"), ctx)).toBe(false);
  });

  it("combinators: allOf / anyOf / noneOf, nested", () => {
    const t = rules.always();
    const f = rules.contextValue("missing", "exists");
    expect(evalWith(rules.allOf(t, t))).toBe(true);
    expect(evalWith(rules.allOf(t, f))).toBe(false);
    expect(evalWith(rules.anyOf(f, t))).toBe(true);
    expect(evalWith(rules.anyOf(f, f))).toBe(false);
    expect(evalWith(rules.noneOf(f, f))).toBe(true);
    expect(evalWith(rules.noneOf(f, t))).toBe(false);
    const statuses: Record<string, TaskStatus> = { a: "Failed", b: "Completed" };
    const nested = rules.allOf(rules.anyOf(rules.taskSuccess("a"), rules.taskSuccess("b")), rules.noneOf(rules.contextValue("stop", "equals", true)));
    expect(evalWith(nested, { stop: false }, statuses)).toBe(true);
    expect(evalWith(nested, { stop: true }, statuses)).toBe(false);
    expect(evalWith(nested, { stop: false }, { a: "Failed", b: "Skipped" })).toBe(false);
  });
});

describe("decideTrigger", () => {
  const input = (statuses: Record<string, TaskStatus>, context: JsonObject = {}) => ({
    statuses: new Map(Object.entries(statuses)),
    context,
  });

  it("default rule: runs when every dependency Completed (and for a root task)", () => {
    expect(decideTrigger(undefined, [], input({}))).toEqual({ run: true });
    expect(decideTrigger(undefined, ["a", "b"], input({ a: "Completed", b: "Completed" }))).toEqual({ run: true });
  });

  it("default rule: a Failed dependency skips with 'upstream failed', even next to a Skipped one", () => {
    expect(decideTrigger(undefined, ["a", "b"], input({ a: "Skipped", b: "Failed" }))).toEqual({
      run: false,
      reason: "upstream failed",
    });
  });

  it("default rule: a Skipped dependency skips with 'upstream skipped'", () => {
    expect(decideTrigger(undefined, ["a", "b"], input({ a: "Completed", b: "Skipped" }))).toEqual({
      run: false,
      reason: "upstream skipped",
    });
  });

  it("an explicit rule replaces the default", () => {
    const rule = rules.anyOf(rules.taskFailed("a"), rules.contextValue("force", "equals", true));
    expect(decideTrigger(rule, ["a"], input({ a: "Failed" }))).toEqual({ run: true });
    expect(decideTrigger(rule, ["a"], input({ a: "Completed" }))).toEqual({ run: false, reason: "trigger rule not satisfied" });
    expect(decideTrigger(rule, ["a"], input({ a: "Completed" }, { force: true }))).toEqual({ run: true });
    expect(decideTrigger(rules.always(), ["a"], input({ a: "Skipped" }))).toEqual({ run: true });
  });
});
