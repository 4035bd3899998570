/**
 * Trigger rules (SPEC §2.3): JSON-serialisable conditions that decide, once all of a task's
 * dependencies are terminal, whether the task runs (`true`) or is `Skipped` (`false`).
 */

import { WorkflowValidationError } from "../errors.js";
import type { JsonObject, JsonValue, TaskStatus } from "../types.js";
import { isPlainObject, jsonEqual, toJsonValue } from "./json.js";

/** Operators of a `contextValue` rule, in the order error messages list them. */
export const CONTEXT_OPERATORS = [
  "equals",
  "notEquals",
  "greaterThan",
  "lessThan",
  "contains",
  "notContains",
  "exists",
  "notExists",
] as const;

/** An operator of a `contextValue` rule. */
export type ContextOperator = (typeof CONTEXT_OPERATORS)[number];

/** The rule types, in the order error messages list them. */
export const RULE_TYPES = [
  "always",
  "taskSuccess",
  "taskFailed",
  "taskSkipped",
  "contextValue",
  "allOf",
  "anyOf",
  "noneOf",
] as const;

/** Always true: the task runs once its dependencies are terminal, whatever their outcome. */
export interface AlwaysRule {
  readonly type: "always";
}

/**
 * True iff dependency `taskId` ended `Completed` (`taskSuccess`), `Failed` after its last attempt
 * (`taskFailed`) or `Skipped` (`taskSkipped`). `taskId` is the short id of one of the task's dependencies.
 */
export interface TaskStatusRule {
  readonly type: "taskSuccess" | "taskFailed" | "taskSkipped";
  readonly taskId: string;
}

/**
 * A test on the top-level context key `key` of the task's input context (the merged context the task
 * would receive):
 * - `equals` / `notEquals`: deep JSON equality (`notEquals` is its negation, so it is true for an absent key);
 * - `greaterThan` / `lessThan`: only number-with-number or string-with-string (code-unit order); any other
 *   pairing, or an absent key, is false;
 * - `contains`: a string value contains `value` as a substring (`value` must be a string), or an array
 *   value has an element deep-equal to `value`; anything else is false. `notContains` is its negation;
 * - `exists` / `notExists`: the key is present (even with value `null`) / absent. They take no `value`.
 */
export interface ContextValueRule {
  readonly type: "contextValue";
  readonly key: string;
  readonly op: ContextOperator;
  readonly value?: JsonValue;
}

/** `allOf`: every rule holds; `anyOf`: at least one holds; `noneOf`: none holds. Nestable; never empty. */
export interface CombinatorRule {
  readonly type: "allOf" | "anyOf" | "noneOf";
  readonly rules: readonly TriggerRule[];
}

/** A trigger rule: a plain JSON object, built with {@link rules} or written by hand. */
export type TriggerRule = AlwaysRule | TaskStatusRule | ContextValueRule | CombinatorRule;

type RuleList = TriggerRule[] | [readonly TriggerRule[]];

function ruleList(args: RuleList): TriggerRule[] {
  if (args.length === 1 && Array.isArray(args[0])) return [...(args[0] as readonly TriggerRule[])];
  return [...(args as TriggerRule[])];
}

/**
 * Builders for {@link TriggerRule}s. Combinators accept rules as arguments or as one array:
 * `rules.anyOf(a, b)` equals `rules.anyOf([a, b])`. The result is validated when the workflow is built.
 */
export const rules = {
  /** A rule that always holds. */
  always(): AlwaysRule {
    return { type: "always" };
  },
  /** Holds iff dependency `taskId` ended `Completed`. */
  taskSuccess(taskId: string): TaskStatusRule {
    return { type: "taskSuccess", taskId };
  },
  /** Holds iff dependency `taskId` ended `Failed` (retries exhausted). */
  taskFailed(taskId: string): TaskStatusRule {
    return { type: "taskFailed", taskId };
  },
  /** Holds iff dependency `taskId` ended `Skipped`. */
  taskSkipped(taskId: string): TaskStatusRule {
    return { type: "taskSkipped", taskId };
  },
  /** A test on context key `key`; see {@link ContextValueRule} for each operator. `value` is omitted for `exists` / `notExists`. */
  contextValue(key: string, op: ContextOperator, value?: JsonValue): ContextValueRule {
    return value === undefined ? { type: "contextValue", key, op } : { type: "contextValue", key, op, value };
  },
  /** Holds iff every rule holds. */
  allOf(...args: RuleList): CombinatorRule {
    return { type: "allOf", rules: ruleList(args) };
  },
  /** Holds iff at least one rule holds. */
  anyOf(...args: RuleList): CombinatorRule {
    return { type: "anyOf", rules: ruleList(args) };
  },
  /** Holds iff no rule holds. */
  noneOf(...args: RuleList): CombinatorRule {
    return { type: "noneOf", rules: ruleList(args) };
  },
} as const;

