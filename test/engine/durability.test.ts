/**
 * Durability (SPEC §2.10): a runner process dies or freezes in the middle of a workflow and another
 * runner on the same SQLite file / PostgreSQL schema finishes it. Work that had completed is never run
 * again; the attempt that was running is run again (at-least-once); its completion is recorded once.
 *
 * The dying runner is a real child process (test/fixtures/crash-worker.ts) running the diamond
 * a → (b, c) → d, where b blocks. The test reads the child's stdout (event lines, printed after each
 * change is committed) to know when to kill it, then kills it with SIGKILL — no cleanup code runs.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import pg from "pg";
import { afterEach, expect, it } from "vitest";
import { DefaultRunner, type RunnerEvents, type RunnerOptions } from "../../src/index.js";
import { BLOCK_ENV, CRASH_WORKFLOW, crashWorkflow, sideEffectFile } from "../fixtures/crash-worker.js";
import { forEachBackend, type TestDatabase } from "../support/backends.js";
import { ChildWorker } from "../support/child-worker.js";
import { freshDatabase } from "../support/runner.js";
import { once } from "../support/wait.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const WORKER = join(ROOT, "test", "fixtures", "crash-worker.ts");
const TEST_TIMEOUT = 90_000;

// ------------------------------------------------------------------------------------------ cleanup

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "cloaca-crash-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ------------------------------------------------------------------------------------------ the child runner

/** A crash-worker child process whose stdout lines can be awaited. */
class Worker extends ChildWorker {
  constructor(args: string[], blockTask: string, extraEnv: Record<string, string> = {}) {
    super(WORKER, args, { [BLOCK_ENV]: blockTask, ...extraEnv }, false, ROOT);
    cleanups.push(() => this.kill());
  }

  /** The first word-split line starting with `prefix`, if any. */
  static field(lines: readonly string[], prefix: string, index = 1): string | undefined {
    const line = lines.find((l) => l.startsWith(`${prefix} `));
    return line?.split(" ")[index];
  }
}

/** Per backend: the URL and schema arguments for the child. PostgreSQL gets a unique application_name. */
function childTarget(db: TestDatabase): { url: string; schema: string; appName: string | undefined } {
  if (db.schema === undefined) return { url: db.url, schema: "-", appName: undefined };
  const appName = `crash-${randomBytes(4).toString("hex")}`;
  return { url: `${db.url}${db.url.includes("?") ? "&" : "?"}application_name=${appName}`, schema: db.schema, appName };
}

/** Starts a child that runs a new execution with `b` blocking; resolves once a and c are durably complete and b is blocked. */
async function crashWorkerMidWorkflow(db: TestDatabase, dir: string, extraEnv: Record<string, string> = {}) {
  const target = childTarget(db);
  const worker = new Worker([target.url, target.schema, dir], "b", extraEnv);
  const state = await worker.waitFor("b blocked with a and c completed", (lines) => {
    const executionId = Worker.field(lines, "EXECUTION");
    const runnerId = Worker.field(lines, "RUNNER");
    const version = Worker.field(lines, "VERSION");
    const ready = lines.includes("COMPLETED a 1") && lines.includes("COMPLETED c 1") && lines.includes("BLOCKED b 1");
    return ready && executionId && runnerId && version ? { executionId, runnerId, version } : undefined;
  });
  return { worker, appName: target.appName, ...state };
}

// ------------------------------------------------------------------------------------------ raw database reads

interface RawTask {
  status: string;
  claimedBy: string | null;
  attempt: number;
  recoveries: number;
}

/** Reads task rows directly (not through a runner, which would take over the work). */
async function rawTasks(db: TestDatabase, executionId: string): Promise<Record<string, RawTask>> {
  const sql = (table: string) =>
    `SELECT task_id, status, claimed_by, attempt, recoveries FROM ${table} WHERE execution_id = $1 ORDER BY position`;
  let rows: Array<Record<string, unknown>>;
  if (db.schema === undefined) {
    const conn = new Database(db.url.slice("sqlite:///".length), { readonly: true });
    try {
      rows = conn.prepare(sql("cloaca_tasks").replace("$1", "?")).all(executionId) as Array<Record<string, unknown>>;
    } finally {
      conn.close();
    }
  } else {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      rows = (await client.query(sql(`"${db.schema}".cloaca_tasks`), [executionId])).rows;
    } finally {
      await client.end();
    }
  }
  return Object.fromEntries(
    rows.map((r) => [
      String(r.task_id),
      { status: String(r.status), claimedBy: (r.claimed_by as string | null) ?? null, attempt: Number(r.attempt), recoveries: Number(r.recoveries) },
    ]),
  );
}

