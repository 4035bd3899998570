/**
 * The worker entry point for scale-out (SPEC §2.10, §2.12): a long-running runner process that loads the
 * user's workflow module and works on the shared database until it is told to stop. Start as many as the
 * load needs, on as many machines as you like; they share the work through the database alone.
 *
 * ```ts
 * await runWorker({ url: process.env.DATABASE_URL!, modulePath: "./workflows.js" }); // until SIGTERM/SIGINT
 * ```
 *
 * `bin/cloaca-worker.mjs` is the same thing as a command (`cloaca-worker <module> [--db URL] …`), through
 * {@link workerMain}.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { configFromEnv } from "./config.js";
import { parseDatabaseUrl } from "./database-url.js";
import { DefaultRunner, type RunnerOptions } from "./engine/runner.js";
import { CloacaError, ConfigurationError } from "./errors.js";
import type { Logger } from "./types.js";
import { defaultRegistry } from "./workflow/registry.js";
import { Workflow } from "./workflow/workflow.js";

/** Options of {@link runWorker}. */
export interface WorkerOptions {
  /** Database URL (`postgresql://…` for several workers; SQLite works for several processes on one host). */
  url: string;
  /** PostgreSQL schema the engine tables live in (see `DefaultRunner.withSchema`). */
  schema?: string;
  /**
   * The module that defines the workflows: a path (relative to the working directory) or a `file:` URL.
   * It either `build()`s them into the default registry (importing `cloaca` from the same installation as
   * the worker) or exports `workflows: Workflow[]`; both are taken.
   */
  modulePath: string;
  /** Runner configuration. Without a `logger`, the worker logs one line per entry to stderr. */
  config?: RunnerOptions;
  /**
   * Stop gracefully on SIGTERM and SIGINT (default true): stop claiming, let running tasks finish (up to
   * `shutdownTimeoutMs`), hand back the rest, then resolve. A second signal exits the process at once;
   * its claims are then taken over by the other runners.
   */
  signals?: boolean;
  /** How long running tasks may take to finish once stopping (default 30000 ms). */
  shutdownTimeoutMs?: number;
  /** Stops the worker gracefully when aborted (an alternative or addition to `signals`). */
  stop?: AbortSignal;
  /** Called once the runner is connected and working. If it throws, the worker stops and rejects with that error. */
  onReady?: (runner: DefaultRunner) => void | Promise<void>;
}

/** A logger writing `<time> <LEVEL> <message> <json>` lines to stderr (debug is dropped). */
export function stderrLogger(prefix = "cloaca-worker"): Logger {
  const write = (level: string) => (obj: object, msg?: string) => {
    let data = "";
    try {
      data = obj && Object.keys(obj).length ? ` ${JSON.stringify(obj)}` : "";
    } catch {
      data = " [unserializable]";
    }
    process.stderr.write(`${new Date().toISOString()} ${prefix}[${process.pid}] ${level} ${msg ?? ""}${data}\n`);
  };
  return { debug: () => undefined, info: write("INFO"), warn: write("WARN"), error: write("ERROR") };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message || err.name : String(err);
}

/** A Workflow, also one made by another copy of the package (which `instanceof` would not recognise). */
function isWorkflow(value: unknown): value is Workflow {
  if (value instanceof Workflow) return true;
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.name === "string" &&
    typeof v.version === "string" &&
    Array.isArray(v.tasks) &&
    typeof v.roots === "function" &&
    typeof v.task === "function"
  );
}

/** Imports the user's module and returns the workflows it exports (those it registered are in the default registry). */
async function loadModule(modulePath: string): Promise<Workflow[]> {
  if (typeof modulePath !== "string" || modulePath.trim() === "") {
    throw new ConfigurationError("runWorker: modulePath is required (the module that defines the workflows)");
  }
  const href = /^file:/i.test(modulePath) ? modulePath : pathToFileURL(resolve(process.cwd(), modulePath)).href;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(href)) as Record<string, unknown>;
  } catch (err) {
    const hint = /\.(c|m)?ts$/i.test(modulePath) ? " (a TypeScript module needs a loader: node --import tsx …)" : "";
    throw new ConfigurationError(`could not load the workflow module ${modulePath}: ${message(err)}${hint}`, { cause: err });
  }
  const exported = mod.workflows;
  if (exported === undefined) return [];
  if (!Array.isArray(exported)) {
    throw new ConfigurationError(`${modulePath}: the \`workflows\` export must be an array of Workflow (built with WorkflowBuilder)`);
  }
  exported.forEach((wf, i) => {
    if (!isWorkflow(wf)) {
      throw new ConfigurationError(`${modulePath}: workflows[${i}] is not a Workflow (build it with WorkflowBuilder(...).build())`);
    }
  });
  return exported as Workflow[];
}

