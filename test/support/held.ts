/**
 * Fixtures for tests that hold an outcome write back on PostgreSQL: a workflow whose one task waits for a
 * gate, and a row lock on an execution taken by another session (the engine's writes to that execution's
 * row then wait for it).
 */
import pg from "pg";
import { WorkflowBuilder, type DefaultRunner, type RunnerOptions, type Workflow, type WorkflowExecution } from "../../src/index.js";
import type { TestBackend, TestDatabase } from "./backends.js";
import { freshDatabase, openRunner } from "./runner.js";

let seq = 0;

/** A one-task workflow (task "a", which sets `a` = 1) whose body waits until `open()` is called. */
export function gatedWorkflow(name: string): { workflow: Workflow; open: () => void } {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const workflow = new WorkflowBuilder(name)
    .task("a", async (ctx) => {
      await gate;
      ctx.set("a", 1);
    })
    .build({ register: false });
  return { workflow, open };
}

/** Locks execution `id`'s row in `db` (FOR UPDATE, in a transaction of another session) until `release()`. */
export async function lockExecutionRow(db: TestDatabase, id: string): Promise<{ release(): Promise<void> }> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    await client.query("BEGIN");
    await client.query(`SELECT 1 FROM "${db.schema}".cloaca_executions WHERE id = $1 FOR UPDATE`, [id]);
  } catch (err) {
    await client.end();
    throw err;
  }
  return {
    async release() {
      await client.query("ROLLBACK").catch(() => undefined);
      await client.end();
    },
  };
}

/** A runner with a gated execution running (see {@link startHeld}). */
export interface Held {
  readonly db: TestDatabase;
  readonly runner: DefaultRunner;
  /** The gated execution: started, its task "a" running until `open()`. */
  readonly x: WorkflowExecution;
  readonly open: () => void;
  /** The name of the quick workflow: one task, `quickTask`, which sets the key of that name to 1. */
  readonly quick: string;
}

/**
 * A runner (with `options`) on a fresh database of `backend`, running two workflows: the gated one (see
 * {@link gatedWorkflow}) and a quick one of one task `quickTask`. An execution of the gated one is started
 * and its task "a" has started.
 */
export async function startHeld(backend: TestBackend, quickTask: string, options: RunnerOptions): Promise<Held> {
  const n = ++seq;
  const slow = `held-${process.pid}-${n}`;
  const quick = `quick-${process.pid}-${n}`;
  const { workflow: held, open } = gatedWorkflow(slow);
  const fast = new WorkflowBuilder(quick).task(quickTask, (ctx) => ctx.set(quickTask, 1)).build({ register: false });
  const db = await freshDatabase(backend);
  const runner = await openRunner(db, { ...options, workflows: [held, fast] });
  const aStarted = new Promise<void>((r) => runner.on("taskStarted", (e) => e.taskId === "a" && r()));
  const x = await runner.start(slow);
  await aStarted;
  return { db, runner, x, open, quick };
}