const FIELDS: Record<(typeof RULE_TYPES)[number], readonly string[]> = {
  always: ["type"],
  taskSuccess: ["type", "taskId"],
  taskFailed: ["type", "taskId"],
  taskSkipped: ["type", "taskId"],
  contextValue: ["type", "key", "op", "value"],
  allOf: ["type", "rules"],
  anyOf: ["type", "rules"],
  noneOf: ["type", "rules"],
};

const OPS_WITHOUT_VALUE: ReadonlySet<ContextOperator> = new Set(["exists", "notExists"]);

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return typeof value;
}

/**
 * Checks that `rule` is a well-formed {@link TriggerRule} for a task whose dependencies are
 * `dependencies`, and returns a fresh normalised copy (so later changes to the caller's object have no
 * effect; a `Date` value becomes its ISO string). `path` prefixes error messages, e.g.
 * `task "load": triggerRules`; nested rules extend it with `.rules[i]`.
 *
 * @throws WorkflowValidationError for: a non-object, an unknown `type` or an unknown field (both list the
 *   accepted ones), a missing/empty `taskId` or `key`, a `taskId` that is not one of `dependencies`, an
 *   unknown `op` (lists the accepted ones), a missing `value` for an operator that needs one or a `value`
 *   for `exists`/`notExists`, a non-JSON `value`, a `greaterThan`/`lessThan` value that is not a number or
 *   string, a `contains`/`notContains` value that is not JSON, and a combinator whose `rules` is not a
 *   non-empty array.
 */
export function validateRule(rule: unknown, dependencies: readonly string[], path: string): TriggerRule {
  const fail = (message: string): never => {
    throw new WorkflowValidationError(`${path}: ${message}`);
  };
  if (!isPlainObject(rule)) {
    return fail(`a trigger rule must be an object such as { type: "always" } (got ${describe(rule)})`);
  }
  const type = rule["type"];
  if (typeof type !== "string" || !(RULE_TYPES as readonly string[]).includes(type)) {
    return fail(
      `unknown trigger rule type ${type === undefined ? "(missing)" : describe(type)} (accepted: ${RULE_TYPES.join(", ")})`,
    );
  }
  const ruleType = type as (typeof RULE_TYPES)[number];
  const allowed = FIELDS[ruleType];
  for (const field of Object.keys(rule)) {
    if (!allowed.includes(field)) {
      fail(`unknown field "${field}" in a "${ruleType}" rule (accepted: ${allowed.join(", ")})`);
    }
  }

  switch (ruleType) {
    case "always":
      return { type: "always" };
    case "taskSuccess":
    case "taskFailed":
    case "taskSkipped": {
      const taskId = rule["taskId"];
      if (typeof taskId !== "string" || taskId.length === 0) {
        return fail(`a "${ruleType}" rule needs a non-empty taskId string (got ${describe(taskId)})`);
      }
      if (!dependencies.includes(taskId)) {
        return fail(
          `${ruleType}("${taskId}") refers to a task that is not a dependency of this task; a rule can only look ` +
            `at the task's own dependencies, because only they are sure to be terminal when the rule is evaluated ` +
            (dependencies.length === 0
              ? "(this task has no dependencies)"
              : `(dependencies: ${dependencies.join(", ")}); add "${taskId}" to dependencies`),
        );
      }
      return { type: ruleType, taskId };
    }
    case "contextValue": {
      const key = rule["key"];
      if (typeof key !== "string" || key.length === 0) {
        return fail(`a "contextValue" rule needs a non-empty key string (got ${describe(key)})`);
      }
      const op = rule["op"];
      if (typeof op !== "string" || !(CONTEXT_OPERATORS as readonly string[]).includes(op)) {
        return fail(
          `unknown contextValue operator ${op === undefined ? "(missing)" : describe(op)} (accepted: ${CONTEXT_OPERATORS.join(", ")})`,
        );
      }
      const operator = op as ContextOperator;
      const raw = rule["value"];
      if (OPS_WITHOUT_VALUE.has(operator)) {
        if (raw !== undefined) return fail(`contextValue operator "${operator}" takes no value (got ${describe(raw)})`);
        return { type: "contextValue", key, op: operator };
      }
      if (raw === undefined) {
        return fail(`contextValue operator "${operator}" needs a value (rules.contextValue("${key}", "${operator}", value))`);
      }
      const converted = toJsonValue(raw, `${path}.value`);
      if (!converted.ok) return fail(`value is not JSON: ${converted.path} is ${converted.reason}`);
      const value = converted.value;
      if ((operator === "greaterThan" || operator === "lessThan") && typeof value !== "number" && typeof value !== "string") {
        return fail(`contextValue operator "${operator}" compares numbers or strings (got ${describe(value)})`);
      }
      return { type: "contextValue", key, op: operator, value };
    }
    case "allOf":
    case "anyOf":
    case "noneOf": {
      const list = rule["rules"];
      if (!Array.isArray(list)) {
        return fail(`"${ruleType}" needs a rules array (got ${describe(list)})`);
      }
      if (list.length === 0) return fail(`"${ruleType}" needs at least one rule (got an empty list)`);
      const nested = list.map((r: unknown, i) => validateRule(r, dependencies, `${path}.rules[${i}]`));
      return { type: ruleType, rules: nested };
    }
  }
}

