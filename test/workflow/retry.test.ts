import { describe, expect, it } from "vitest";
import { TaskTimeoutError, WorkflowValidationError } from "../../src/errors.js";
import {
  DEFAULT_RETRY_POLICY,
  isTransientError,
  resolveRetryPolicy,
  retryDelayMs,
  shouldRetry,
  type ResolvedRetryPolicy,
  type RetryPolicy,
} from "../../src/workflow/retry.js";

function validationError(fn: () => unknown): WorkflowValidationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WorkflowValidationError);
    return err as WorkflowValidationError;
  }
  throw new Error("expected a WorkflowValidationError, nothing was thrown");
}

const policy = (p: RetryPolicy): ResolvedRetryPolicy => resolveRetryPolicy(p, "t");

describe("resolveRetryPolicy", () => {
  it("fills in the documented defaults", () => {
    expect(resolveRetryPolicy(undefined, "t")).toEqual({
      maxAttempts: 3,
      backoff: "exponential",
      initialDelayMs: 1000,
      maxDelayMs: 60_000,
      multiplier: 2,
      jitter: true,
      retryOn: "all",
    });
    expect(resolveRetryPolicy({}, "t")).toEqual(DEFAULT_RETRY_POLICY);
    expect(policy({ maxAttempts: 5, backoff: "linear" })).toMatchObject({ maxAttempts: 5, backoff: "linear", initialDelayMs: 1000 });
  });

  it("returns a frozen policy with a frozen copy of a pattern list", () => {
    const patterns = ["rate limit"];
    const p = policy({ retryOn: patterns });
    patterns.push("other");
    expect(p.retryOn).toEqual(["rate limit"]);
    expect(Object.isFrozen(p)).toBe(true);
    expect(Object.isFrozen(p.retryOn)).toBe(true);
  });

  it("raises the default maxDelayMs to initialDelayMs when that is larger", () => {
    expect(policy({ initialDelayMs: 120_000 }).maxDelayMs).toBe(120_000);
  });

  const bad: [string, unknown, string][] = [
    ["maxAttempts 0", { maxAttempts: 0 }, 'task "t": retry.maxAttempts must be an integer ≥ 1 (got 0)'],
    ["maxAttempts 1.5", { maxAttempts: 1.5 }, 'task "t": retry.maxAttempts must be an integer ≥ 1 (got 1.5)'],
    ["maxAttempts string", { maxAttempts: "3" }, 'task "t": retry.maxAttempts must be an integer ≥ 1 (got "3")'],
    ["negative initialDelayMs", { initialDelayMs: -1 }, 'task "t": retry.initialDelayMs must be an integer ≥ 0 (ms) (got -1)'],
    ["negative maxDelayMs", { maxDelayMs: -5 }, 'task "t": retry.maxDelayMs must be an integer ≥ 0 (ms) (got -5)'],
    ["multiplier < 1", { multiplier: 0.5 }, 'task "t": retry.multiplier must be a finite number ≥ 1 (got 0.5)'],
    ["multiplier Infinity", { multiplier: Infinity }, 'task "t": retry.multiplier must be a finite number ≥ 1 (got Infinity)'],
    ["unknown backoff", { backoff: "exp" }, 'task "t": retry.backoff must be one of "fixed", "linear", "exponential" (got "exp")'],
    ["jitter not boolean", { jitter: "yes" }, 'task "t": retry.jitter must be a boolean (got "yes")'],
  ];
  for (const [label, input, message] of bad) {
    it(`rejects ${label}`, () => {
      expect(validationError(() => resolveRetryPolicy(input as RetryPolicy, "t")).message).toBe(message);
    });
  }

  it("rejects an unknown retryOn string (no fallback to all)", () => {
    const err = validationError(() => policy({ retryOn: "transient_only" as unknown as "all" }));
    expect(err.message).toContain('task "t": retry.retryOn must be "all", "transient", "never", a non-empty array');
    expect(err.message).toContain('(got "transient_only")');
  });

  it("rejects a retryOn array that is empty or holds non-strings", () => {
    expect(validationError(() => policy({ retryOn: [] })).message).toContain("retry.retryOn must be");
    expect(validationError(() => policy({ retryOn: [1] as unknown as string[] })).message).toContain("retry.retryOn must be");
    expect(validationError(() => policy({ retryOn: [""] })).message).toContain("retry.retryOn must be");
  });

  it("rejects unknown fields and lists the accepted ones", () => {
    const err = validationError(() => policy({ retries: 3 } as RetryPolicy));
    expect(err.message).toBe(
      'task "t": retry has unknown field "retries" (accepted: maxAttempts, backoff, initialDelayMs, maxDelayMs, multiplier, jitter, retryOn)',
    );
  });

  it("rejects maxDelayMs below initialDelayMs", () => {
    expect(validationError(() => policy({ initialDelayMs: 500, maxDelayMs: 100 })).message).toBe(
      'task "t": retry.maxDelayMs must be ≥ initialDelayMs (got maxDelayMs 100 < initialDelayMs 500)',
    );
  });

  it("rejects a non-object", () => {
    expect(validationError(() => resolveRetryPolicy(3 as unknown as RetryPolicy, "t")).message).toContain(
      'task "t": retry must be an object',
    );
  });
});

