/**
 * SQLite with several processes on one WAL file: they share the work correctly (every body once, every
 * completion once), and a writer that holds the lock longer than `_busy_timeout` gives a clear
 * "database is locked" error — never a lost update or a frozen event loop — while a shorter hold is waited
 * out asynchronously.
 */
import Database from "better-sqlite3";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { DatabaseConnectionError, DefaultRunner, WorkflowBuilder } from "../../src/index.js";
import { EFFECTS_FILE_ENV, FILE_EFFECTS_WORKFLOW } from "../fixtures/file-effects-workflow.js";
import { ChildWorker } from "../support/child-worker.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const ENTRY = join(ROOT, "test", "fixtures", "scale-worker.ts");
const MODULE = join(ROOT, "test", "fixtures", "file-effects-workflow.ts");

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "cloaca-sqlite-mp-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function runner(url: string, options: ConstructorParameters<typeof DefaultRunner>[1] = {}): Promise<DefaultRunner> {
  const r = await DefaultRunner.connect(url, options);
  cleanups.push(() => r.shutdown({ timeoutMs: 5_000 }));
  return r;
}

describe("sqlite with several processes", () => {
  it("two worker processes on one WAL file share the work: every body and every completion exactly once", async () => {
    const dir = tempDir();
    const url = `sqlite:///${join(dir, "shared.db")}`;
    const effects = join(dir, "effects.log");
    writeFileSync(effects, "");
    // The submitter runs nothing (maxConcurrentTasks 0); it knows the workflow to start it.
    await import("../fixtures/file-effects-workflow.js");
    const api = await runner(url, { maxConcurrentTasks: 0, pollIntervalMs: 20 });
    const workers = [0, 1].map(() => {
      const w = new ChildWorker(ENTRY, [MODULE, url, "-", "--concurrency", "4", "--poll", "20"], { [EFFECTS_FILE_ENV]: effects, CLOACA_EFFECTS_PROCESSES: "2" }, false, ROOT);
      cleanups.push(() => w.kill());
      return w;
    });
    await Promise.all(workers.map((w) => w.ready()));

    const execs = await Promise.all(Array.from({ length: 40 }, (_, i) => api.start(FILE_EFFECTS_WORKFLOW, { n: i })));
    const results = await Promise.all(execs.map((e) => e.wait({ timeoutMs: 60_000 })));
    expect(results.every((r) => r.status === "Completed")).toBe(true);
    results.forEach((r, i) => expect(r.finalContext.get("n")).toBe(i + 3));

    const lines = readFileSync(effects, "utf8").trim().split("\n").map((l) => l.split(" "));
    const perTask = new Map<string, number>();
    for (const [exec, task] of lines) perTask.set(`${exec}/${task}`, (perTask.get(`${exec}/${task}`) ?? 0) + 1);
    expect(perTask.size).toBe(120);
    expect([...perTask.values()].every((n) => n === 1)).toBe(true);
    const pids = new Set(lines.map((l) => Number(l[3])));
    expect(pids).toEqual(new Set(workers.map((w) => w.pid)));

    const db = new Database(join(dir, "shared.db"), { readonly: true });
    cleanups.push(() => void db.close());
    const dup = db
      .prepare("SELECT execution_id, task_id, count(*) AS n FROM cloaca_events WHERE event_type = 'task_completed' GROUP BY 1, 2 HAVING count(*) <> 1")
      .all();
    expect(dup).toEqual([]);
    for (const w of workers) expect((await w.stop()).code).toBe(0);
  });

  it("a lock held for less than _busy_timeout is waited out without freezing the event loop", async () => {
    const dir = tempDir();
    const file = join(dir, "locked.db");
    const wf = new WorkflowBuilder(`busy-wait-${process.pid}`).task("t", (ctx) => ctx.set("ok", 1)).build({ register: false });
    const r = await runner(`sqlite:///${file}?_busy_timeout=5000`, { workflows: [wf] });
    const other = new Database(file);
    cleanups.push(() => void other.close());
    other.exec("BEGIN IMMEDIATE");
    const pending = r.execute(wf.name);
    // This timer can only fire if the runner is waiting asynchronously: a synchronous busy wait would hold
    // the thread until the timeout, and the lock below would never be released in time.
    await new Promise((res) => setTimeout(res, 100));
    other.exec("COMMIT");
    const result = await pending;
    expect(result.status).toBe("Completed");
  });

  it("with a rollback journal, a COMMIT that waits for another connection's reader waits asynchronously", async () => {
    const dir = tempDir();
    const file = join(dir, "reader.db");
    const wf = new WorkflowBuilder(`busy-commit-${process.pid}`).task("t", (ctx) => ctx.set("ok", 1)).build({ register: false });
    const r = await runner(`sqlite:///${file}?_journal_mode=DELETE&_busy_timeout=5000`, { workflows: [wf] });
    const other = new Database(file);
    cleanups.push(() => void other.close());
    // A read transaction holds a SHARED lock: the runner's BEGIN IMMEDIATE gets its RESERVED lock, but its
    // COMMIT needs the EXCLUSIVE one and is refused (SQLITE_BUSY) until the reader ends.
    other.exec("BEGIN");
    other.prepare("SELECT count(*) FROM cloaca_executions").get();
    const pending = r.execute(wf.name);
    // Fires only if the runner waits asynchronously: SQLite's own busy wait would hold the thread for 5 s.
    await new Promise((res) => setTimeout(res, 100));
    other.exec("COMMIT");
    const result = await pending;
    expect(result.status).toBe("Completed");
  });

  it("a lock held longer than _busy_timeout fails with 'database is locked', and the runner keeps working after", async () => {
    const dir = tempDir();
    const file = join(dir, "locked.db");
    const wf = new WorkflowBuilder(`busy-fail-${process.pid}`).task("t", (ctx) => ctx.set("ok", 1)).build({ register: false });
    const r = await runner(`sqlite:///${file}?_busy_timeout=100`, { workflows: [wf] });
    const other = new Database(file);
    cleanups.push(() => void other.close());
    other.exec("BEGIN IMMEDIATE");
    const err = await r.execute(wf.name).then(
      () => undefined,
      (e: unknown) => e,
    );
    other.exec("ROLLBACK");
    expect(err).toBeInstanceOf(DatabaseConnectionError);
    expect(String(err)).toContain("database is locked");
    // Nothing half-written: no execution exists, and the next one runs normally.
    expect(await r.listExecutions()).toEqual([]);
    expect((await r.execute(wf.name)).status).toBe("Completed");
  });

  it("a claim outside any transaction also waits for the lock asynchronously (no frozen loop, no claim error)", async () => {
    const dir = tempDir();
    const file = join(dir, "claim.db");
    const wf = new WorkflowBuilder(`busy-claim-${process.pid}`).task("t", (ctx) => ctx.set("ok", 1)).build({ register: false });
    const r = await runner(`sqlite:///${file}?_busy_timeout=5000`, { workflows: [wf] });
    const errors: string[] = [];
    r.on("runnerError", (e) => errors.push(e.where));
    const other = new Database(file);
    cleanups.push(() => void other.close());
    other.exec("BEGIN IMMEDIATE");
    r.wake(); // the runner's claim statement now meets the lock
    // A blocking busy wait would hold the thread for 5 s and then fail the claim; an asynchronous one
    // lets this timer run and the lock go before the claim gives up.
    await new Promise((res) => setTimeout(res, 100));
    other.exec("COMMIT");
    expect((await r.execute(wf.name)).status).toBe("Completed");
    expect(errors).toEqual([]);
  });
});
