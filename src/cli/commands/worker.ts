/**
 * `cloaca worker <module>`: a long-running runner for scale-out — the same as `cloaca-worker`
 * ({@link workerMain} in src/worker.ts), which it delegates to.
 */
import type { Command } from "commander";
import { workerMain } from "../../worker.js";
import type { CliContext } from "../io.js";

interface WorkerCommandOptions {
  db?: string;
  schema?: string;
  concurrency?: string;
}

/** Adds `worker` to the program. */
export function registerWorkerCommand(program: Command, ctx: CliContext): void {
  program
    .command("worker")
    .description("run the workflows of <module> until SIGTERM/SIGINT, then drain gracefully (scale-out worker)")
    .argument("<module>", "the JavaScript module that defines the workflows (TypeScript: node --import tsx …)")
    .option("--db <url>", "database URL (default: the DATABASE_URL environment variable)")
    .option("--schema <name>", "PostgreSQL schema of the engine tables (default: CLOACA_SCHEMA, else public)")
    .option("--concurrency <n>", "task bodies run at once by this worker (default: CLOACA_MAX_CONCURRENT_TASKS, else 4)")
    .action(async (modulePath: string, options: WorkerCommandOptions) => {
      const argv = [modulePath];
      if (options.db !== undefined) argv.push("--db", options.db);
      if (options.schema !== undefined) argv.push("--schema", options.schema);
      if (options.concurrency !== undefined) argv.push("--concurrency", options.concurrency);
      ctx.setExitCode(await workerMain(argv, ctx.env));
    });
}
