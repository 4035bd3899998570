/**
 * Fixtures for tests that hold an outcome write back on PostgreSQL: a workflow whose one task waits for a
 * gate, and a row lock on an execution taken by another session (the engine's writes to that execution's
 * row then wait for it).
 */
import pg from "pg";
import { WorkflowBuilder, type Workflow } from "../../src/index.js";
import type { TestDatabase } from "./backends.js";

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