/**
 * Runs a worker: imports `modulePath`, starts a {@link DefaultRunner} on `url` (and `schema`) with its
 * workflows, and works until stopped (signal or `stop`). Resolves after the graceful shutdown; rejects if
 * the module cannot be loaded, defines no workflow, or the database cannot be reached.
 */
export async function runWorker(options: WorkerOptions): Promise<void> {
  const { url, schema, modulePath, config = {}, signals = true, shutdownTimeoutMs = 30_000, stop, onReady } = options;
  const logger = config.logger ?? stderrLogger();

  const exported = await loadModule(modulePath);
  const names = new Set([...exported, ...(config.workflows ?? [])].map((wf) => wf.name).concat(defaultRegistry.names()));
  if (names.size === 0) {
    throw new ConfigurationError(
      `${modulePath} defines no workflow: build() them into the default registry (importing cloaca from the same ` +
        "installation as the worker) or export `workflows: Workflow[]`",
    );
  }

  const runnerOptions: RunnerOptions = { ...config, logger, workflows: [...(config.workflows ?? []), ...exported] };
  const runner = schema === undefined ? new DefaultRunner(url, runnerOptions) : DefaultRunner.withSchema(url, schema, runnerOptions);

  // The stop request: a signal, the abort signal, or a failing onReady.
  let requestStop!: (why: string) => void;
  const stopRequested = new Promise<string>((res) => (requestStop = res));
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal: sig }, "second signal: exiting now; claims still held are taken over by other runners");
      process.exit(128 + (sig === "SIGINT" ? 2 : 15));
    }
    stopping = true;
    requestStop(sig);
  };
  const onAbort = () => {
    stopping = true;
    requestStop("stop requested");
  };
  if (signals) {
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  }
  if (stop?.aborted) onAbort();
  else stop?.addEventListener("abort", onAbort, { once: true });
  const cleanup = () => {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    stop?.removeEventListener("abort", onAbort);
  };

  try {
    try {
      await Promise.race([runner.ready(), stopRequested]);
    } catch (err) {
      await runner.shutdown({ timeoutMs: 0 }).catch(() => undefined);
      throw err;
    }
    let failure: { error: unknown } | undefined;
    if (!stopping) {
      logger.info(
        {
          runnerId: runner.runnerId,
          workflows: runner.workflows(),
          maxConcurrentTasks: runner.config.maxConcurrentTasks,
          database: runner.databaseUrl,
          ...(schema === undefined ? {} : { schema }),
        },
        "worker ready",
      );
      if (onReady) {
        Promise.resolve()
          .then(() => onReady(runner))
          .catch((error: unknown) => {
            failure = { error };
            logger.error({ err: message(error) }, "worker onReady callback failed; stopping");
            requestStop("onReady failed");
          });
      }
    }
    const why = await stopRequested;
    logger.info({ reason: why, runnerId: runner.runnerId }, "worker stopping: finishing running tasks");
    await runner.shutdown({ timeoutMs: shutdownTimeoutMs });
    logger.info({ runnerId: runner.runnerId }, "worker stopped");
    if (failure) throw failure.error;
  } finally {
    cleanup();
  }
}

// ------------------------------------------------------------------------------------------ command line

/** Usage of `cloaca-worker`. */
export const WORKER_USAGE = `usage: cloaca-worker <module> [--db URL] [--schema S] [--concurrency N]

Runs a cloaca runner that executes the workflows defined in <module> (built into the default
registry, or exported as \`workflows\`) until SIGTERM/SIGINT, then drains gracefully.

  <module>           path of the JavaScript module defining the workflows (for TypeScript:
                     node --import tsx $(which cloaca-worker) workflows.ts)
  --db URL           database URL (default: the DATABASE_URL environment variable)
  --schema S         PostgreSQL schema of the engine tables (default: CLOACA_SCHEMA, else public)
  --concurrency N    task bodies run at once by this worker (default: CLOACA_MAX_CONCURRENT_TASKS, else 4)
  -h, --help         this help

Other CLOACA_* variables (e.g. CLOACA_HEARTBEAT_INTERVAL_MS) configure the runner as for DefaultRunner.fromEnv().`;