describe("retryDelayMs", () => {
  const noJitter = { jitter: false, initialDelayMs: 100, maxDelayMs: 100_000 } as const;

  it("fixed: always the initial delay", () => {
    const p = policy({ ...noJitter, backoff: "fixed" });
    expect([1, 2, 3, 10].map((n) => retryDelayMs(p, n))).toEqual([100, 100, 100, 100]);
  });

  it("linear: initial × failedAttempt", () => {
    const p = policy({ ...noJitter, backoff: "linear" });
    expect([1, 2, 3, 4].map((n) => retryDelayMs(p, n))).toEqual([100, 200, 300, 400]);
  });

  it("exponential: initial × multiplier^(failedAttempt − 1)", () => {
    expect([1, 2, 3, 4].map((n) => retryDelayMs(policy({ ...noJitter }), n))).toEqual([100, 200, 400, 800]);
    expect([1, 2, 3].map((n) => retryDelayMs(policy({ ...noJitter, multiplier: 3 }), n))).toEqual([100, 300, 900]);
    expect([1, 2, 3].map((n) => retryDelayMs(policy({ ...noJitter, multiplier: 1.5 }), n))).toEqual([100, 150, 225]);
  });

  it("caps at maxDelayMs, including for huge attempt numbers", () => {
    const p = policy({ jitter: false, initialDelayMs: 1000, maxDelayMs: 5000 });
    expect([1, 2, 3, 4, 5, 2000].map((n) => retryDelayMs(p, n))).toEqual([1000, 2000, 4000, 5000, 5000, 5000]);
  });

  it("treats failedAttempt below 1 as 1", () => {
    const p = policy({ ...noJitter });
    expect(retryDelayMs(p, 0)).toBe(100);
    expect(retryDelayMs(p, -3)).toBe(100);
  });

  it("jitter multiplies by a factor in [0.75, 1.25] chosen by random()", () => {
    const p = policy({ jitter: true, backoff: "fixed", initialDelayMs: 1000, maxDelayMs: 10_000 });
    expect(retryDelayMs(p, 1, () => 0)).toBe(750);
    expect(retryDelayMs(p, 1, () => 0.5)).toBe(1000);
    expect(retryDelayMs(p, 1, () => 0.999999)).toBe(1250);
    for (let i = 0; i < 200; i++) {
      const d = retryDelayMs(p, 1);
      expect(d).toBeGreaterThanOrEqual(750);
      expect(d).toBeLessThanOrEqual(1250);
      expect(Number.isInteger(d)).toBe(true);
    }
  });

  it("jitter is capped again at maxDelayMs", () => {
    const p = policy({ jitter: true, backoff: "fixed", initialDelayMs: 1000, maxDelayMs: 1100 });
    expect(retryDelayMs(p, 1, () => 0.999999)).toBe(1100);
    expect(retryDelayMs(p, 1, () => 0)).toBe(750);
  });

  it("returns integer milliseconds", () => {
    const p = policy({ jitter: true, backoff: "fixed", initialDelayMs: 333, maxDelayMs: 1000 });
    expect(retryDelayMs(p, 1, () => 0.123)).toBe(Math.round(333 * (0.75 + 0.5 * 0.123)));
  });
});

