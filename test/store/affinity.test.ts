/**
 * `Driver.withAffinity()` (store.ts): a view for one stream of work (a runner's write lane, its claims).
 * On both backends the view runs statements and transactions like its driver. On PostgreSQL it takes the
 * connection it used last whenever that one is idle, even when the pool would hand out another one first,
 * so the statements it prepared there are not parsed and planned again on another connection; when that
 * connection is busy it takes another one instead of waiting.
 */
import type pg from "pg";
import { expect, it } from "vitest";
import type { PostgresDriver } from "../../src/store/postgres/driver.js";
import type { SharedPostgresDriver } from "../../src/store/postgres/shared-connections.js";
import type { Driver } from "../../src/store/store.js";
import { forEachBackend } from "../support/backends.js";
import { withTable } from "../support/store.js";

forEachBackend((backend) => {
  it("a view runs statements and transactions on its driver's database", async () => {
    const { driver, t } = await withTable(backend, 3);
    const view = driver.withAffinity();
    expect(await view.run(`INSERT INTO ${t} (id, v) VALUES (1, 'a')`)).toBe(1);
    await view.transaction(async (tx) => {
      await tx.run(`INSERT INTO ${t} (id, v) VALUES (2, 'b')`);
      tx.runAtCommit(`UPDATE ${t} SET v = v || '!'`);
    });
    await expect(
      view.transaction(async (tx) => {
        await tx.run(`INSERT INTO ${t} (id, v) VALUES (3, 'c')`);
        throw new Error("roll back");
      }),
    ).rejects.toThrow("roll back");
    const rows = await driver.query<{ id: number; v: string }>(`SELECT id, v FROM ${t} ORDER BY id`);
    expect(rows.map((r) => [Number(r.id), r.v])).toEqual([[1, "a!"], [2, "b!"]]);
    expect((await view.query<{ v: string }>(`SELECT v FROM ${t} WHERE id = ?`, [2])).map((r) => r.v)).toEqual(["b!"]);
    // Closing a view closes nothing: the driver still works.
    await view.close();
    expect(await driver.query(`SELECT id FROM ${t}`)).toHaveLength(2);
  });

  if (backend.name === "postgres") {
    const pid = async (q: { query: Driver["query"] }) => Number((await q.query<{ pid: number }>("SELECT pg_backend_pid() AS pid"))[0]!.pid);

    it("a view takes the connection it used last when the pool would hand out another first", async () => {
      const { driver } = await withTable(backend, 3);
      const pool = ((driver as SharedPostgresDriver).inner as PostgresDriver).pool;
      const view = driver.withAffinity();
      const mine = await pid(view);
      // Put a second idle connection on top of the pool's idle list: the pool hands that one out next.
      const a = await pool.connect();
      const b = await pool.connect();
      const pids = [(a as unknown as { processID: number }).processID, (b as unknown as { processID: number }).processID];
      expect(pids).toContain(mine);
      const other = pids.find((p) => p !== mine)!;
      (pids[0] === mine ? a : b).release();
      (pids[0] === mine ? b : a).release();
      expect(await pid(driver)).toBe(other); // the pool's own choice (and `other` is back on top)
      expect(await pid(view)).toBe(mine);
      expect(await view.transaction((tx) => pid(tx))).toBe(mine);
      // Two views used at once take two connections; each keeps to its own afterwards, although the pool
      // would next hand out the one released last (the outer transaction's).
      const second = driver.withAffinity();
      let its = 0;
      expect(
        await view.transaction(async (tx) => {
          its = await pid(second);
          return pid(tx);
        }),
      ).toBe(mine);
      expect(its).not.toBe(mine);
      expect(await pid(second)).toBe(its);
      expect(await pid(view)).toBe(mine);
    });

    it("a view whose connection is busy takes another one instead of waiting", async () => {
      const { driver } = await withTable(backend, 3);
      const pool = ((driver as SharedPostgresDriver).inner as PostgresDriver).pool;
      const view = driver.withAffinity();
      const mine = await pid(view);
      let held: pg.PoolClient | undefined;
      // Check connections out until the view's own is among them.
      const out: pg.PoolClient[] = [];
      while (!held) {
        const c = await pool.connect();
        out.push(c);
        if ((c as unknown as { processID: number }).processID === mine) held = c;
      }
      for (const c of out) if (c !== held) c.release();
      const meanwhile = await pid(view);
      expect(meanwhile).not.toBe(mine);
      held.release();
      // It now prefers the connection it used last.
      expect(await pid(view)).toBe(meanwhile);
    });
  }
});
