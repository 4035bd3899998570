/**
 * Workflow versioning: a content hash of everything that defines a workflow, so identical definitions
 * get identical versions and any change gets a new one.
 */

import { createHash } from "node:crypto";
import type { TaskDefinition } from "./task.js";

type Canonical = null | boolean | number | string | Canonical[] | { [key: string]: Canonical };

/** JSON with object keys sorted at every level, so equal content always gives equal text. */
function canonicalJson(value: Canonical): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k] as Canonical)}`).join(",")}}`;
}

function source(fn: ((...args: never[]) => unknown) | undefined): Canonical {
  return fn === undefined ? null : { source: fn.toString() };
}

/**
 * The version of a workflow: the first 16 hex characters of the SHA-256 of a canonical JSON document
 * holding the name, the description and, for each task in declaration order, its id, dependencies (in
 * order), resolved retry policy (a `retryOn` function by its source text), `timeoutMs`, trigger rule, and
 * the source text (`fn.toString()`) of the task function and of the callbacks.
 *
 * Limits of a source-text hash: two closures with the same text but different captured values (tasks
 * made by a factory) hash the same, and formatting changes alone change the version.
 */
export function computeWorkflowVersion(input: {
  readonly name: string;
  readonly description: string;
  readonly tasks: readonly TaskDefinition[];
}): string {
  const doc: Canonical = {
    format: 1,
    name: input.name,
    description: input.description,
    tasks: input.tasks.map((t) => {
      const retryOn = t.retry.retryOn;
      return {
        id: t.id,
        dependencies: [...t.dependencies],
        retry: {
          maxAttempts: t.retry.maxAttempts,
          backoff: t.retry.backoff,
          initialDelayMs: t.retry.initialDelayMs,
          maxDelayMs: t.retry.maxDelayMs,
          multiplier: t.retry.multiplier,
          jitter: t.retry.jitter,
          retryOn: typeof retryOn === "function" ? source(retryOn) : typeof retryOn === "string" ? retryOn : [...retryOn],
        },
        timeoutMs: t.timeoutMs ?? null,
        triggerRule: t.triggerRule === undefined ? null : (JSON.parse(JSON.stringify(t.triggerRule)) as Canonical),
        fn: source(t.fn),
        onSuccess: source(t.onSuccess),
        onFailure: source(t.onFailure),
      };
    }),
  };
  return createHash("sha256").update(canonicalJson(doc)).digest("hex").slice(0, 16);
}
