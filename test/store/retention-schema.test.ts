/**
 * Retention (`cleanupExecutions`, `cleanupEvents`) on both backends, and on PostgreSQL the index layout of
 * migration 2: what it removed (the executions' status index, the events' sequence key) must not break the
 * queries that used them.
 */
import { expect, it } from "vitest";
import { ExecutionNotFoundError, WorkflowBuilder } from "../../src/index.js";
import { forEachBackend, pgQuery } from "../support/backends.js";
import { freshDatabase, openRunner } from "../support/runner.js";

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
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const done = [await runner.execute(name), await runner.execute(name)];
    const held = await runner.start(name, { hold: true });
    const cutoff = new Date(Date.now() + 1);
    const after = await runner.execute(name); // ends after the cutoff
    while (Date.now() <= cutoff.getTime()) await new Promise((r) => setImmediate(r));

    expect(await runner.cleanupExecutions({ olderThan: cutoff })).toBe(2);
    const left = (await runner.listExecutions()).map((e) => e.executionId).sort();
    expect(left).toEqual([held.id, after.executionId].sort());
    for (const r of done) {
      await expect(runner.getExecution(r.executionId)).rejects.toBeInstanceOf(ExecutionNotFoundError);
      expect(await runner.getExecutionEvents(r.executionId)).toEqual([]);
    }
    expect((await runner.getExecutionEvents(after.executionId)).length).toBeGreaterThan(0);
    // A running execution is never deleted, however old.
    expect(await runner.cleanupExecutions({ olderThan: 0 })).toBe(1);
    expect((await runner.listExecutions()).map((e) => e.executionId)).toEqual([held.id]);
    release();
    expect((await held.wait()).status).toBe("Completed");
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
    while (Date.now() <= cutoff.getTime()) await new Promise((r) => setImmediate(r));
    const recent = await runner.execute(name);
    const recentEvents = await runner.getExecutionEvents(recent.executionId);

    expect(await runner.cleanupEvents({ olderThan: cutoff })).toBe(oldEvents);
    expect(await runner.getExecutionEvents(old.executionId)).toEqual([]);
    expect(await runner.getExecutionEvents(recent.executionId)).toEqual(recentEvents);
    // The execution itself is kept: only its log went.
    expect((await runner.getExecution(old.executionId)).status).toBe("Completed");
  });

  if (backend.name === "postgres") {
    it("migration 2: no index reads an execution's status (its updates can be HOT), events are indexed by execution and by a BRIN on age", async () => {
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
      expect(options!.reloptions).toEqual(["fillfactor=75"]);
    });
  }
});