/** What a rule is evaluated against: the final statuses of the task's dependencies and its input context. */
export interface RuleInput {
  /** Status of each dependency (by short task id). A missing id counts as not matching any status rule. */
  readonly statuses: ReadonlyMap<string, TaskStatus>;
  /** The task's input context (its base context merged with its dependencies' outputs). */
  readonly context: JsonObject;
}

function contains(actual: JsonValue, needle: JsonValue): boolean {
  if (typeof actual === "string") return typeof needle === "string" && actual.includes(needle);
  if (Array.isArray(actual)) return actual.some((item) => jsonEqual(item, needle));
  return false;
}

function compare(actual: JsonValue | undefined, expected: JsonValue | undefined, op: "greaterThan" | "lessThan"): boolean {
  if (typeof actual === "number" && typeof expected === "number") {
    return op === "greaterThan" ? actual > expected : actual < expected;
  }
  if (typeof actual === "string" && typeof expected === "string") {
    return op === "greaterThan" ? actual > expected : actual < expected;
  }
  return false;
}

/**
 * Evaluates a (validated) rule. Pure and synchronous. See {@link ContextValueRule} and
 * {@link TaskStatusRule} for the meaning of each rule type.
 */
export function evaluateRule(rule: TriggerRule, input: RuleInput): boolean {
  switch (rule.type) {
    case "always":
      return true;
    case "taskSuccess":
      return input.statuses.get(rule.taskId) === "Completed";
    case "taskFailed":
      return input.statuses.get(rule.taskId) === "Failed";
    case "taskSkipped":
      return input.statuses.get(rule.taskId) === "Skipped";
    case "allOf":
      return rule.rules.every((r) => evaluateRule(r, input));
    case "anyOf":
      return rule.rules.some((r) => evaluateRule(r, input));
    case "noneOf":
      return !rule.rules.some((r) => evaluateRule(r, input));
    case "contextValue": {
      const present = Object.hasOwn(input.context, rule.key);
      const actual = present ? input.context[rule.key] : undefined;
      switch (rule.op) {
        case "exists":
          return present;
        case "notExists":
          return !present;
        case "equals":
          return actual !== undefined && rule.value !== undefined && jsonEqual(actual, rule.value);
        case "notEquals":
          return !(actual !== undefined && rule.value !== undefined && jsonEqual(actual, rule.value));
        case "greaterThan":
        case "lessThan":
          return compare(actual, rule.value, rule.op);
        case "contains":
          return actual !== undefined && rule.value !== undefined && contains(actual, rule.value);
        case "notContains":
          return !(actual !== undefined && rule.value !== undefined && contains(actual, rule.value));
      }
    }
  }
}

/** Why a task is `Skipped` instead of run: the reason recorded on the task. */
export type SkipReason = "upstream failed" | "upstream skipped" | "trigger rule not satisfied";

/** Outcome of {@link decideTrigger}: run the task, or skip it with a reason. */
export type TriggerDecision = { readonly run: true } | { readonly run: false; readonly reason: SkipReason };

/**
 * Decides, once every dependency of a task is terminal, whether it runs (SPEC §2.3):
 * - no trigger rule (the default): run iff every dependency `Completed`; otherwise skip with
 *   `"upstream failed"` if any dependency `Failed`, else `"upstream skipped"`;
 * - a trigger rule: run iff {@link evaluateRule} is true, else skip with `"trigger rule not satisfied"`.
 *
 * A dependency missing from `input.statuses` counts as not `Completed` (and, for the default rule, as
 * skipped).
 */
export function decideTrigger(
  triggerRule: TriggerRule | undefined,
  dependencies: readonly string[],
  input: RuleInput,
): TriggerDecision {
  if (triggerRule !== undefined) {
    return evaluateRule(triggerRule, input) ? { run: true } : { run: false, reason: "trigger rule not satisfied" };
  }
  let skipped = false;
  for (const dep of dependencies) {
    const status = input.statuses.get(dep);
    if (status === "Failed") return { run: false, reason: "upstream failed" };
    if (status !== "Completed") skipped = true;
  }
  return skipped ? { run: false, reason: "upstream skipped" } : { run: true };
}
