/**
 * Runner configuration (SPEC §2.5): the {@link DefaultRunnerConfig} options object, its validation and defaults
 * ({@link resolveConfig}), and the environment form read by `DefaultRunner.fromEnv()` ({@link configFromEnv}).
 *
 * Validation happens once; the result is frozen. Every bad field is reported in one {@link ConfigurationError}
 * that says what is accepted. Unknown options are errors (with a "did you mean" suggestion), never ignored.
 */
import os from "node:os";
import { z } from "zod";
import { parseDatabaseUrl, validateSchemaName } from "./database-url.js";
import { ConfigurationError } from "./errors.js";
import type { Logger } from "./types.js";

/** What the cron loop does with due times missed while no runner was up. */
export type CronCatchupPolicy = "skip" | "runOnce" | "runAll";

/**
 * Options of a `DefaultRunner`. Every field is optional; `undefined` means the default shown. Bad values and
 * unknown keys throw {@link ConfigurationError}.
 */
export interface DefaultRunnerConfig {
  /**
   * Task bodies running at once in this runner. Integer ≥ 0. Default `4`. `0` makes a submit-only runner
   * (an API process in front of workers): it starts executions and waits for results but runs no task.
   */
  maxConcurrentTasks?: number;
  /**
   * Claimed tasks a runner may hold beyond `maxConcurrentTasks`, waiting for a body to end, so the next
   * body starts without a round trip and claims and outcomes travel in larger batches. It claims ahead only
   * as many as its bodies will start within about 5 ms at their recent pace (none until a body has ended,
   * none while bodies are long), and hands back any that waited 50 ms. Integer ≥ 0; `0` claims only for
   * free slots. Default `15 × maxConcurrentTasks` (so at C = 32 a runner's claims fill both write lanes'
   * batches of 256; see docs/retries-and-timeouts.md#claim-ahead).
   */
  claimAhead?: number;
  /**
   * PostgreSQL: write transactions (outcomes, new executions) a runner keeps in flight at once, each on its
   * own connection. An execution's writes always go to the same lane (chosen by its id), so two lanes never
   * write the same rows. Integer 1–64, at most half the pool. Default `2` when the runner has a pool of at
   * least 4 connections to itself when it connects, else `1` (runners in one process with the same
   * connection settings share a pool: tenants by schema then write in one lane each). SQLite has one
   * writer and always writes in one lane.
   */
  writeLanes?: number;
  /** Default per-attempt task timeout (a task's own `timeoutMs` wins), in seconds. > 0. Default `300`. */
  taskTimeoutSeconds?: number;
  /** How long `runner.execute()` waits for a result before `ExecutionTimeoutError`, in seconds. > 0. Default `3600`. */
  workflowTimeoutSeconds?: number;
  /** PostgreSQL pool size (a `pool_max_size` URL parameter wins). Integer ≥ 1. Default `10`. */
  dbPoolSize?: number;
  /** Take over tasks of runners whose heartbeat lease expired. Default `true`. */
  enableRecovery?: boolean;
  /** Run cron schedules in this runner. Default `true`. */
  enableCronScheduling?: boolean;
  /** Poll event triggers in this runner. Default `true`. */
  enableTriggers?: boolean;
  /** Backstop poll of the cron loop, in seconds (cron fires on time by timer). > 0. Default `30`. */
  cronPollIntervalSeconds?: number;
  /** Most missed runs replayed per schedule under `"runAll"`. Integer 0–1000. Default `100`. */
  cronMaxCatchupExecutions?: number;
  /** Missed cron runs after downtime: `"skip"` them, run the latest once (`"runOnce"`), or `"runAll"`. Default `"skip"`. */
  cronCatchupPolicy?: CronCatchupPolicy;
  /** How often this runner renews its lease, in ms. Integer ≥ 10. Default `5000`. */
  heartbeatIntervalMs?: number;
  /**
   * This runner's lease length, in ms: once its lease is older than this (database clock), other runners
   * take over its tasks. Registered with the lease, so other runners judge this runner by this value, not by
   * their own. Integer, must be greater than `heartbeatIntervalMs`. Default `30000`.
   */
  staleClaimThresholdMs?: number;
  /** Lease takeovers a task survives; one more and it fails as abandoned. Integer ≥ 0. Default `3`. */
  maxTaskRecoveries?: number;
  /** Backstop poll for ready work, in ms (notifications do the real waking). Integer ≥ 10. Default `1000`. */
  pollIntervalMs?: number;
  /** Name of this runner in claims, events and logs. 1–200 characters. Default `` `${os.hostname()}:${process.pid}` ``. */
  runnerName?: string;
  /** Structured logger (pino-shaped: `debug`/`info`/`warn`/`error`). Default {@link noopLogger} (silent). */
  logger?: Logger;
  /** Delete execution events older than this many days. > 0. Default `undefined`: keep everything. */
  eventRetentionDays?: number;
}

