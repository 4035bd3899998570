/**
 * A child process running a TypeScript entry point through tsx, with its stdout lines collected so a test
 * can wait for a line (an event) instead of sleeping. Kill it in an afterEach.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

/** A spawned `node --import tsx <entry> …` process. */
export class ChildWorker {
  readonly lines: string[] = [];
  readonly proc: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr = "";
  private readonly listeners = new Set<() => void>();

  constructor(entry: string, args: string[], env: Record<string, string> = {}, withStdin = false, cwd = process.cwd()) {
    this.proc = spawn(process.execPath, ["--import", "tsx", entry, ...args], {
      cwd,
      env: { ...process.env, ...env },
      stdio: [withStdin ? "pipe" : "ignore", "pipe", "pipe"],
    });
    this.exited = new Promise((res) => this.proc.once("exit", (code, signal) => res({ code, signal })));
    this.proc.once("exit", () => this.notify());
    this.proc.stderr!.on("data", (chunk: Buffer) => (this.stderr += chunk.toString()));
    createInterface({ input: this.proc.stdout! }).on("line", (line) => {
      this.lines.push(line);
      this.notify();
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }

  private describe(): string {
    return `worker ${this.pid}\nstdout:\n${this.lines.slice(-20).join("\n")}\nstderr:\n${this.stderr.slice(-4000)}`;
  }

  /** Resolves with the first non-undefined `pick(lines)`, re-checked on every line; rejects if the process exits first. */
  waitFor<T>(what: string, pick: (lines: readonly string[]) => T | undefined, timeoutMs = 60_000): Promise<T> {
    return new Promise<T>((res, rej) => {
      const done = (fn: () => void) => {
        this.listeners.delete(check);
        clearTimeout(timer);
        fn();
      };
      const check = () => {
        const value = pick(this.lines);
        if (value !== undefined) return done(() => res(value));
        if (!this.alive()) done(() => rej(new Error(`exited (${this.proc.exitCode ?? this.proc.signalCode}) before ${what}\n${this.describe()}`)));
      };
      const timer = setTimeout(() => done(() => rej(new Error(`timed out waiting for ${what}\n${this.describe()}`))), timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  /** Waits for `READY <runnerId> <pid>`; resolves with the runner id. */
  ready(): Promise<string> {
    return this.waitFor("READY", (lines) => lines.find((l) => l.startsWith("READY "))?.split(" ")[1]);
  }

  /** SIGTERM (graceful drain) and wait for the exit. */
  stop(timeoutMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.alive()) this.proc.kill("SIGTERM");
    return this.exit(timeoutMs, "of SIGTERM");
  }

  /** Waits for the process to exit on its own. */
  async exit(timeoutMs = 30_000, what = "of being waited for"): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new Error(`did not exit within ${timeoutMs} ms ${what}\n${this.describe()}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL (nothing runs in the child) and wait until it is gone. */
  async kill(): Promise<void> {
    if (this.alive()) this.proc.kill("SIGKILL");
    await this.exited;
  }
}