/**
 * True when the (frozen) child holds no database lock and is in no transaction or statement, so freezing
 * it cannot freeze the test's runner with it. SQLite: another connection can take the write lock at once.
 * PostgreSQL: every connection of the child's application_name is idle.
 */
async function childHoldsNothing(db: TestDatabase, appName: string | undefined): Promise<boolean> {
  if (db.schema === undefined) {
    const conn = new Database(db.url.slice("sqlite:///".length), { timeout: 0 });
    try {
      conn.exec("BEGIN IMMEDIATE");
      conn.exec("ROLLBACK");
      return true;
    } catch {
      return false;
    } finally {
      conn.close();
    }
  }
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const r = await client.query(
      "SELECT count(*)::int AS busy FROM pg_stat_activity WHERE application_name = $1 AND state IS DISTINCT FROM 'idle'",
      [appName],
    );
    return r.rows[0].busy === 0;
  } finally {
    await client.end();
  }
}

/** Freezes the child with SIGSTOP at a moment it holds no lock (else lets it run a little and tries again). */
async function freezeWhenIdle(worker: Worker, db: TestDatabase, appName: string | undefined): Promise<void> {
  for (let tries = 0; tries < 50; tries++) {
    worker.proc.kill("SIGSTOP");
    if (await childHoldsNothing(db, appName)) return;
    worker.proc.kill("SIGCONT");
    await new Promise((r) => setTimeout(r, 20)); // back-off between tries, not a synchronisation point
  }
  throw new Error("the crash-worker never reached an idle moment to be frozen");
}

// ------------------------------------------------------------------------------------------ the test's own runner

/** A runner with a `taskRecovered` listener attached BEFORE it connects (its first sweep runs during connect). */
async function takeoverRunner(db: TestDatabase, options: RunnerOptions = {}) {
  const recovered: Array<RunnerEvents["taskRecovered"]> = [];
  const opts: RunnerOptions = { ...options, workflows: [crashWorkflow] };
  const runner = db.schema === undefined ? new DefaultRunner(db.url, opts) : DefaultRunner.withSchema(db.url, db.schema, opts);
  cleanups.push(() => runner.shutdown({ timeoutMs: 5_000 }));
  runner.on("taskRecovered", (e) => recovered.push(e));
  await runner.ready();
  return { runner, recovered };
}

/** The side-effect lines of a task: `[executionId, attempt, pid]` each. */
function runsOf(dir: string, taskId: string): Array<[string, number, number]> {
  const file = sideEffectFile(dir, taskId);
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [e, a, p] = l.split(" ");
      return [e!, Number(a), Number(p)];
    });
}

// ------------------------------------------------------------------------------------------ tests