/** A validated configuration: every field present, the object frozen. See {@link DefaultRunnerConfig}. */
export interface ResolvedConfig {
  readonly maxConcurrentTasks: number;
  readonly claimAhead: number;
  /** `undefined`: chosen from the pool size (see {@link DefaultRunnerConfig.writeLanes}). */
  readonly writeLanes: number | undefined;
  readonly taskTimeoutSeconds: number;
  readonly workflowTimeoutSeconds: number;
  readonly dbPoolSize: number;
  readonly enableRecovery: boolean;
  readonly enableCronScheduling: boolean;
  readonly enableTriggers: boolean;
  readonly cronPollIntervalSeconds: number;
  readonly cronMaxCatchupExecutions: number;
  readonly cronCatchupPolicy: CronCatchupPolicy;
  readonly heartbeatIntervalMs: number;
  readonly staleClaimThresholdMs: number;
  readonly maxTaskRecoveries: number;
  readonly pollIntervalMs: number;
  readonly runnerName: string;
  readonly logger: Logger;
  /** `undefined`: keep events forever. */
  readonly eventRetentionDays: number | undefined;
}

/** A logger that drops everything: the default, so the library never writes to stdout on its own. */
export const noopLogger: Logger = Object.freeze({
  debug(): void {},
  info(): void {},
  warn(): void {},
  error(): void {},
});

/**
 * The default `claimAhead`, per body permit. With quick bodies the pace allows more than this, so it is
 * what binds: 15 gives a runner of C = 32 up to 512 claimed tasks, two full write batches (one per write
 * lane). Three, the default until session 16, was set before there were write lanes; deeper claims measured
 * faster on PostgreSQL at N=150 and N=2000, and no different on SQLite (docs/benchmarks.md, session 16).
 */
const CLAIM_AHEAD_PER_PERMIT = 15;

/** The largest delay a Node timer can hold (setTimeout fires at once beyond it): 2^31−1 ms, about 24.8 days. */
const MAX_TIMER_MS = 2_147_483_647;
const MAX_TIMER_SECONDS = Math.floor(MAX_TIMER_MS / 1000);

type Key = keyof DefaultRunnerConfig;