/** What the command line asks for. */
export interface WorkerArgs {
  modulePath: string;
  db: string | undefined;
  schema: string | undefined;
  concurrency: number | undefined;
}

/** A command-line mistake: print the message and the usage, exit 2. */
export class WorkerUsageError extends Error {
  override readonly name = "WorkerUsageError";
}

/** Parses `cloaca-worker` arguments; `"help"` for -h/--help. Throws {@link WorkerUsageError}. */
export function parseWorkerArgs(argv: readonly string[]): WorkerArgs | "help" {
  let modulePath: string | undefined;
  const values: Record<"db" | "schema" | "concurrency", string | undefined> = { db: undefined, schema: undefined, concurrency: undefined };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "-h" || arg === "--help") return "help";
    const m = /^--(db|schema|concurrency)(?:=(.*))?$/.exec(arg);
    if (m) {
      const name = m[1] as keyof typeof values;
      let value = m[2];
      if (value === undefined) {
        value = argv[++i];
        if (value === undefined || value.startsWith("--")) throw new WorkerUsageError(`--${name} needs a value`);
      }
      if (value.trim() === "") throw new WorkerUsageError(`--${name} needs a value`);
      if (values[name] !== undefined) throw new WorkerUsageError(`--${name} is given twice`);
      values[name] = value;
      continue;
    }
    if (arg.startsWith("-") && arg !== "-") throw new WorkerUsageError(`unknown option ${arg}`);
    if (modulePath !== undefined) throw new WorkerUsageError(`only one <module> is accepted (got ${modulePath} and ${arg})`);
    modulePath = arg;
  }
  if (modulePath === undefined) throw new WorkerUsageError("missing <module> (the module that defines the workflows)");
  let concurrency: number | undefined;
  if (values.concurrency !== undefined) {
    concurrency = Number(values.concurrency);
    if (!/^\d+$/.test(values.concurrency.trim()) || !Number.isSafeInteger(concurrency) || concurrency < 1) {
      throw new WorkerUsageError(`--concurrency must be a whole number ≥ 1, got ${JSON.stringify(values.concurrency)}`);
    }
  }
  return { modulePath, db: values.db, schema: values.schema, concurrency };
}

/**
 * `cloaca-worker` as a function: parses `argv`, reads `DATABASE_URL` / `CLOACA_*` from `env`, runs the
 * worker until SIGTERM/SIGINT and returns the exit code (0 after a graceful stop, 1 on an error, 2 on a
 * usage error).
 */
export async function workerMain(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const err = (text: string) => process.stderr.write(`cloaca-worker: ${text}\n`);
  let args: WorkerArgs;
  try {
    const parsed = parseWorkerArgs(argv);
    if (parsed === "help") {
      process.stdout.write(`${WORKER_USAGE}\n`);
      return 0;
    }
    args = parsed;
  } catch (e) {
    if (!(e instanceof WorkerUsageError)) throw e;
    err(`error: ${e.message}\n\n${WORKER_USAGE}`);
    return 2;
  }
  const url = args.db ?? env.DATABASE_URL?.trim();
  if (!url) {
    err(`error: no database: pass --db URL or set DATABASE_URL${env.DATABASE_URL !== undefined ? " (it is empty)" : ""}\n\n${WORKER_USAGE}`);
    return 2;
  }
  try {
    parseDatabaseUrl(url);
  } catch (e) {
    err(`error: ${args.db !== undefined ? "--db" : "DATABASE_URL"}: ${e instanceof Error ? e.message : String(e)}`);
    return 2;
  }
  try {
    // CLOACA_* variables as for DefaultRunner.fromEnv(); the command-line flags win over them.
    const fromEnv = configFromEnv({ ...env, DATABASE_URL: url });
    const logger = stderrLogger();
    for (const note of fromEnv.unrecognized) logger.warn({ variable: note }, "unrecognized CLOACA_* environment variable ignored");
    const config: RunnerOptions = { ...fromEnv.config, logger };
    if (args.concurrency !== undefined) config.maxConcurrentTasks = args.concurrency;
    const schema = args.schema ?? fromEnv.schema;
    await runWorker({ url, modulePath: args.modulePath, config, signals: true, ...(schema === undefined ? {} : { schema }) });
    return 0;
  } catch (e) {
    err(`error: ${e instanceof CloacaError ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return 1;
  }
}
