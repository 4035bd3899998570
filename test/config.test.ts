import os from "node:os";
import { afterEach, describe, expect, it, vi } from "vitest";
import { configFromEnv, noopLogger, resolveConfig, type DefaultRunnerConfig } from "../src/config.js";
import { ConfigurationError } from "../src/errors.js";
import type { Logger } from "../src/types.js";

function configError(fn: () => unknown): ConfigurationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigurationError);
    expect((err as ConfigurationError).code).toBe("CONFIGURATION");
    return err as ConfigurationError;
  }
  throw new Error("expected a ConfigurationError, nothing was thrown");
}

const resolveError = (input: unknown) => configError(() => resolveConfig(input as DefaultRunnerConfig));
const envError = (env: NodeJS.ProcessEnv) => configError(() => configFromEnv(env));

afterEach(() => {
  vi.unstubAllEnvs();
});

describe("resolveConfig", () => {
  it("fills in every default", () => {
    const c = resolveConfig();
    expect(c).toEqual({
      maxConcurrentTasks: 4,
      claimAhead: 60,
      writeLanes: undefined,
      taskTimeoutSeconds: 300,
      workflowTimeoutSeconds: 3600,
      dbPoolSize: 10,
      enableRecovery: true,
      enableCronScheduling: true,
      enableTriggers: true,
      cronPollIntervalSeconds: 30,
      cronMaxCatchupExecutions: 100,
      cronCatchupPolicy: "skip",
      heartbeatIntervalMs: 5000,
      staleClaimThresholdMs: 30000,
      maxTaskRecoveries: 3,
      pollIntervalMs: 1000,
      runnerName: `${os.hostname()}:${process.pid}`,
      logger: noopLogger,
      eventRetentionDays: undefined,
    });
    expect(Object.keys(c)).toContain("eventRetentionDays");
    expect(Object.keys(c)).toContain("writeLanes");
    expect(resolveConfig({})).toEqual(c);
  });

  it("returns a frozen object", () => {
    const c = resolveConfig({ maxConcurrentTasks: 2 });
    expect(Object.isFrozen(c)).toBe(true);
    expect(() => {
      (c as { maxConcurrentTasks: number }).maxConcurrentTasks = 9;
    }).toThrow(TypeError);
  });

  it("claims ahead 15 × maxConcurrentTasks by default, and takes any integer ≥ 0", () => {
    expect(resolveConfig({ maxConcurrentTasks: 32 }).claimAhead).toBe(480);
    expect(resolveConfig({ maxConcurrentTasks: 0 }).claimAhead).toBe(0);
    expect(resolveConfig({ maxConcurrentTasks: 32, claimAhead: 0 }).claimAhead).toBe(0);
    expect(resolveConfig({ claimAhead: 100_000 }).claimAhead).toBe(100_000);
  });

  it("treats undefined fields as absent", () => {
    expect(resolveConfig({ maxConcurrentTasks: undefined, logger: undefined }).maxConcurrentTasks).toBe(4);
  });

  it("keeps every valid value given, including the boundaries", () => {
    const logger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
    const input: Required<DefaultRunnerConfig> = {
      maxConcurrentTasks: 1,
      claimAhead: 0,
      writeLanes: 64,
      taskTimeoutSeconds: 0.5,
      workflowTimeoutSeconds: 7200,
      dbPoolSize: 1,
      enableRecovery: false,
      enableCronScheduling: false,
      enableTriggers: false,
      cronPollIntervalSeconds: 0.25,
      cronMaxCatchupExecutions: 0,
      cronCatchupPolicy: "runAll",
      heartbeatIntervalMs: 10,
      staleClaimThresholdMs: 11,
      maxTaskRecoveries: 0,
      pollIntervalMs: 10,
      runnerName: "r",
      logger,
      eventRetentionDays: 0.5,
    };
    const c = resolveConfig(input);
    expect(c).toEqual(input);
    expect(c.logger).toBe(logger);
    expect(Object.isFrozen(logger)).toBe(false);
    expect(resolveConfig({ cronMaxCatchupExecutions: 1000, cronCatchupPolicy: "runOnce" })).toMatchObject({
      cronMaxCatchupExecutions: 1000,
      cronCatchupPolicy: "runOnce",
    });
    expect(resolveConfig({ runnerName: "x".repeat(200) }).runnerName).toHaveLength(200);
  });

  it("accepts a logger whose methods live on its prototype (pino-style)", () => {
    class ClassLogger {
      debug(): void {}
      info(): void {}
      warn(): void {}
      error(): void {}
    }
    const logger = new ClassLogger();
    expect(resolveConfig({ logger }).logger).toBe(logger);
  });

  it.each([
    ["maxConcurrentTasks", -1, "an integer ≥ 0", "default 4"],
    ["maxConcurrentTasks", 2.5, "an integer ≥ 0", "default 4"],
    ["maxConcurrentTasks", "4", "an integer ≥ 0", "default 4"],
    ["maxConcurrentTasks", Number.NaN, "an integer ≥ 0", "default 4"],
    ["claimAhead", -1, "an integer ≥ 0 (0 = claim only for free slots)", "default 15 × maxConcurrentTasks"],
    ["claimAhead", 1.5, "an integer ≥ 0 (0 = claim only for free slots)", "default 15 × maxConcurrentTasks"],
    ["writeLanes", 0, "an integer 1–64 (PostgreSQL; at most half the pool)", "default 2 with a pool of at least 4 connections not shared with other runners, else 1"],
    ["writeLanes", 65, "an integer 1–64", "default 2 with a pool"],
    ["writeLanes", 1.5, "an integer 1–64", "default 2 with a pool"],
    ["taskTimeoutSeconds", 0, "seconds > 0", "default 300"],
    ["taskTimeoutSeconds", -1, "seconds > 0", "default 300"],
    ["taskTimeoutSeconds", Number.POSITIVE_INFINITY, "seconds > 0", "default 300"],
    ["taskTimeoutSeconds", 3_000_000, "the longest Node timer", "default 300"],
    ["workflowTimeoutSeconds", 0, "seconds > 0", "default 3600"],
    ["dbPoolSize", 0, "an integer ≥ 1", "default 10"],
    ["dbPoolSize", 1.5, "an integer ≥ 1", "default 10"],
    ["enableRecovery", "yes", "true or false", "default true"],
    ["enableCronScheduling", 1, "true or false", "default true"],
    ["enableTriggers", null, "true or false", "default true"],
    ["cronPollIntervalSeconds", 0, "seconds > 0", "default 30"],
    ["cronMaxCatchupExecutions", -1, "an integer from 0 to 1000", "default 100"],
    ["cronMaxCatchupExecutions", 1001, "an integer from 0 to 1000", "default 100"],
    ["cronCatchupPolicy", "run_all", '"skip", "runOnce" or "runAll"', 'default "skip"'],
    ["cronCatchupPolicy", "latest", '"skip", "runOnce" or "runAll"', 'default "skip"'],
    ["heartbeatIntervalMs", 9, "milliseconds ≥ 10", "default 5000"],
    ["heartbeatIntervalMs", 100.5, "milliseconds ≥ 10", "default 5000"],
    ["staleClaimThresholdMs", 0, "greater than heartbeatIntervalMs", "default 30000"],
    ["staleClaimThresholdMs", 2 ** 31, "greater than heartbeatIntervalMs", "default 30000"],
    ["maxTaskRecoveries", -1, "an integer ≥ 0", "default 3"],
    ["pollIntervalMs", 5, "milliseconds ≥ 10", "default 1000"],
    ["runnerName", "", "1 to 200 characters", "default `${os.hostname()}:${process.pid}`"],
    ["runnerName", "x".repeat(201), "1 to 200 characters", "default"],
    ["runnerName", 42, "1 to 200 characters", "default"],
    ["logger", {}, "debug, info, warn and error functions", "default a silent logger"],
    ["logger", { debug() {}, info() {}, warn() {} }, "debug, info, warn and error functions", "default"],
    ["logger", console.log, "debug, info, warn and error functions", "default"],
    ["eventRetentionDays", 0, "days > 0", "keep forever"],
    ["eventRetentionDays", -3, "days > 0", "keep forever"],
  ])("rejects %s = %j, saying what is accepted", (field, value, accepted, dflt) => {
    const err = resolveError({ [field]: value });
    expect(err.message).toContain(`${field}: got `);
    expect(err.message).toContain(accepted);
    expect(err.message).toContain(dflt);
  });

  it("lists every bad field in one error", () => {
    const err = resolveError({ maxConcurrentTasks: -1, dbPoolSize: -1, cronCatchupPolicy: "never", bogus: 1 });
    expect(err.message).toContain("maxConcurrentTasks: got -1");
    expect(err.message).toContain("dbPoolSize: got -1");
    expect(err.message).toContain('cronCatchupPolicy: got "never"');
    expect(err.message).toContain("unknown option 'bogus'");
    expect(err.message.split("\n  - ")).toHaveLength(5);
  });

  it("requires staleClaimThresholdMs > heartbeatIntervalMs, explaining why", () => {
    const err = resolveError({ heartbeatIntervalMs: 5000, staleClaimThresholdMs: 5000 });
    expect(err.message).toContain("staleClaimThresholdMs (5000) must be greater than heartbeatIntervalMs (5000)");
    expect(err.message).toContain("taken over");
    const withDefault = resolveError({ heartbeatIntervalMs: 40_000 });
    expect(withDefault.message).toContain("staleClaimThresholdMs (30000, the default) must be greater than heartbeatIntervalMs (40000)");
    const other = resolveError({ staleClaimThresholdMs: 4000 });
    expect(other.message).toContain("heartbeatIntervalMs (5000, the default)");
    expect(resolveConfig({ heartbeatIntervalMs: 40_000, staleClaimThresholdMs: 120_000 }).staleClaimThresholdMs).toBe(120_000);
  });

  it("rejects unknown options with a suggestion for typos", () => {
    expect(resolveError({ maxConcurentTasks: 3 }).message).toContain(
      "unknown option 'maxConcurentTasks' (did you mean 'maxConcurrentTasks'?)",
    );
    expect(resolveError({ max_concurrent_tasks: 3 }).message).toContain("(did you mean 'maxConcurrentTasks'?)");
    expect(resolveError({ heartbeatIntervalMS: 10 }).message).toContain("(did you mean 'heartbeatIntervalMs'?)");
    expect(resolveError({ enable_cron_scheduling: false }).message).toContain("(did you mean 'enableCronScheduling'?)");
    expect(resolveError({ scheduler_poll_interval_ms: 100 }).message).toContain("(did you mean 'pollIntervalMs'?)");
    const far = resolveError({ somethingElseEntirely: 1 }).message;
    expect(far).toContain("unknown option 'somethingElseEntirely'");
    expect(far).not.toContain("did you mean");
  });

  it("rejects input that is not an object", () => {
    for (const bad of ["x", 3, [1], true]) expect(resolveError(bad).message).toContain("must be an object");
  });

  it("accepts null input like undefined", () => {
    expect(resolveConfig(null as unknown as undefined).maxConcurrentTasks).toBe(4);
  });

  it("a resolved config resolves to itself", () => {
    const c = resolveConfig({ maxConcurrentTasks: 7, eventRetentionDays: 30 });
    expect(resolveConfig(c)).toEqual(c);
  });
});

