/**
 * What every `cloaca` command shares: where output goes, how a command-line mistake is told apart from a
 * failure (exit 2 vs 1), which database a command works on, and a plain text table.
 */
import { CloacaError, ConfigurationError } from "../errors.js";

/** Where a command writes and reads; tests pass their own. */
export interface CliIO {
  /** Standard output (results). */
  out(text: string): void;
  /** Standard error (errors, warnings, hints). */
  err(text: string): void;
  /** All of standard input (for `--password-stdin`). */
  readStdin(): Promise<string>;
}

/** The process's own streams. */
export const processIO: CliIO = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
    return Buffer.concat(chunks).toString("utf8");
  },
};

/** What a command needs from `main`. */
export interface CliContext {
  readonly env: NodeJS.ProcessEnv;
  readonly io: CliIO;
  /** Sets the process exit code `main` returns (commands that run something else, like `worker`). */
  setExitCode(code: number): void;
}

/** A command-line mistake: the message, a pointer to `--help`, exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Exit codes of `cloaca`. */
export const EXIT = Object.freeze({ ok: 0, failure: 1, usage: 2 });

/** The database of a command: `--db`, else `DATABASE_URL`. */
export function databaseUrl(db: string | undefined, env: NodeJS.ProcessEnv): string {
  const url = db?.trim() || env.DATABASE_URL?.trim();
  if (!url) {
    throw new UsageError(
      `no database: pass --db URL or set DATABASE_URL${env.DATABASE_URL !== undefined && db === undefined ? " (it is empty)" : ""}`,
    );
  }
  return url;
}

/**
 * Prints an error the way users should see it and returns the exit code: usage mistakes and configuration
 * errors (bad URL, bad schema name) → 2, expected failures (`CloacaError`: connection, tenant, …) → 1 with
 * the message only; anything else → 1 with its stack, since that is a bug worth reporting.
 */
export function reportError(err: unknown, io: CliIO): number {
  if (err instanceof UsageError || err instanceof ConfigurationError) {
    io.err(`cloaca: error: ${err.message}\n(run "cloaca --help" or "cloaca <command> --help" for usage)\n`);
    return EXIT.usage;
  }
  if (err instanceof CloacaError) {
    io.err(`cloaca: error: ${err.message}\n`);
    return EXIT.failure;
  }
  const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
  io.err(`cloaca: unexpected error (please report it): ${text}\n`);
  return EXIT.failure;
}

/** A left-aligned text table with a header row. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}