describe("shouldRetry", () => {
  it('"all" retries anything, "never" nothing', () => {
    expect(shouldRetry(policy({ retryOn: "all" }), new Error("boom"))).toBe(true);
    expect(shouldRetry(policy({ retryOn: "all" }), "a string")).toBe(true);
    expect(shouldRetry(policy({ retryOn: "never" }), new TaskTimeoutError("t", 5))).toBe(false);
  });

  describe('"transient"', () => {
    const p = policy({ retryOn: "transient" });
    const withCode = (code: string): Error => Object.assign(new Error("socket problem"), { code });

    it("retries TaskTimeoutError", () => {
      expect(shouldRetry(p, new TaskTimeoutError("t", 1000))).toBe(true);
    });

    it("retries the listed Node network codes", () => {
      for (const code of ["ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "EPIPE", "EAI_AGAIN"]) {
        expect(shouldRetry(p, withCode(code))).toBe(true);
      }
      expect(shouldRetry(p, withCode("ENOENT"))).toBe(false);
    });

    it("follows the cause chain (fetch failed → ECONNREFUSED)", () => {
      const err = new TypeError("fetch failed", { cause: withCode("ECONNREFUSED") });
      expect(shouldRetry(p, err)).toBe(true);
    });

    it("retries messages that look transient", () => {
      for (const message of [
        "Request Timeout",
        "operation timed out",
        "Temporary failure in name resolution",
        "temporarily down",
        "Service Unavailable",
        "connection reset by peer",
        "Connection refused",
        "rate limit exceeded",
        "Too Many Requests",
        "HTTP 503",
        "status 429",
      ]) {
        expect(shouldRetry(p, new Error(message)), message).toBe(true);
      }
      expect(shouldRetry(p, "upstream timed out")).toBe(true);
    });

    it("does not retry other errors", () => {
      for (const message of ["invalid input", "TypeError: x is undefined", "HTTP 404", "id 15030"]) {
        expect(shouldRetry(p, new Error(message)), message).toBe(false);
      }
      expect(shouldRetry(p, undefined)).toBe(false);
      expect(isTransientError(null)).toBe(false);
    });
  });

  it("string[]: case-insensitive substring of the message", () => {
    const p = policy({ retryOn: ["Rate Limit", "deadlock"] });
    expect(shouldRetry(p, new Error("RATE LIMIT hit"))).toBe(true);
    expect(shouldRetry(p, new Error("found a DEADLOCK"))).toBe(true);
    expect(shouldRetry(p, "deadlock detected")).toBe(true);
    expect(shouldRetry(p, { message: "rate limit" })).toBe(true);
    expect(shouldRetry(p, new Error("bad input"))).toBe(false);
  });

  it("function: its result; a throwing predicate counts as false", () => {
    const seen: unknown[] = [];
    const p = policy({
      retryOn: (err) => {
        seen.push(err);
        return err instanceof RangeError;
      },
    });
    const err = new RangeError("x");
    expect(shouldRetry(p, err)).toBe(true);
    expect(shouldRetry(p, new Error("y"))).toBe(false);
    expect(seen[0]).toBe(err);
    const throwing = policy({
      retryOn: () => {
        throw new Error("predicate bug");
      },
    });
    expect(shouldRetry(throwing, new Error("z"))).toBe(false);
  });
});
