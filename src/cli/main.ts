/**
 * `cloaca`, the command line (SPEC §2.12): `tenant create|remove|list`, `migrate`, `worker <module>`.
 * Every command reads `DATABASE_URL` when `--db` is absent. Exit codes: 0 done, 1 failed (the message says
 * why, no stack trace), 2 command-line mistake.
 *
 * `bin/cloaca.mjs` runs {@link main}; from a checkout: `node --import tsx src/cli/main.ts --help`.
 */
import { readFileSync, realpathSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Command, CommanderError } from "commander";
import { registerMigrateCommand } from "./commands/migrate.js";
import { registerTenantCommands } from "./commands/tenant.js";
import { registerWorkerCommand } from "./commands/worker.js";
import { EXIT, processIO, reportError, type CliContext, type CliIO } from "./io.js";

function packageVersion(): string {
  try {
    // src/cli/main.ts and dist/cli/main.js both sit two levels below package.json.
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL("../../package.json", import.meta.url)), "utf8")) as { version?: string };
    return pkg.version ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** Builds the `cloaca` program (exported for tests that inspect the commands). */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command("cloaca")
    .description("cloaca: embedded durable workflows on SQLite and PostgreSQL")
    .version(packageVersion(), "-V, --version")
    .showHelpAfterError('(run "cloaca --help" or "cloaca <command> --help" for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.io.out(s),
      writeErr: (s) => ctx.io.err(s),
      outputError: (s, write) => write(`cloaca: ${s}`),
    });
  registerTenantCommands(program, ctx);
  registerMigrateCommand(program, ctx);
  registerWorkerCommand(program, ctx);
  // Sub-commands report their own usage errors the same way (exit 2, not a process.exit).
  const configure = (cmd: Command) => {
    for (const sub of cmd.commands) {
      sub.exitOverride().showHelpAfterError(`(run "cloaca ${fullName(sub)} --help" for usage)`).configureOutput(program.configureOutput());
      configure(sub);
    }
  };
  configure(program);
  return program;
}

function fullName(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c && c.parent; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/**
 * Runs `cloaca` with `argv` (without the node and script paths) and returns the exit code. Never calls
 * `process.exit` (the worker command installs its own signal handling).
 */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, io: CliIO = processIO): Promise<number> {
  let exitCode: number = EXIT.ok;
  const ctx: CliContext = { env, io, setExitCode: (code) => (exitCode = code) };
  const program = buildProgram(ctx);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end the run successfully; every other commander error is a usage mistake
      // (commander has printed it already).
      return err.code === "commander.helpDisplayed" || err.code === "commander.version" ? EXIT.ok : EXIT.usage;
    }
    return reportError(err, io);
  }
}

function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return pathToFileURL(realpathSync(script)).href === import.meta.url;
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  process.exitCode = await main(process.argv.slice(2), process.env);
}
