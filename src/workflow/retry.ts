/**
 * Retry policies (SPEC §2.4): validation with defaults, the backoff delay formula and the decision
 * whether an error is worth another attempt. Pure: the engine owns the clock and the attempt counter.
 */

import { z } from "zod";
import { TaskTimeoutError, WorkflowValidationError } from "../errors.js";

/** Which failures are retried: every error, only transient ones, none, message patterns, or a predicate. */
export type RetryOn = "all" | "transient" | "never" | readonly string[] | ((err: unknown) => boolean);

/**
 * A task's retry policy as the user writes it. Every field is optional; unknown fields and unknown
 * strings are rejected when the workflow is built (never a silent fallback).
 */
export interface RetryPolicy {
  /** Total attempts, including the first (1 = no retry). Integer ≥ 1. Default 3. */
  maxAttempts?: number;
  /** Growth of the delay between attempts. Default `"exponential"`. */
  backoff?: "fixed" | "linear" | "exponential";
  /** Delay before the first retry, in ms. Integer ≥ 0. Default 1000. */
  initialDelayMs?: number;
  /** Upper bound of any delay, in ms (applied before and after jitter). Integer ≥ initialDelayMs. Default 60000 (or `initialDelayMs` if that is larger). */
  maxDelayMs?: number;
  /** Growth factor of `"exponential"` backoff. Number ≥ 1. Default 2. */
  multiplier?: number;
  /** Multiply each delay by a random factor in [0.75, 1.25] (±25 %). Default true. */
  jitter?: boolean;
  /**
   * Which errors are retried. Default `"all"`. `"transient"`: see {@link isTransientError};
   * a string array: the error message contains one of the patterns (case-insensitive); a function: its
   * result (a predicate that throws counts as "do not retry").
   */
  retryOn?: RetryOn;
}

/** A validated {@link RetryPolicy} with every default filled in. Frozen. */
export interface ResolvedRetryPolicy {
  /** Total attempts, including the first. */
  readonly maxAttempts: number;
  /** Backoff kind. */
  readonly backoff: "fixed" | "linear" | "exponential";
  /** Delay before the first retry, in ms. */
  readonly initialDelayMs: number;
  /** Delay cap, in ms. */
  readonly maxDelayMs: number;
  /** Exponential growth factor. */
  readonly multiplier: number;
  /** Whether delays are jittered by ±25 %. */
  readonly jitter: boolean;
  /** Which errors are retried (a string array is a frozen copy). */
  readonly retryOn: RetryOn;
}

/** The defaults of every {@link RetryPolicy} field. */
export const DEFAULT_RETRY_POLICY: ResolvedRetryPolicy = Object.freeze({
  maxAttempts: 3,
  backoff: "exponential",
  initialDelayMs: 1000,
  maxDelayMs: 60_000,
  multiplier: 2,
  jitter: true,
  retryOn: "all",
});

const RETRY_FIELDS = ["maxAttempts", "backoff", "initialDelayMs", "maxDelayMs", "multiplier", "jitter", "retryOn"];

const retrySchema = z.strictObject({
  maxAttempts: z.int({ error: "an integer ≥ 1" }).min(1, { error: "an integer ≥ 1" }).optional(),
  backoff: z.enum(["fixed", "linear", "exponential"], { error: 'one of "fixed", "linear", "exponential"' }).optional(),
  initialDelayMs: z.int({ error: "an integer ≥ 0 (ms)" }).min(0, { error: "an integer ≥ 0 (ms)" }).optional(),
  maxDelayMs: z.int({ error: "an integer ≥ 0 (ms)" }).min(0, { error: "an integer ≥ 0 (ms)" }).optional(),
  multiplier: z.number({ error: "a finite number ≥ 1" }).min(1, { error: "a finite number ≥ 1" }).optional(),
  jitter: z.boolean({ error: "a boolean" }).optional(),
  retryOn: z
    .union(
      [
        z.enum(["all", "transient", "never"]),
        z.array(z.string().min(1)).min(1),
        z.custom<(err: unknown) => boolean>((v) => typeof v === "function"),
      ],
      {
        error:
          '"all", "transient", "never", a non-empty array of non-empty message patterns, or a function (err) => boolean',
      },
    )
    .optional(),
});