describe("noopLogger", () => {
  it("has the four methods and does nothing", () => {
    for (const m of ["debug", "info", "warn", "error"] as const) {
      expect(typeof noopLogger[m]).toBe("function");
      expect(noopLogger[m]({ a: 1 }, "msg")).toBeUndefined();
    }
    expect(Object.isFrozen(noopLogger)).toBe(true);
  });
});

describe("configFromEnv", () => {
  const URL = "sqlite:///workflows.db";

  it("requires DATABASE_URL, naming the variable", () => {
    const err = envError({});
    expect(err.message).toContain("DATABASE_URL environment variable is required");
    expect(err.message).toContain("sqlite:///path/to/file.db");
    expect(envError({ DATABASE_URL: "  " }).message).toContain("DATABASE_URL environment variable is required (it is empty)");
  });

  it("validates DATABASE_URL, naming the variable and masking the password", () => {
    const err = envError({ DATABASE_URL: "postgresql://app:S3cr3tPw@h/db?pool_size=3" });
    expect(err.message).toMatch(/^DATABASE_URL: invalid PostgreSQL URL/);
    expect(err.message).toContain('unknown parameter "pool_size"');
    expect(String(err)).not.toContain("S3cr3tPw");
    expect(err.cause).toBeInstanceOf(ConfigurationError);
    expect(envError({ DATABASE_URL: "mysql://app:S3cr3tPw@h/db" }).message).not.toContain("S3cr3tPw");
  });

  it("returns the URL and no options when only DATABASE_URL is set", () => {
    expect(configFromEnv({ DATABASE_URL: ` ${URL}\n` })).toEqual({ url: URL, config: {}, unrecognized: [] });
  });

  it("reads every CLOACA_* option", () => {
    const { config } = configFromEnv({
      DATABASE_URL: URL,
      CLOACA_MAX_CONCURRENT_TASKS: "8",
      CLOACA_CLAIM_AHEAD: "5",
      CLOACA_WRITE_LANES: "3",
      CLOACA_TASK_TIMEOUT_SECONDS: "12.5",
      CLOACA_WORKFLOW_TIMEOUT_SECONDS: "600",
      CLOACA_DB_POOL_SIZE: "20",
      CLOACA_ENABLE_RECOVERY: "false",
      CLOACA_ENABLE_CRON_SCHEDULING: "0",
      CLOACA_ENABLE_TRIGGERS: "no",
      CLOACA_CRON_POLL_INTERVAL_SECONDS: "15",
      CLOACA_CRON_MAX_CATCHUP_EXECUTIONS: "1000",
      CLOACA_CRON_CATCHUP_POLICY: "runOnce",
      CLOACA_HEARTBEAT_INTERVAL_MS: "1e3",
      CLOACA_STALE_CLAIM_THRESHOLD_MS: "10000",
      CLOACA_MAX_TASK_RECOVERIES: "5",
      CLOACA_POLL_INTERVAL_MS: "250",
      CLOACA_RUNNER_NAME: "worker-1",
      CLOACA_EVENT_RETENTION_DAYS: "30",
    });
    expect(config).toEqual({
      maxConcurrentTasks: 8,
      claimAhead: 5,
      writeLanes: 3,
      taskTimeoutSeconds: 12.5,
      workflowTimeoutSeconds: 600,
      dbPoolSize: 20,
      enableRecovery: false,
      enableCronScheduling: false,
      enableTriggers: false,
      cronPollIntervalSeconds: 15,
      cronMaxCatchupExecutions: 1000,
      cronCatchupPolicy: "runOnce",
      heartbeatIntervalMs: 1000,
      staleClaimThresholdMs: 10000,
      maxTaskRecoveries: 5,
      pollIntervalMs: 250,
      runnerName: "worker-1",
      eventRetentionDays: 30,
    });
    expect(resolveConfig(config)).toMatchObject(config);
  });

  it.each([
    ["true", true], ["TRUE", true], ["1", true], ["yes", true], ["Yes", true],
    ["false", false], ["False", false], ["0", false], ["no", false], ["NO", false],
  ])("reads the boolean %s", (raw, value) => {
    expect(configFromEnv({ DATABASE_URL: URL, CLOACA_ENABLE_RECOVERY: raw }).config.enableRecovery).toBe(value);
  });

  it.each([
    ["skip", "skip"], ["SKIP", "skip"], ["runOnce", "runOnce"], ["run_once", "runOnce"], ["run-once", "runOnce"],
    ["runAll", "runAll"], ["RUN_ALL", "runAll"],
  ])("reads the catch-up policy %s", (raw, policy) => {
    expect(configFromEnv({ DATABASE_URL: URL, CLOACA_CRON_CATCHUP_POLICY: raw }).config.cronCatchupPolicy).toBe(policy);
  });

  it("treats an empty variable as unset", () => {
    expect(configFromEnv({ DATABASE_URL: URL, CLOACA_MAX_CONCURRENT_TASKS: "", CLOACA_RUNNER_NAME: " " }).config).toEqual({});
  });

  it.each([
    ["CLOACA_MAX_CONCURRENT_TASKS", "abc", "is not a number"],
    ["CLOACA_MAX_CONCURRENT_TASKS", "4 tasks", "is not a number"],
    ["CLOACA_MAX_CONCURRENT_TASKS", "0x10", "is not a number"],
    ["CLOACA_MAX_CONCURRENT_TASKS", "1_000", "is not a number"],
    ["CLOACA_MAX_CONCURRENT_TASKS", "Infinity", "is not a number"],
    ["CLOACA_MAX_CONCURRENT_TASKS", "2.5", "an integer ≥ 0"],
    ["CLOACA_MAX_CONCURRENT_TASKS", "-1", "an integer ≥ 0"],
    ["CLOACA_TASK_TIMEOUT_SECONDS", "30s", "is not a number"],
    ["CLOACA_TASK_TIMEOUT_SECONDS", "-5", "seconds > 0"],
    ["CLOACA_WORKFLOW_TIMEOUT_SECONDS", "0", "seconds > 0"],
    ["CLOACA_DB_POOL_SIZE", "ten", "is not a number"],
    ["CLOACA_ENABLE_RECOVERY", "maybe", "is not a boolean; expected true, false, 1, 0, yes or no"],
    ["CLOACA_ENABLE_CRON_SCHEDULING", "on", "is not a boolean"],
    ["CLOACA_ENABLE_TRIGGERS", "2", "is not a boolean"],
    ["CLOACA_CRON_POLL_INTERVAL_SECONDS", "-1", "seconds > 0"],
    ["CLOACA_CRON_MAX_CATCHUP_EXECUTIONS", "5000", "an integer from 0 to 1000"],
    ["CLOACA_CRON_CATCHUP_POLICY", "sometimes", "expected skip, runOnce (or run_once) or runAll (or run_all)"],
    ["CLOACA_HEARTBEAT_INTERVAL_MS", "5", "milliseconds ≥ 10"],
    ["CLOACA_STALE_CLAIM_THRESHOLD_MS", "1.5", "greater than heartbeatIntervalMs"],
    ["CLOACA_MAX_TASK_RECOVERIES", "-1", "an integer ≥ 0"],
    ["CLOACA_POLL_INTERVAL_MS", "1", "milliseconds ≥ 10"],
    ["CLOACA_RUNNER_NAME", "x".repeat(201), "1 to 200 characters"],
    ["CLOACA_EVENT_RETENTION_DAYS", "0", "days > 0"],
  ])("names %s=%j in the error", (name, raw, fragment) => {
    const err = envError({ DATABASE_URL: URL, [name]: raw });
    expect(err.message).toContain(name);
    expect(err.message).toContain(fragment);
  });

  it("lists every bad variable", () => {
    const err = envError({ DATABASE_URL: URL, CLOACA_DB_POOL_SIZE: "x", CLOACA_ENABLE_TRIGGERS: "maybe" });
    expect(err.message).toContain('CLOACA_DB_POOL_SIZE="x"');
    expect(err.message).toContain('CLOACA_ENABLE_TRIGGERS="maybe"');
  });

  it("names both variables of the cross-field check", () => {
    const err = envError({ DATABASE_URL: URL, CLOACA_HEARTBEAT_INTERVAL_MS: "40000" });
    expect(err.message).toContain("CLOACA_STALE_CLAIM_THRESHOLD_MS (unset)");
    expect(err.message).toContain("CLOACA_HEARTBEAT_INTERVAL_MS");
    expect(err.message).toContain("must be greater than heartbeatIntervalMs (40000)");
  });

  it("reads and validates CLOACA_SCHEMA", () => {
    const pgUrl = "postgresql://u:p@h/db";
    expect(configFromEnv({ DATABASE_URL: pgUrl, CLOACA_SCHEMA: "tenant_a" }).schema).toBe("tenant_a");
    expect(configFromEnv({ DATABASE_URL: pgUrl })).not.toHaveProperty("schema");
    const bad = envError({ DATABASE_URL: pgUrl, CLOACA_SCHEMA: "pg_evil" });
    expect(bad.message).toMatch(/^CLOACA_SCHEMA: /);
    expect(bad.message).toContain("reserved");
    expect(envError({ DATABASE_URL: pgUrl, CLOACA_SCHEMA: "a-b" }).message).toContain("CLOACA_SCHEMA");
    const onSqlite = envError({ DATABASE_URL: URL, CLOACA_SCHEMA: "tenant_a" });
    expect(onSqlite.message).toContain("CLOACA_SCHEMA");
    expect(onSqlite.message).toContain("multi-tenancy requires PostgreSQL");
  });

  it("reports unknown CLOACA_* variables without failing, suggesting the likely one", () => {
    const { unrecognized, config } = configFromEnv({
      DATABASE_URL: URL,
      CLOACA_MAX_CONCURENT_TASKS: "9",
      CLOACA_BACKEND: "postgres",
      OTHER_VAR: "1",
    });
    expect(config).toEqual({});
    expect(unrecognized).toEqual([
      "CLOACA_BACKEND is not a cloaca setting",
      "CLOACA_MAX_CONCURENT_TASKS is not a cloaca setting (did you mean CLOACA_MAX_CONCURRENT_TASKS?)",
    ]);
  });

  it("reads process.env by default", () => {
    vi.stubEnv("DATABASE_URL", "sqlite:///:memory:");
    vi.stubEnv("CLOACA_MAX_CONCURRENT_TASKS", "3");
    const result = configFromEnv();
    expect(result.url).toBe("sqlite:///:memory:");
    expect(result.config.maxConcurrentTasks).toBe(3);
  });
});