forEachBackend((backend) => {
  it(
    "a runner killed with SIGKILL mid-workflow: a new runner finishes it and no completed task runs again",
    async () => {
      const db = await freshDatabase(backend);
      const dir = tempDir();
      const { worker, executionId, runnerId, version } = await crashWorkerMidWorkflow(db, dir);
      await worker.kill();
      expect(worker.proc.signalCode).toBe("SIGKILL");

      // What the database says at the moment of death: a and c done, b claimed by the dead runner, d waiting.
      const before = await rawTasks(db, executionId);
      expect(before.a!.status).toBe("Completed");
      expect(before.c!.status).toBe("Completed");
      expect(before.b).toMatchObject({ status: "Running", claimedBy: runnerId, attempt: 1 });
      expect(before.d!.status).toBe("NotStarted");

      // Same workflow (same name and version), blocking switched off (BLOCK_ENV is not set in this process).
      expect(process.env[BLOCK_ENV]).toBeUndefined();
      const { runner, recovered } = await takeoverRunner(db);
      const result = await runner.waitFor(executionId, { timeoutMs: 30_000 });

      expect(result.status).toBe("Completed");
      expect(result.workflowName).toBe(CRASH_WORKFLOW);
      // The execution keeps the version it was started with. (The version hashes the task functions' source
      // text, and tsx and vitest compile this same file to different text, so it need not equal ours.)
      expect(result.workflowVersion).toBe(version);
      expect(result.taskResults.map((t) => [t.taskId, t.status])).toEqual([
        ["a", "Completed"],
        ["b", "Completed"],
        ["c", "Completed"],
        ["d", "Completed"],
      ]);
      // d saw the outputs of both branches, including the re-run b.
      expect(result.finalContext.toObject()).toMatchObject({ aDone: true, bDone: true, cDone: true, dDone: true });

      // The same-host runner with a dead pid was taken over at once (during connect).
      expect(recovered).toEqual([{ executionId, taskId: "b", fromRunner: runnerId, abandoned: false }]);
      const events = await runner.getExecutionEvents(executionId);
      expect(events.filter((e) => e.type === "task_recovered").map((e) => [e.taskId, e.data])).toEqual([["b", { fromRunner: runnerId }]]);
      for (const t of ["a", "b", "c", "d"]) {
        expect(events.filter((e) => e.type === "task_completed" && e.taskId === t), `task_completed events of ${t}`).toHaveLength(1);
      }

      // Side effects: tasks completed before the kill ran exactly once (in the child); b ran twice
      // (started in the child, re-run here); d ran once, here.
      expect(runsOf(dir, "a")).toEqual([[executionId, 1, worker.pid]]);
      expect(runsOf(dir, "c")).toEqual([[executionId, 1, worker.pid]]);
      const b = runsOf(dir, "b");
      expect(b).toHaveLength(2);
      expect(b[0]).toEqual([executionId, 1, worker.pid]);
      expect(b[1]![0]).toBe(executionId);
      expect(b[1]![2]).toBe(process.pid);
      expect(runsOf(dir, "d")).toEqual([[executionId, expect.any(Number), process.pid]]);
    },
    TEST_TIMEOUT,
  );

  it(
    "a runner that stops heartbeating while its process lives loses its claim after staleClaimThresholdMs; its late result is discarded",
    async () => {
      const db = await freshDatabase(backend);
      const dir = tempDir();
      // The child declares a 500 ms lease: that, not the taking-over runner's setting, decides when it is dead.
      const { worker, executionId, runnerId, appName } = await crashWorkerMidWorkflow(db, dir, { CLOACA_CRASH_LEASE_MS: "500" });
      // SIGSTOP freezes the runner: its pid stays alive (so the same-host "dead pid" shortcut cannot apply),
      // but it sends no heartbeat any more — a hung process, a long pause, a partitioned machine.
      await freezeWhenIdle(worker, db, appName);

      const { runner, recovered } = await takeoverRunner(db, { heartbeatIntervalMs: 100, staleClaimThresholdMs: 500 });
      // Taken over by a later sweep once the lease is older than 500 ms (or by the first one, if it already was).
      const event = recovered[0] ?? (await once<RunnerEvents["taskRecovered"]>(runner, "taskRecovered", 20_000));
      expect(event).toEqual({ executionId, taskId: "b", fromRunner: runnerId, abandoned: false });
      // Taken over by lease expiry, with the old runner's process still there.
      expect(() => process.kill(worker.pid, 0)).not.toThrow();
      expect(worker.proc.exitCode).toBeNull();
      expect(worker.proc.signalCode).toBeNull();

      const result = await runner.waitFor(executionId, { timeoutMs: 30_000 });
      expect(result.status).toBe("Completed");
      expect(result.finalContext.toObject()).toMatchObject({ aDone: true, bDone: true, cDone: true, dDone: true });
      expect(runsOf(dir, "a")).toHaveLength(1);
      expect(runsOf(dir, "c")).toHaveLength(1);
      expect(runsOf(dir, "b").map(([, , pid]) => pid)).toEqual([worker.pid, process.pid]);
      expect(runsOf(dir, "d").map(([, , pid]) => pid)).toEqual([process.pid]);

      // The old runner wakes up and its blocked attempt finishes (SIGUSR2 releases it): the engine
      // refuses the stale result, so the completion is recorded exactly once, by the new runner.
      worker.proc.kill("SIGCONT");
      worker.proc.kill("SIGUSR2");
      await worker.waitFor("the stale result to be discarded", (lines) => lines.find((l) => l.startsWith("LOG warn claim lost")));
      const after = await runner.getExecution(executionId);
      expect(after.status).toBe("Completed");
      expect(after.taskResults.find((t) => t.taskId === "b")!.status).toBe("Completed");
      const events = await runner.getExecutionEvents(executionId);
      const completedB = events.filter((e) => e.type === "task_completed" && e.taskId === "b");
      expect(completedB).toHaveLength(1);
      expect(completedB[0]!.runnerId).toBe(runner.runnerId);
      expect(events.filter((e) => e.type === "task_recovered")).toHaveLength(1);
    },
    TEST_TIMEOUT,
  );

  it(
    "an attempt whose runner died more than maxTaskRecoveries times fails as abandoned",
    async () => {
      const db = await freshDatabase(backend);
      const dir = tempDir();
      const first = await crashWorkerMidWorkflow(db, dir);
      await first.worker.kill();

      // A second runner process takes b over (recovery 1), runs it again, and is killed too.
      const target = childTarget(db);
      const second = new Worker([target.url, target.schema, dir, "resume"], "b");
      const secondRunner = await second.waitFor("b taken over and blocked again", (lines) => {
        const took = lines.includes(`RECOVERED b ${first.runnerId} false`);
        return took && lines.some((l) => l.startsWith("BLOCKED b ")) ? Worker.field(lines, "RUNNER") : undefined;
      });
      await second.kill();
      const before = await rawTasks(db, first.executionId);
      expect(before.b).toMatchObject({ status: "Running", claimedBy: secondRunner, recoveries: 1 });

      // With maxTaskRecoveries = 1 the next takeover abandons the attempt instead of running it a third time.
      const { runner, recovered } = await takeoverRunner(db, { maxTaskRecoveries: 1 });
      const result = await runner.waitFor(first.executionId, { timeoutMs: 30_000 });
      expect(recovered).toEqual([{ executionId: first.executionId, taskId: "b", fromRunner: secondRunner, abandoned: true }]);
      expect(result.status).toBe("Failed");
      const b = result.taskResults.find((t) => t.taskId === "b")!;
      expect(b.status).toBe("Failed");
      expect(b.errorMessage).toMatch(/abandoned/);
      expect(b.errorMessage).toContain("maxTaskRecoveries = 1");
      expect(result.errorMessage).toMatch(/abandoned/);
      const d = result.taskResults.find((t) => t.taskId === "d")!;
      expect(d.status).toBe("Skipped");
      expect(d.skipReason).toBe("upstream failed");

      // b ran once in each dead process and never here; d never ran; a and c ran once.
      expect(runsOf(dir, "b").map(([, , pid]) => pid)).toEqual([first.worker.pid, second.pid]);
      expect(runsOf(dir, "d")).toEqual([]);
      expect(runsOf(dir, "a")).toHaveLength(1);
      expect(runsOf(dir, "c")).toHaveLength(1);
    },
    TEST_TIMEOUT,
  );

  it(
    "maxTaskRecoveries: 0 abandons a dead runner's attempt at the first takeover",
    async () => {
      const db = await freshDatabase(backend);
      const dir = tempDir();
      const { worker, executionId, runnerId } = await crashWorkerMidWorkflow(db, dir);
      await worker.kill();

      const { runner, recovered } = await takeoverRunner(db, { maxTaskRecoveries: 0 });
      const result = await runner.waitFor(executionId, { timeoutMs: 30_000 });
      expect(recovered).toEqual([{ executionId, taskId: "b", fromRunner: runnerId, abandoned: true }]);
      expect(result.status).toBe("Failed");
      expect(result.taskResults.find((t) => t.taskId === "b")!.errorMessage).toMatch(/abandoned/);
      expect(result.taskResults.find((t) => t.taskId === "d")!.status).toBe("Skipped");
      expect(runsOf(dir, "b").map(([, , pid]) => pid)).toEqual([worker.pid]);
      expect(runsOf(dir, "d")).toEqual([]);
    },
    TEST_TIMEOUT,
  );
});