function show(value: unknown): string {
  if (typeof value === "function") return "a function";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || value === null || value === undefined) return String(value);
  try {
    return JSON.stringify(value) ?? typeof value;
  } catch {
    return typeof value;
  }
}

/**
 * Validates a task's retry policy and fills in the defaults ({@link DEFAULT_RETRY_POLICY}).
 * `undefined` gives the defaults.
 * @throws WorkflowValidationError naming the task and the field, e.g.
 *   `task "load": retry.maxAttempts must be an integer ≥ 1 (got 0)`, for: a non-object, an unknown field
 *   (lists the accepted ones), a value of the wrong type or out of range, an unknown `backoff` or `retryOn`
 *   string, and `maxDelayMs` < `initialDelayMs`.
 */
export function resolveRetryPolicy(input: RetryPolicy | undefined, taskId: string): ResolvedRetryPolicy {
  if (input === undefined) return DEFAULT_RETRY_POLICY;
  const prefix = `task "${taskId}": retry`;
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new WorkflowValidationError(`${prefix} must be an object with the fields ${RETRY_FIELDS.join(", ")} (got ${show(input)})`);
  }
  const parsed = retrySchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    if (issue?.code === "unrecognized_keys") {
      const keys = issue.keys.map((k) => `"${k}"`).join(", ");
      throw new WorkflowValidationError(`${prefix} has unknown field ${keys} (accepted: ${RETRY_FIELDS.join(", ")})`);
    }
    const field = String(issue?.path[0] ?? "");
    const got = (input as Record<string, unknown>)[field];
    throw new WorkflowValidationError(`${prefix}.${field} must be ${issue?.message ?? "valid"} (got ${show(got)})`);
  }
  const p = parsed.data;
  const initialDelayMs = p.initialDelayMs ?? DEFAULT_RETRY_POLICY.initialDelayMs;
  const maxDelayMs = p.maxDelayMs ?? Math.max(DEFAULT_RETRY_POLICY.maxDelayMs, initialDelayMs);
  if (maxDelayMs < initialDelayMs) {
    throw new WorkflowValidationError(
      `${prefix}.maxDelayMs must be ≥ initialDelayMs (got maxDelayMs ${maxDelayMs} < initialDelayMs ${initialDelayMs})`,
    );
  }
  const retryOn = p.retryOn ?? DEFAULT_RETRY_POLICY.retryOn;
  return Object.freeze({
    maxAttempts: p.maxAttempts ?? DEFAULT_RETRY_POLICY.maxAttempts,
    backoff: p.backoff ?? DEFAULT_RETRY_POLICY.backoff,
    initialDelayMs,
    maxDelayMs,
    multiplier: p.multiplier ?? DEFAULT_RETRY_POLICY.multiplier,
    jitter: p.jitter ?? DEFAULT_RETRY_POLICY.jitter,
    retryOn: Array.isArray(retryOn) ? Object.freeze([...(retryOn as readonly string[])]) : retryOn,
  });
}

/**
 * The delay in ms before attempt `failedAttempt + 1`, after attempt `failedAttempt` (1-based; values
 * below 1 are treated as 1) failed:
 * - `fixed`: `initialDelayMs`;
 * - `linear`: `initialDelayMs × failedAttempt`;
 * - `exponential`: `initialDelayMs × multiplier^(failedAttempt − 1)`;
 *
 * capped at `maxDelayMs`; with `jitter` then multiplied by `0.75 + 0.5 × random()` (uniform in
 * [0.75, 1.25]) and capped again; rounded to an integer. Whether a retry is allowed at all is for the
 * caller to decide (`failedAttempt < maxAttempts` and {@link shouldRetry}).
 * @param random source of uniform numbers in [0, 1); default `Math.random` (inject one in tests).
 */
