/**
 * Write lanes (`writeLanes`, src/engine/write-batcher.ts): a PostgreSQL runner keeps one write transaction in
 * flight per lane, and every write of an execution goes to the lane of its id. What a lane waiting on a
 * row lock holds up (only its own executions), how many lanes a runner uses, and which settings it refuses.
 */
import { expect, it } from "vitest";
import { ConfigurationError, DefaultRunner } from "../../src/index.js";
import { laneOf } from "../../src/engine/write-batcher.js";
import { newExecutionId } from "../../src/engine/execution-ids.js";
import { forEachBackend, pgQuery } from "../support/backends.js";
import { freshDatabase, openRunner } from "../support/runner.js";
import { until, within } from "../support/wait.js";
import { lockExecutionRow, startHeld } from "../support/held.js";

it("laneOf: one lane takes everything; two lanes split execution ids about evenly, each id always to the same lane", () => {
  const ids = Array.from({ length: 2000 }, () => newExecutionId(Date.now()));
  expect(new Set(ids.map((id) => laneOf(id, 1)))).toEqual(new Set([0]));
  const second = ids.filter((id) => laneOf(id, 2) === 1).length;
  expect(second).toBeGreaterThan(800);
  expect(second).toBeLessThan(1200);
  for (const id of ids.slice(0, 50)) expect(laneOf(id, 2)).toBe(laneOf(id, 2));
  // Every hex digit the id can end with, by lane: 8 and 8.
  const byDigit = [..."0123456789abcdef"].map((d) => laneOf(`x${d}`, 2));
  expect(byDigit.filter((l) => l === 0)).toHaveLength(8);
});

forEachBackend((backend) => {
  if (backend.name === "sqlite") {
    it("SQLite writes in one lane whatever writeLanes says (one writer)", async () => {
      const db = await freshDatabase(backend);
      const runner = await openRunner(db, { writeLanes: 8 });
      expect(runner.writeLanesForTests).toBe(1);
    });
    return;
  }

  it("PostgreSQL: 2 lanes by default for a runner with a pool of at least 4 to itself, else 1; writeLanes wins; more than half the pool is refused", async () => {
    const db = await freshDatabase(backend);
    const alone = await openRunner(db);
    expect(alone.writeLanesForTests).toBe(2);
    // A second runner on the same pool (another tenant's schema, say) finds it shared when it connects.
    const other = await freshDatabase(backend);
    expect((await openRunner({ ...other, url: db.url })).writeLanesForTests).toBe(1);
    expect(alone.writeLanesForTests).toBe(2); // fixed once connected
    // Its own pool of 3 (pool_max_size makes it a pool of its own): too small for two lanes.
    expect((await openRunner({ ...other, url: `${db.url}?pool_max_size=3` })).writeLanesForTests).toBe(1);
    expect((await openRunner(db, { writeLanes: 1 })).writeLanesForTests).toBe(1);
    expect((await openRunner(db, { writeLanes: 5 })).writeLanesForTests).toBe(5);
    const refused = (options: ConstructorParameters<typeof DefaultRunner>[1], url = db.url) => {
      try {
        DefaultRunner.withSchema(url, db.schema!, options);
      } catch (err) {
        return err;
      }
      return undefined;
    };
    const err = refused({ writeLanes: 3, dbPoolSize: 5 });
    expect(err).toBeInstanceOf(ConfigurationError);
    expect((err as Error).message).toBe(
      "writeLanes=3 needs a pool of at least 6 connections (the pool size is 5: pool_max_size or dbPoolSize)",
    );
    expect(refused({ writeLanes: 2 }, `${db.url}?pool_max_size=3`)).toBeInstanceOf(ConfigurationError);
  });

  // A lane held up keeps the slots its batch reserved (its outcomes', one per root of each execution the
  // batch starts, its lane's share of the free ones: see BatchSlots in slots.test.ts); the rest serve the
  // other lane.
  it("PostgreSQL: a write held by a row lock holds up only its own lane: executions of the other lane start and complete meanwhile", async () => {
    const { db, runner, x, open, quick } = await startHeld(backend, "q", { maxConcurrentTasks: 4, writeLanes: 2 });
    const blocked = laneOf(x.id, 2);
    const lock = await lockExecutionRow(db, x.id);
    const done: string[] = [];
    let all: Promise<unknown> | undefined;
    try {
      open(); // a's outcome updates x's row: its lane waits for the lock
      // The server's own state says when (no event in the process does): a backend of this runner waits on a
      // lock while writing an outcome batch. Executions started from here on are not in that batch.
      // (Read outside the lock's transaction: the statistics views keep one snapshot per transaction.)
      await until(
        async () =>
          (
            await pgQuery("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1", [
              `WITH fin AS (UPDATE "${db.schema}".cloaca_tasks%`,
            ])
          ).length === 1,
        { what: "a's outcome batch to wait for the row lock" },
      );
      // 40 executions: about half fall in x's lane (their starts wait behind a's outcome), the rest run.
      let third!: () => void;
      const threeDone = new Promise<void>((r) => (third = r));
      all = Promise.all(
        Array.from({ length: 40 }, async () => {
          const r = await (await runner.start(quick)).wait();
          done.push(r.executionId);
          if (done.length === 3) third();
          return r;
        }),
      );
      all.catch(() => undefined);
      const outcome = await within(threeDone, "three completed", "fewer than three completed within 10 s");
      expect(outcome).toBe("three completed");
      const whileLocked = [...done];
      expect(whileLocked.every((id) => laneOf(id, 2) !== blocked)).toBe(true);
      expect(await runner.status(x.id)).toBe("Running"); // a's outcome is still unwritten
    } finally {
      await lock.release();
    }
    expect((await x.wait()).status).toBe("Completed");
    const results = (await all) as Array<{ status: string }>;
    expect(results.map((r) => r.status)).toEqual(Array(40).fill("Completed"));
    expect(done.some((id) => laneOf(id, 2) === blocked)).toBe(true);
  });
});