/** Per field: the zod schema, what is accepted (for messages) and the default (for messages). */
const FIELDS = {
  maxConcurrentTasks: { schema: z.int().min(0).max(100_000), accepted: "an integer ≥ 0 (0 = submit-only)", default: "4" },
  claimAhead: { schema: z.int().min(0).max(100_000), accepted: "an integer ≥ 0 (0 = claim only for free slots)", default: `${CLAIM_AHEAD_PER_PERMIT} × maxConcurrentTasks` },
  writeLanes: {
    schema: z.int().min(1).max(64),
    accepted: "an integer 1–64 (PostgreSQL; at most half the pool)",
    default: "2 with a pool of at least 4 connections not shared with other runners, else 1",
  },
  taskTimeoutSeconds: {
    schema: z.number().positive().max(MAX_TIMER_SECONDS),
    accepted: `a number of seconds > 0 (at most ${MAX_TIMER_SECONDS}, the longest Node timer)`,
    default: "300",
  },
  workflowTimeoutSeconds: {
    schema: z.number().positive().max(MAX_TIMER_SECONDS),
    accepted: `a number of seconds > 0 (at most ${MAX_TIMER_SECONDS}, the longest Node timer)`,
    default: "3600",
  },
  dbPoolSize: { schema: z.int().min(1).max(100_000), accepted: "an integer ≥ 1", default: "10" },
  enableRecovery: { schema: z.boolean(), accepted: "true or false", default: "true" },
  enableCronScheduling: { schema: z.boolean(), accepted: "true or false", default: "true" },
  enableTriggers: { schema: z.boolean(), accepted: "true or false", default: "true" },
  cronPollIntervalSeconds: {
    schema: z.number().positive().max(MAX_TIMER_SECONDS),
    accepted: `a number of seconds > 0 (at most ${MAX_TIMER_SECONDS})`,
    default: "30",
  },
  cronMaxCatchupExecutions: { schema: z.int().min(0).max(1000), accepted: "an integer from 0 to 1000", default: "100" },
  cronCatchupPolicy: {
    schema: z.enum(["skip", "runOnce", "runAll"]),
    accepted: '"skip", "runOnce" or "runAll"',
    default: '"skip"',
  },
  heartbeatIntervalMs: {
    schema: z.int().min(10).max(MAX_TIMER_MS),
    accepted: `an integer number of milliseconds ≥ 10 (at most ${MAX_TIMER_MS})`,
    default: "5000",
  },
  staleClaimThresholdMs: {
    schema: z.int().min(1).max(MAX_TIMER_MS),
    accepted: `an integer number of milliseconds greater than heartbeatIntervalMs (at most ${MAX_TIMER_MS})`,
    default: "30000",
  },
  maxTaskRecoveries: { schema: z.int().min(0).max(1_000_000), accepted: "an integer ≥ 0", default: "3" },
  pollIntervalMs: {
    schema: z.int().min(10).max(MAX_TIMER_MS),
    accepted: `an integer number of milliseconds ≥ 10 (at most ${MAX_TIMER_MS})`,
    default: "1000",
  },
  runnerName: {
    schema: z.string().min(1).max(200),
    accepted: "a string of 1 to 200 characters",
    default: "`${os.hostname()}:${process.pid}`",
  },
  logger: {
    schema: z.custom<Logger>(isLogger),
    accepted: "an object with debug, info, warn and error functions (pino-shaped)",
    default: "a silent logger",
  },
  eventRetentionDays: {
    schema: z.number().positive().max(1_000_000),
    accepted: "a number of days > 0 (leave it out to keep events forever)",
    default: "undefined (keep forever)",
  },
} satisfies Record<Key, { schema: z.ZodType; accepted: string; default: string }>;

const KEYS = Object.keys(FIELDS) as Key[];

const ConfigSchema = z.strictObject({
  maxConcurrentTasks: FIELDS.maxConcurrentTasks.schema.optional(),
  claimAhead: FIELDS.claimAhead.schema.optional(),
  writeLanes: FIELDS.writeLanes.schema.optional(),
  taskTimeoutSeconds: FIELDS.taskTimeoutSeconds.schema.optional(),
  workflowTimeoutSeconds: FIELDS.workflowTimeoutSeconds.schema.optional(),
  dbPoolSize: FIELDS.dbPoolSize.schema.optional(),
  enableRecovery: FIELDS.enableRecovery.schema.optional(),
  enableCronScheduling: FIELDS.enableCronScheduling.schema.optional(),
  enableTriggers: FIELDS.enableTriggers.schema.optional(),
  cronPollIntervalSeconds: FIELDS.cronPollIntervalSeconds.schema.optional(),
  cronMaxCatchupExecutions: FIELDS.cronMaxCatchupExecutions.schema.optional(),
  cronCatchupPolicy: FIELDS.cronCatchupPolicy.schema.optional(),
  heartbeatIntervalMs: FIELDS.heartbeatIntervalMs.schema.optional(),
  staleClaimThresholdMs: FIELDS.staleClaimThresholdMs.schema.optional(),
  maxTaskRecoveries: FIELDS.maxTaskRecoveries.schema.optional(),
  pollIntervalMs: FIELDS.pollIntervalMs.schema.optional(),
  runnerName: FIELDS.runnerName.schema.optional(),
  logger: FIELDS.logger.schema.optional(),
  eventRetentionDays: FIELDS.eventRetentionDays.schema.optional(),
});