export function retryDelayMs(policy: ResolvedRetryPolicy, failedAttempt: number, random: () => number = Math.random): number {
  const n = Number.isFinite(failedAttempt) ? Math.max(1, Math.floor(failedAttempt)) : 1;
  let delay: number;
  switch (policy.backoff) {
    case "fixed":
      delay = policy.initialDelayMs;
      break;
    case "linear":
      delay = policy.initialDelayMs * n;
      break;
    case "exponential":
      delay = policy.initialDelayMs * policy.multiplier ** (n - 1);
      break;
  }
  delay = Math.min(delay, policy.maxDelayMs);
  if (policy.jitter) delay = Math.min(delay * (0.75 + 0.5 * random()), policy.maxDelayMs);
  return Math.max(0, Math.round(delay));
}

/** Node.js / libuv error codes counted as transient. */
export const TRANSIENT_ERROR_CODES: ReadonlySet<string> = new Set(["ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "EPIPE", "EAI_AGAIN"]);

/** Error messages counted as transient. */
export const TRANSIENT_MESSAGE = /timeout|timed out|temporar|unavailable|connection (reset|refused)|rate limit|too many requests|\b503\b|\b429\b/i;

function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "string") return error;
  if (typeof error === "object" && error !== null) {
    const message = (error as { message?: unknown }).message;
    if (typeof message === "string") return message;
  }
  try {
    return String(error);
  } catch {
    return "";
  }
}

/**
 * True if `error` looks transient: a {@link TaskTimeoutError}; an error whose `code` is one of
 * {@link TRANSIENT_ERROR_CODES} (`ECONNRESET`, `ECONNREFUSED`, `ETIMEDOUT`, `EPIPE`, `EAI_AGAIN`); or an error
 * whose message matches {@link TRANSIENT_MESSAGE} (`timeout`, `timed out`, `temporar…`, `unavailable`,
 * `connection reset`, `connection refused`, `rate limit`, `too many requests`, `503`, `429`; case-insensitive).
 * The `cause` chain is followed (up to 5 levels), so `fetch`'s `TypeError: fetch failed` with an
 * `ECONNREFUSED` cause counts.
 */
export function isTransientError(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && current !== undefined && current !== null; depth++) {
    if (current instanceof TaskTimeoutError) return true;
    if (typeof current === "object") {
      const code = (current as { code?: unknown }).code;
      if (typeof code === "string" && TRANSIENT_ERROR_CODES.has(code)) return true;
    }
    if (TRANSIENT_MESSAGE.test(errorMessage(current))) return true;
    current = typeof current === "object" ? (current as { cause?: unknown }).cause : undefined;
  }
  return false;
}

/**
 * Whether the policy's `retryOn` accepts `error` for a retry. Does not look at the attempt count (the
 * caller also checks `failedAttempt < maxAttempts`).
 * - `"all"`: true; `"never"`: false; `"transient"`: {@link isTransientError};
 * - string array: the error message (an `Error`'s `message`, a thrown string, or `String(error)`) contains
 *   one of the patterns, case-insensitive substring;
 * - function: its result coerced to boolean; a predicate that throws counts as false.
 */
export function shouldRetry(policy: ResolvedRetryPolicy, error: unknown): boolean {
  const { retryOn } = policy;
  if (retryOn === "all") return true;
  if (retryOn === "never") return false;
  if (retryOn === "transient") return isTransientError(error);
  if (typeof retryOn === "function") {
    try {
      return Boolean(retryOn(error));
    } catch {
      return false;
    }
  }
  const message = errorMessage(error).toLowerCase();
  return retryOn.some((pattern) => message.includes(pattern.toLowerCase()));
}
