/**
 * Retention (`cleanupExecutions`, `cleanupEvents`) on both backends, and on PostgreSQL the schema layout of
 * the later migrations: what migration 2 removed (the executions' status index, the events' sequence key)
 * must not break the queries that used them; migration 3's byte-wise collation of the keys must leave the
 * claim on its partial index, and must apply to a schema that already holds executions; after migration 5
 * no foreign key ties tasks to executions, so retention must delete the task rows itself. On SQLite,
 * migration 2 (fewer pages per commit) must upgrade a file that already holds events without losing them.
 */
import Database from "better-sqlite3";
import { expect, it } from "vitest";
import { parseDatabaseUrl } from "../../src/database-url.js";
import { ExecutionNotFoundError, WorkflowBuilder } from "../../src/index.js";
import { openStore } from "../../src/store/open-store.js";
import { forEachBackend, pgQuery } from "../support/backends.js";
import { capturing, genericPlan } from "../support/plans.js";
import { freshDatabase, openRunner } from "../support/runner.js";
import { clockPast } from "../support/wait.js";

const silent = { debug() {}, info() {}, warn() {}, error() {} };

let seq = 0;
const unique = (base: string) => `${base}-${process.pid}-${++seq}`;

forEachBackend((backend) => {
  it("cleanupExecutions deletes finished executions that ended before the cutoff, with their tasks and events; running ones stay", async () => {
    const name = unique("retention");
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const wf = new WorkflowBuilder(name)
      .task("a", async (ctx) => {
        if (ctx.get("hold")) await gate;
        ctx.set("a", 1);
      })
      .task("b", { dependencies: ["a"] }, (ctx) => ctx.set("b", 1))
      .build({ register: false });
    const db = await freshDatabase(backend);
    const runner = await openRunner(db, { workflows: [wf] });
    // Task rows by execution, read from the table (on PostgreSQL no foreign key cascades the delete).
    const taskRows = async (executionId: string) => {
      const table = db.schema ? `"${db.schema}".cloaca_tasks` : "cloaca_tasks";
      const [row] = await runner.storeForTests.driver.query<{ n: unknown }>(`SELECT COUNT(*) AS n FROM ${table} WHERE execution_id = ?`, [executionId]);
      return Number(row!.n);
    };
    const done = [await runner.execute(name), await runner.execute(name)];
    for (const r of done) expect(await taskRows(r.executionId)).toBe(2);
    const held = await runner.start(name, { hold: true });
    const cutoff = new Date(Date.now() + 1);
    const after = await runner.execute(name); // ends after the cutoff
    await clockPast(cutoff.getTime());

    expect(await runner.cleanupExecutions({ olderThan: cutoff })).toBe(2);
    const left = (await runner.listExecutions()).map((e) => e.executionId).sort();
    expect(left).toEqual([held.id, after.executionId].sort());
    for (const r of done) {
      await expect(runner.getExecution(r.executionId)).rejects.toBeInstanceOf(ExecutionNotFoundError);
      expect(await runner.getExecutionEvents(r.executionId)).toEqual([]);
      expect(await taskRows(r.executionId)).toBe(0);
    }
    expect(await taskRows(after.executionId)).toBe(2);
    expect((await runner.getExecutionEvents(after.executionId)).length).toBeGreaterThan(0);
    // A running execution is never deleted, however old. (`olderThan: 0` is "ended before now": let the
    // millisecond clock pass the last finish first.)
    await clockPast(Date.now());
    expect(await runner.cleanupExecutions({ olderThan: 0 })).toBe(1);
    expect((await runner.listExecutions()).map((e) => e.executionId)).toEqual([held.id]);
    release();
    expect((await held.wait()).status).toBe("Completed");
    await clockPast(Date.now());
    expect(await runner.cleanupExecutions({ olderThan: 0 })).toBe(1);
    expect(await runner.listExecutions()).toEqual([]);
  });

  it("cleanupEvents deletes the events older than the cutoff and keeps the newer ones", async () => {
    const name = unique("events");
    const wf = new WorkflowBuilder(name).task("a", (ctx) => ctx.set("a", 1)).build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const old = await runner.execute(name);
    const oldEvents = (await runner.getExecutionEvents(old.executionId)).length;
    expect(oldEvents).toBeGreaterThan(0);
    const cutoff = new Date(Date.now() + 1);
    await clockPast(cutoff.getTime());
    const recent = await runner.execute(name);
    const recentEvents = await runner.getExecutionEvents(recent.executionId);

    expect(await runner.cleanupEvents({ olderThan: cutoff })).toBe(oldEvents);
    expect(await runner.getExecutionEvents(old.executionId)).toEqual([]);
    expect(await runner.getExecutionEvents(recent.executionId)).toEqual(recentEvents);
    // The execution itself is kept: only its log went.
    expect((await runner.getExecution(old.executionId)).status).toBe("Completed");
  });

  if (backend.name === "postgres") {
    it("migrations 2 and 4: no index reads an execution's status and half of each page is free (its updates can be HOT), events are indexed by execution and by a BRIN on age", async () => {
      const db = await freshDatabase(backend);
      const name = unique("indexes");
      const wf = new WorkflowBuilder(name).task("a", () => undefined).build({ register: false });
      const runner = await openRunner(db, { workflows: [wf] });
      await runner.execute(name);
      const indexes = await pgQuery<{ tablename: string; indexdef: string }>(
        `SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename IN ('cloaca_executions', 'cloaca_events') ORDER BY tablename, indexname`,
        [db.schema],
      );
      const defs = indexes.map((i) => `${i.tablename}: ${i.indexdef.replace(/ ON "?[^ ]+"?\.\w+/, " ON")}`);
      expect(defs).toEqual([
        "cloaca_events: CREATE INDEX cloaca_events_created ON USING brin (created_at)",
        "cloaca_events: CREATE INDEX cloaca_events_execution ON USING btree (execution_id, seq)",
        "cloaca_executions: CREATE INDEX cloaca_executions_created ON USING btree (created_at)",
        "cloaca_executions: CREATE UNIQUE INDEX cloaca_executions_pkey ON USING btree (id)",
        "cloaca_executions: CREATE INDEX cloaca_executions_workflow ON USING btree (workflow_name, created_at)",
      ]);
      const [options] = await pgQuery<{ reloptions: string[] }>(
        `SELECT c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = 'cloaca_executions'`,
        [db.schema],
      );
      // Migration 2 left a quarter of each page free; migration 4, half.
      expect(options!.reloptions).toEqual(["fillfactor=50"]);
    });

    it("migration 5: no foreign key between the engine's tables (the engine keeps tasks with their execution)", async () => {
      const db = await freshDatabase(backend);
      const name = unique("nofk");
      const wf = new WorkflowBuilder(name).task("a", () => undefined).build({ register: false });
      const runner = await openRunner(db, { workflows: [wf] });
      expect((await runner.execute(name)).status).toBe("Completed");
      const keys = await pgQuery<{ conname: string }>(
        `SELECT con.conname FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace WHERE n.nspname = $1 AND con.contype = 'f'`,
        [db.schema],
      );
      expect(keys).toEqual([]);
    });

    /** The collation of each engine key column of `schema`, as `table.column: collation`. */
    const keyCollations = async (schema: string) =>
      (
        await pgQuery<{ col: string }>(
          `SELECT c.relname || '.' || a.attname || ': ' || COALESCE(co.collname, '-') AS col FROM pg_attribute a ` +
            `JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace ` +
            `LEFT JOIN pg_collation co ON co.oid = a.attcollation ` +
            `WHERE n.nspname = $1 AND c.relname IN ('cloaca_runners', 'cloaca_executions', 'cloaca_tasks', 'cloaca_events') ` +
            `AND a.attname IN ('id', 'execution_id', 'task_id', 'workflow_name', 'status', 'claimed_by') ORDER BY 1`,
          [schema],
        )
      ).map((r) => r.col);
    const KEYS_IN_C = [
      "cloaca_events.execution_id: C",
      "cloaca_events.task_id: C",
      "cloaca_executions.id: C",
      "cloaca_executions.status: C",
      "cloaca_executions.workflow_name: C",
      "cloaca_runners.id: C",
      "cloaca_tasks.claimed_by: C",
      "cloaca_tasks.execution_id: C",
      "cloaca_tasks.status: C",
      "cloaca_tasks.task_id: C",
      "cloaca_tasks.workflow_name: C",
    ];

    it("migration 3: the keys compare byte by byte (collation C), and the claim still walks the Ready index", async () => {
      const db = await freshDatabase(backend);
      const opened = await openStore(parseDatabaseUrl(db.url), { schema: db.schema, poolSize: 2, logger: silent });
      try {
        await opened.store.migrate();
        expect(await keyCollations(db.schema!)).toEqual(KEYS_IN_C);
        // The claim of queued work, as the engine sends it, captured instead of run.
        const capture = capturing();
        await opened.store.claim(capture.q, "R1", 32, ["wf"], Date.now());
        const plan = await genericPlan(capture.sent());
        expect(plan).toContain("Index Scan using cloaca_tasks_ready on cloaca_tasks c");
        expect(plan).toContain("Index Scan using cloaca_executions_pkey on cloaca_executions e");
      } finally {
        await opened.close();
      }
    });

    it("migration 3 applies to a schema that already holds executions, which stay readable and runnable", async () => {
      const db = await freshDatabase(backend);
      const name = unique("collate");
      let open = true;
      const wf = new WorkflowBuilder(name)
        .task("a", (ctx) => ctx.set("a", 1))
        .task("b", { dependencies: ["a"], retry: { maxAttempts: 1 } }, async (ctx) => {
          if (open) throw new Error("not yet"); // fails the first execution's b for good
          ctx.set("b", 1);
        })
        .build({ register: false });
      const before = await openRunner(db, { workflows: [wf] });
      const failed = await before.execute(name);
      expect(failed.status).toBe("Failed");
      await before.shutdown();
      // Back to the layout of version 2: the keys in the database's default collation.
      const q = (t: string) => `"${db.schema}".${t}`;
      const back = (cols: string[]) => cols.map((c) => `ALTER COLUMN ${c} TYPE TEXT COLLATE pg_catalog."default"`).join(", ");
      await pgQuery(`ALTER TABLE ${q("cloaca_runners")} ${back(["id"])}`);
      await pgQuery(`ALTER TABLE ${q("cloaca_executions")} ${back(["id", "workflow_name", "status"])}`);
      await pgQuery(`ALTER TABLE ${q("cloaca_tasks")} ${back(["execution_id", "task_id", "workflow_name", "status", "claimed_by"])}`);
      await pgQuery(`ALTER TABLE ${q("cloaca_events")} ${back(["execution_id", "task_id"])}`);
      await pgQuery(`DELETE FROM ${q("cloaca_migrations")} WHERE version = 3`);
      expect((await keyCollations(db.schema!)).filter((c) => c.endsWith(": C"))).toEqual([]);

      open = false;
      const after = await openRunner(db, { workflows: [wf] });
      expect(await keyCollations(db.schema!)).toEqual(KEYS_IN_C);
      const old = await after.getExecution(failed.executionId);
      expect([old.status, old.taskResults.map((t) => t.status)]).toEqual(["Failed", ["Completed", "Failed"]]);
      expect((await after.getExecutionEvents(failed.executionId)).map((e) => e.type)).toContain("execution_failed");
      const again = await after.execute(name);
      expect([again.status, again.finalContext.get("b")]).toEqual(["Completed", 1]);
    });
  }

  if (backend.name === "sqlite") {
    /** The file of a SQLite test database (its URL is `sqlite:///` + an absolute path). */
    const fileOf = (url: string) => url.slice("sqlite:///".length);
    const layout = (file: string) => {
      const side = new Database(file, { readonly: true });
      try {
        return {
          events: String((side.prepare("SELECT sql FROM sqlite_schema WHERE name = 'cloaca_events'").get() as { sql: string }).sql),
          indexes: (side.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name").all() as { name: string }[]).map((r) => r.name),
          sequences: (side.prepare("SELECT name FROM sqlite_schema WHERE name = 'sqlite_sequence'").all() as unknown[]).length
            ? (side.prepare("SELECT name FROM sqlite_sequence").all() as { name: string }[]).map((r) => r.name)
            : [],
        };
      } finally {
        side.close();
      }
    };

    it("migration 2: an older file is upgraded in place — the events keep their seq and order without AUTOINCREMENT, the status index is gone, listing by status still works", async () => {
      const db = await freshDatabase(backend);
      const file = fileOf(db.url);
      const name = unique("pages");
      const wf = new WorkflowBuilder(name)
        .task("a", (ctx) => ctx.set("a", 1))
        .task("b", { dependencies: ["a"] }, (ctx) => ctx.set("b", 1))
        .build({ register: false });
      const before = await openRunner(db, { workflows: [wf] });
      const first = await before.execute(name);
      const firstEvents = await before.getExecutionEvents(first.executionId);
      expect(firstEvents.map((e) => e.type)).toEqual(["execution_started", "task_completed", "task_ready", "task_completed", "execution_completed"]);
      await before.shutdown();

      // Back to the layout of version 1, with the rows: AUTOINCREMENT events (and their sqlite_sequence
      // entry) and the executions' status index.
      const side = new Database(file);
      side.exec(`
        BEGIN;
        CREATE TABLE old_events (seq INTEGER PRIMARY KEY AUTOINCREMENT, execution_id TEXT NOT NULL, task_id TEXT,
          event_type TEXT NOT NULL, data TEXT, runner_id TEXT, created_at INTEGER NOT NULL);
        INSERT INTO old_events SELECT seq, execution_id, task_id, event_type, data, runner_id, created_at FROM cloaca_events;
        DROP TABLE cloaca_events;
        ALTER TABLE old_events RENAME TO cloaca_events;
        CREATE INDEX cloaca_events_execution ON cloaca_events (execution_id, seq);
        CREATE INDEX cloaca_events_created ON cloaca_events (created_at);
        CREATE INDEX cloaca_executions_status ON cloaca_executions (status, created_at);
        DELETE FROM cloaca_migrations WHERE version = 2;
        COMMIT;`);
      side.close();
      const old = layout(file);
      expect(old.events).toContain("AUTOINCREMENT");
      expect(old.sequences).toEqual(["cloaca_events"]);
      expect(old.indexes).toContain("cloaca_executions_status");

      const after = await openRunner(db, { workflows: [wf] });
      const now = layout(file);
      expect(now.events).not.toContain("AUTOINCREMENT");
      expect(now.sequences).toEqual([]);
      expect(now.indexes).toEqual([
        "cloaca_events_created",
        "cloaca_events_execution",
        "cloaca_executions_created",
        "cloaca_executions_workflow",
        "cloaca_tasks_claimed",
        "cloaca_tasks_ready",
      ]);
      expect(await after.getExecutionEvents(first.executionId)).toEqual(firstEvents);
      const second = await after.execute(name);
      const secondEvents = await after.getExecutionEvents(second.executionId);
      expect(secondEvents.map((e) => e.type)).toEqual(firstEvents.map((e) => e.type));
      // Each new event still comes after every event already in the table.
      expect(secondEvents[0]!.seq).toBeGreaterThan(firstEvents.at(-1)!.seq);
      expect(secondEvents.map((e) => e.seq)).toEqual([...secondEvents.map((e) => e.seq)].sort((x, y) => x - y));
      expect((await after.listExecutions({ status: "Completed" })).map((e) => e.executionId).sort()).toEqual(
        [first.executionId, second.executionId].sort(),
      );
    });
  }
});