function isLogger(value: unknown): value is Logger {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return ["debug", "info", "warn", "error"].every((m) => typeof v[m] === "function");
}

/** Names the reference (Python/Rust) uses for things that have another name here. */
const RENAMED: Record<string, Key> = {
  schedulerpollintervalms: "pollIntervalMs",
  enabletriggerscheduling: "enableTriggers",
  runnerid: "runnerName",
  heartbeatinterval: "heartbeatIntervalMs",
  staleclaimthreshold: "staleClaimThresholdMs",
};

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost));
    }
    prev = row;
  }
  return prev[b.length] as number;
}

/** The closest name in `candidates` to `name` (ignoring case, `_` and `-`), if it is close enough to be a typo. */
function suggest(name: string, candidates: readonly string[], renamed: Record<string, string> = {}): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[_-]/g, "");
  const n = norm(name);
  if (Object.hasOwn(renamed, n)) return renamed[n];
  let best: { name: string; distance: number } | undefined;
  for (const c of candidates) {
    const d = levenshtein(n, norm(c));
    if (best === undefined || d < best.distance) best = { name: c, distance: d };
  }
  if (best === undefined) return undefined;
  return best.distance <= Math.max(2, Math.floor(n.length / 5)) ? best.name : undefined;
}

/** A short, safe description of a received value for an error message. */
function describe(value: unknown): string {
  if (value === undefined) return "undefined";
  if (value === null) return "null";
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

interface Problem {
  /** The option concerned (for cross-field problems, the one to change). */
  key: Key | undefined;
  /** Options the problem involves (to name environment variables). */
  keys: Key[];
  message: string;
}

/** All problems of `input`, or the resolved config. */
function check(input: unknown): { ok: true; config: ResolvedConfig } | { ok: false; problems: Problem[] } {
  if (input === undefined || input === null) input = {};
  if (typeof input !== "object" || Array.isArray(input)) {
    return {
      ok: false,
      problems: [{ key: undefined, keys: [], message: `it must be an object, got ${describe(input)}` }],
    };
  }
  const parsed = ConfigSchema.safeParse(input);
  const problems: Problem[] = [];
  if (!parsed.success) {
    const seen = new Set<string>();
    for (const issue of parsed.error.issues) {
      if (issue.code === "unrecognized_keys") {
        for (const k of issue.keys) {
          const hint = suggest(k, KEYS, RENAMED);
          problems.push({
            key: undefined,
            keys: [],
            message: `unknown option '${k.length > 80 ? `${k.slice(0, 80)}…` : k}'${hint ? ` (did you mean '${hint}'?)` : ""}`,
          });
        }
        continue;
      }
      const key = issue.path[0];
      if (typeof key !== "string" || !Object.hasOwn(FIELDS, key) || seen.has(key)) continue;
      seen.add(key);
      const field = FIELDS[key as Key];
      const received = (input as Record<string, unknown>)[key];
      problems.push({
        key: key as Key,
        keys: [key as Key],
        message: `${key}: got ${describe(received)}; expected ${field.accepted}; default ${field.default}`,
      });
    }
    return { ok: false, problems };
  }
  const v = parsed.data;
  const config: ResolvedConfig = {
    maxConcurrentTasks: v.maxConcurrentTasks ?? 4,
    claimAhead: v.claimAhead ?? CLAIM_AHEAD_PER_PERMIT * (v.maxConcurrentTasks ?? 4),
    writeLanes: v.writeLanes,
    taskTimeoutSeconds: v.taskTimeoutSeconds ?? 300,
    workflowTimeoutSeconds: v.workflowTimeoutSeconds ?? 3600,
    dbPoolSize: v.dbPoolSize ?? 10,
    enableRecovery: v.enableRecovery ?? true,
    enableCronScheduling: v.enableCronScheduling ?? true,
    enableTriggers: v.enableTriggers ?? true,
    cronPollIntervalSeconds: v.cronPollIntervalSeconds ?? 30,
    cronMaxCatchupExecutions: v.cronMaxCatchupExecutions ?? 100,
    cronCatchupPolicy: v.cronCatchupPolicy ?? "skip",
    heartbeatIntervalMs: v.heartbeatIntervalMs ?? 5000,
    staleClaimThresholdMs: v.staleClaimThresholdMs ?? 30000,
    maxTaskRecoveries: v.maxTaskRecoveries ?? 3,
    pollIntervalMs: v.pollIntervalMs ?? 1000,
    runnerName: v.runnerName ?? `${os.hostname()}:${process.pid}`,
    logger: v.logger ?? noopLogger,
    eventRetentionDays: v.eventRetentionDays,
  };
  if (config.staleClaimThresholdMs <= config.heartbeatIntervalMs) {
    const stale = `${config.staleClaimThresholdMs}${v.staleClaimThresholdMs === undefined ? ", the default" : ""}`;
    const beat = `${config.heartbeatIntervalMs}${v.heartbeatIntervalMs === undefined ? ", the default" : ""}`;
    problems.push({
      key: "staleClaimThresholdMs",
      keys: ["staleClaimThresholdMs", "heartbeatIntervalMs"],
      message:
        `staleClaimThresholdMs (${stale}) must be greater than heartbeatIntervalMs (${beat}): a live runner's lease ` +
        "must outlast the time between two heartbeats, or its tasks would be taken over while it runs them " +
        "(a threshold of 3 × heartbeatIntervalMs or more is a good choice)",
    });
    return { ok: false, problems };
  }
  return { ok: true, config: Object.freeze(config) };
}

function report(intro: string, problems: readonly string[]): ConfigurationError {
  return new ConfigurationError(
    problems.length === 1 ? `${intro}: ${problems[0]}` : `${intro}:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
  );
}

/**
 * Validates a {@link DefaultRunnerConfig} and fills in the defaults. The result is frozen (the logger object
 * itself is not touched).
 *
 * @throws {ConfigurationError} listing every bad field with what is accepted, every unknown key (with a
 *   suggestion when it looks like a typo), and `staleClaimThresholdMs ≤ heartbeatIntervalMs`.
 */
export function resolveConfig(input?: DefaultRunnerConfig): ResolvedConfig {
  const result = check(input);
  if (result.ok) return result.config;
  throw report(
    "invalid runner configuration",
    result.problems.map((p) => p.message),
  );
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Environment                                                                                                  */
/* ------------------------------------------------------------------------------------------------------------ */

type EnvKind = "number" | "boolean" | "string" | "policy";

/** The `CLOACA_*` variable of each option that can come from the environment (all but `logger`). */
const ENV_VARS: ReadonlyArray<readonly [string, Key, EnvKind]> = [
  ["CLOACA_MAX_CONCURRENT_TASKS", "maxConcurrentTasks", "number"],
  ["CLOACA_CLAIM_AHEAD", "claimAhead", "number"],
  ["CLOACA_WRITE_LANES", "writeLanes", "number"],
  ["CLOACA_TASK_TIMEOUT_SECONDS", "taskTimeoutSeconds", "number"],
  ["CLOACA_WORKFLOW_TIMEOUT_SECONDS", "workflowTimeoutSeconds", "number"],
  ["CLOACA_DB_POOL_SIZE", "dbPoolSize", "number"],
  ["CLOACA_ENABLE_RECOVERY", "enableRecovery", "boolean"],
  ["CLOACA_ENABLE_CRON_SCHEDULING", "enableCronScheduling", "boolean"],
  ["CLOACA_ENABLE_TRIGGERS", "enableTriggers", "boolean"],
  ["CLOACA_CRON_POLL_INTERVAL_SECONDS", "cronPollIntervalSeconds", "number"],
  ["CLOACA_CRON_MAX_CATCHUP_EXECUTIONS", "cronMaxCatchupExecutions", "number"],
  ["CLOACA_CRON_CATCHUP_POLICY", "cronCatchupPolicy", "policy"],
  ["CLOACA_HEARTBEAT_INTERVAL_MS", "heartbeatIntervalMs", "number"],
  ["CLOACA_STALE_CLAIM_THRESHOLD_MS", "staleClaimThresholdMs", "number"],
  ["CLOACA_MAX_TASK_RECOVERIES", "maxTaskRecoveries", "number"],
  ["CLOACA_POLL_INTERVAL_MS", "pollIntervalMs", "number"],
  ["CLOACA_RUNNER_NAME", "runnerName", "string"],
  ["CLOACA_EVENT_RETENTION_DAYS", "eventRetentionDays", "number"],
];

const ENV_NAME = new Map<Key, string>(ENV_VARS.map(([name, key]) => [key, name]));

/** `CLOACA_*` variables read by {@link configFromEnv} besides the option ones. */
const OTHER_ENV_VARS = ["CLOACA_SCHEMA"];

const POLICIES: Record<string, CronCatchupPolicy> = { skip: "skip", runonce: "runOnce", runall: "runAll" };

/** What {@link configFromEnv} read. */
export interface EnvConfig {
  /** `DATABASE_URL` (trimmed; already validated with `parseDatabaseUrl`). */
  url: string;
  /** Options from the `CLOACA_*` variables that are set (validated; not yet defaulted). */
  config: DefaultRunnerConfig;
  /** `CLOACA_SCHEMA`, validated with `validateSchemaName` (PostgreSQL URLs only). */
  schema?: string;
  /**
   * `CLOACA_*` variables that cloaca does not know, each with a suggestion when it looks like a typo. They are
   * not errors (other tools may use the prefix); log them as warnings.
   */
  unrecognized: string[];
}

/**
 * Reads the runner configuration from the environment for `DefaultRunner.fromEnv()`.
 *
 * - `DATABASE_URL` is required and is validated.
 * - Options: `CLOACA_MAX_CONCURRENT_TASKS`, `CLOACA_TASK_TIMEOUT_SECONDS`, `CLOACA_WORKFLOW_TIMEOUT_SECONDS`,
 *   `CLOACA_DB_POOL_SIZE`, `CLOACA_ENABLE_RECOVERY`, `CLOACA_ENABLE_CRON_SCHEDULING`, `CLOACA_ENABLE_TRIGGERS`,
 *   `CLOACA_CRON_POLL_INTERVAL_SECONDS`, `CLOACA_CRON_MAX_CATCHUP_EXECUTIONS`, `CLOACA_CRON_CATCHUP_POLICY`
 *   (`skip`, `runOnce`/`run_once`, `runAll`/`run_all`, any case), `CLOACA_HEARTBEAT_INTERVAL_MS`,
 *   `CLOACA_STALE_CLAIM_THRESHOLD_MS`, `CLOACA_MAX_TASK_RECOVERIES`, `CLOACA_POLL_INTERVAL_MS`,
 *   `CLOACA_RUNNER_NAME`, `CLOACA_EVENT_RETENTION_DAYS`. Numbers are parsed strictly (decimal, no units);
 *   booleans are `true`/`false`/`1`/`0`/`yes`/`no` (any case). An empty variable counts as unset.
 * - `CLOACA_SCHEMA`: a tenant schema (PostgreSQL only).
 *
 * @param env The environment to read. Default `process.env`.
 * @throws {ConfigurationError} naming the variable: `DATABASE_URL` missing or invalid, a bad value (all bad
 *   variables are listed), `CLOACA_SCHEMA` invalid or used with a SQLite URL.
 */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): EnvConfig {
  const get = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === "" ? undefined : value;
  };
  const url = get("DATABASE_URL");
  if (url === undefined) {
    throw new ConfigurationError(
      `DATABASE_URL environment variable is required${env.DATABASE_URL !== undefined ? " (it is empty)" : ""}: ` +
        "set it to sqlite:///path/to/file.db, sqlite:///:memory: or postgresql://user:pass@host:5432/db",
    );
  }
  let target: ReturnType<typeof parseDatabaseUrl>;
  try {
    target = parseDatabaseUrl(url);
  } catch (err) {
    throw new ConfigurationError(`DATABASE_URL: ${(err as Error).message}`, { cause: err });
  }

  const problems: string[] = [];
  const config: Record<string, unknown> = {};
  const varOf = new Map<Key, string>();
  for (const [name, key, kind] of ENV_VARS) {
    const raw = get(name);
    if (raw === undefined) continue;
    varOf.set(key, name);
    const field = FIELDS[key];
    const shown = JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw);
    if (kind === "number") {
      if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(raw)) {
        problems.push(`${name}=${shown} is not a number; expected ${field.accepted}; default ${field.default}`);
        continue;
      }
      config[key] = Number(raw);
    } else if (kind === "boolean") {
      const b = { true: true, false: false, "1": true, "0": false, yes: true, no: false }[raw.toLowerCase()];
      if (b === undefined) {
        problems.push(`${name}=${shown} is not a boolean; expected true, false, 1, 0, yes or no; default ${field.default}`);
        continue;
      }
      config[key] = b;
    } else if (kind === "policy") {
      const norm = raw.toLowerCase().replace(/[_-]/g, "");
      const policy = Object.hasOwn(POLICIES, norm) ? POLICIES[norm] : undefined;
      if (policy === undefined) {
        problems.push(`${name}=${shown} is not accepted; expected skip, runOnce (or run_once) or runAll (or run_all)`);
        continue;
      }
      config[key] = policy;
    } else {
      config[key] = raw;
    }
  }
  if (problems.length === 0) {
    const result = check(config);
    if (!result.ok) {
      for (const p of result.problems) {
        const names = p.keys.map((k) => varOf.get(k) ?? `${ENV_NAME.get(k) ?? k} (unset)`);
        const value = p.key !== undefined ? get(varOf.get(p.key) ?? "") : undefined;
        problems.push(
          p.keys.length > 1
            ? `${names.join(" / ")}: ${p.message}`
            : `${names[0]}${value !== undefined ? `=${JSON.stringify(value)}` : ""}: ${p.message}`,
        );
      }
    }
  }
  if (problems.length > 0) throw report("invalid cloaca environment", problems);

  const result: EnvConfig = { url, config: config as DefaultRunnerConfig, unrecognized: [] };
  const schema = get("CLOACA_SCHEMA");
  if (schema !== undefined) {
    try {
      result.schema = validateSchemaName(schema);
    } catch (err) {
      throw new ConfigurationError(`CLOACA_SCHEMA: ${(err as Error).message}`, { cause: err });
    }
    if (target.kind !== "postgres") {
      throw new ConfigurationError(
        "CLOACA_SCHEMA is set but DATABASE_URL is a SQLite URL: multi-tenancy requires PostgreSQL " +
          "(unset CLOACA_SCHEMA or use a postgresql:// URL)",
      );
    }
  }
  const known = [...ENV_VARS.map(([name]) => name), ...OTHER_ENV_VARS];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith("CLOACA_") || known.includes(name)) continue;
    const hint = suggest(name.slice("CLOACA_".length), known.map((k) => k.slice("CLOACA_".length)));
    result.unrecognized.push(`${name} is not a cloaca setting${hint ? ` (did you mean CLOACA_${hint}?)` : ""}`);
  }
  return result;
}
