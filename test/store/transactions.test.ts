/**
 * The drivers' transaction contract (store.ts, `Driver.transaction`), on both backends: statements sent
 * together (pipelined on PostgreSQL) run in the order sent, `runAtCommit` writes and statements nobody
 * waited for run before COMMIT inside the same transaction, and a failed statement fails its whole
 * transaction — even when the caller swallowed the error — so nothing half-done is ever committed.
 */
import net from "node:net";
import pg from "pg";
import { expect, it, vi } from "vitest";
import type { Driver } from "../../src/store/store.js";
import { forEachBackend } from "../support/backends.js";
import { withTable } from "../support/store.js";

/** Runs `fn` as a transaction over a table holding row (1, 'kept'): it must fail and leave only that row. */
async function expectRolledBack(driver: Driver, t: string, fn: Parameters<Driver["transaction"]>[0]): Promise<void> {
  await driver.run(`INSERT INTO ${t} (id, v) VALUES (1, 'kept')`);
  await expect(driver.transaction(fn)).rejects.toThrow();
  expect(await rows(driver, t)).toEqual([[1, "kept"]]);
}

async function rows(driver: Driver, t: string): Promise<Array<[number, string]>> {
  const r = await driver.query<{ id: number; v: string }>(`SELECT id, v FROM ${t} ORDER BY id`);
  return r.map((x) => [Number(x.id), x.v]);
}

forEachBackend((backend) => {
  it("statements sent together run in the order sent and commit together", async () => {
    const { driver, t } = await withTable(backend);
    const seen = await driver.transaction(async (tx) => {
      const [, , updated, read] = await Promise.all([
        tx.run(`INSERT INTO ${t} (id, v) VALUES (1, 'a')`),
        tx.run(`INSERT INTO ${t} (id, v) VALUES (2, 'b')`),
        tx.run(`UPDATE ${t} SET v = v || '!' WHERE id IN (1, 2)`),
        tx.query<{ v: string }>(`SELECT v FROM ${t} ORDER BY id`),
      ]);
      return { updated, read: read.map((r) => r.v) };
    });
    expect(seen).toEqual({ updated: 2, read: ["a!", "b!"] });
    expect(await rows(driver, t)).toEqual([[1, "a!"], [2, "b!"]]);
  });

  it("runAtCommit writes run last, inside the transaction", async () => {
    const { driver, t } = await withTable(backend);
    await driver.transaction(async (tx) => {
      tx.runAtCommit(`UPDATE ${t} SET v = 'last' WHERE id = ?`, [1]);
      await tx.run(`INSERT INTO ${t} (id, v) VALUES (?, ?)`, [1, "first"]);
    });
    expect(await rows(driver, t)).toEqual([[1, "last"]]);

    // fn failing after queueing one: the queued write never runs, and fn's own writes roll back.
    await expect(
      driver.transaction(async (tx) => {
        tx.runAtCommit(`INSERT INTO ${t} (id, v) VALUES (3, 'queued')`);
        await tx.run(`INSERT INTO ${t} (id, v) VALUES (2, 'fn')`);
        throw new Error("fn fails");
      }),
    ).rejects.toThrow("fn fails");
    expect(await rows(driver, t)).toEqual([[1, "last"]]);
  });

  it("a runAtCommit write that fails rolls the whole transaction back", async () => {
    const { driver, t } = await withTable(backend);
    await expectRolledBack(driver, t, async (tx) => {
      await tx.run(`INSERT INTO ${t} (id, v) VALUES (2, 'rolled back')`);
      tx.runAtCommit(`INSERT INTO ${t} (id, v) VALUES (1, 'duplicate key')`);
    });
  });

  it("a failed statement fails its transaction even when the caller swallowed the error", async () => {
    const { driver, t } = await withTable(backend);
    await expectRolledBack(driver, t, async (tx) => {
      await tx.run(`INSERT INTO ${t} (id, v) VALUES (2, 'rolled back')`);
      await tx.run(`INSERT INTO ${t} (id, v) VALUES (1, 'duplicate key')`).catch(() => undefined);
      return "fn resolved";
    });
    // The connection is usable afterwards.
    await driver.transaction((tx) => tx.run(`INSERT INTO ${t} (id, v) VALUES (3, 'next')`));
    expect(await rows(driver, t)).toEqual([[1, "kept"], [3, "next"]]);
  });

  it("a statement the caller did not wait for runs before COMMIT, and its failure fails the transaction", async () => {
    const { driver, t } = await withTable(backend);
    let pending: Promise<number> | undefined;
    await driver.transaction(async (tx) => {
      await tx.run(`INSERT INTO ${t} (id, v) VALUES (1, 'a')`);
      pending = tx.run(`UPDATE ${t} SET v = 'not awaited' WHERE id = 1`);
    });
    expect(await pending).toBe(1);
    expect(await rows(driver, t)).toEqual([[1, "not awaited"]]);

    let failing: Promise<number> | undefined;
    await expect(
      driver.transaction(async (tx) => {
        await tx.run(`INSERT INTO ${t} (id, v) VALUES (2, 'rolled back')`);
        failing = tx.run(`INSERT INTO ${t} (id, v) VALUES (1, 'duplicate key')`);
        failing.catch(() => undefined);
      }),
    ).rejects.toThrow();
    await expect(failing).rejects.toThrow();
    expect(await rows(driver, t)).toEqual([[1, "not awaited"]]);
  });

  it("a transaction of one statement commits it whole or not at all", async () => {
    const { driver, t } = await withTable(backend);
    // fn sends the statement and returns without waiting for its answer (as an outcome batch does).
    const one = (sql: string) => {
      let answer: Promise<number> | undefined;
      const done = driver.transaction(async (tx) => {
        answer = tx.run(sql);
        answer.catch(() => undefined);
      });
      return done.then(() => answer!);
    };
    expect(await one(`INSERT INTO ${t} (id, v) VALUES (1, 'a'), (2, 'b')`)).toBe(2);
    // The third row's key is taken: the statement fails and none of its rows stays.
    await expect(one(`INSERT INTO ${t} (id, v) VALUES (3, 'c'), (4, 'd'), (1, 'again')`)).rejects.toThrow();
    expect(await rows(driver, t)).toEqual([[1, "a"], [2, "b"]]);
    // A transaction that sends nothing returns its result.
    expect(await driver.transaction(async () => "nothing sent")).toBe("nothing sent");
  });

  if (backend.name === "postgres") {
    it("a transaction of one statement nobody waits for sends it without BEGIN and COMMIT; with a second statement, or a runAtCommit write, it is a transaction block", async () => {
      const { driver, t } = await withTable(backend);
      const sent = vi.spyOn(pg.Client.prototype, "query");
      const control = () =>
        sent.mock.calls.map(([q]) => (typeof q === "string" ? q : (q as { text?: string }).text ?? "")).filter((q) => q === "BEGIN" || q === "COMMIT");
      try {
        let inserted: Promise<number> | undefined;
        await driver.transaction(async (tx) => {
          inserted = tx.run(`INSERT INTO ${t} (id, v) VALUES (1, 'a')`);
        });
        expect(await inserted).toBe(1);
        expect(control()).toEqual([]);
        // fn waits for the first statement's answer before it sends the second: BEGIN goes out with the first.
        await driver.transaction(async (tx) => {
          await tx.run(`INSERT INTO ${t} (id, v) VALUES (2, 'b')`);
          await tx.run(`UPDATE ${t} SET v = v || '!' WHERE id = 2`);
        });
        expect(control()).toEqual(["BEGIN", "COMMIT"]);
        await driver.transaction(async (tx) => {
          tx.runAtCommit(`UPDATE ${t} SET v = v || '+' WHERE id = 3`);
          await tx.run(`INSERT INTO ${t} (id, v) VALUES (3, 'c')`);
        });
        expect(control()).toEqual(["BEGIN", "COMMIT", "BEGIN", "COMMIT"]);
      } finally {
        sent.mockRestore();
      }
      expect(await rows(driver, t)).toEqual([[1, "a"], [2, "b!"], [3, "c+"]]);
    });

    it("a transaction whose statements are all sent before any answer leaves in one socket write; one that waits first is not held back", async () => {
      const { driver, t } = await withTable(backend);
      await driver.run(`SELECT 1`); // the pool's connection is open and idle
      const writes = vi.spyOn(net.Socket.prototype, "_writev");
      const write = vi.spyOn(net.Socket.prototype, "_write");
      try {
        const sent = await driver.transaction(async (tx) => {
          tx.runAtCommit(`INSERT INTO ${t} (id, v) VALUES (3, 'c')`);
          return [tx.run(`INSERT INTO ${t} (id, v) VALUES (1, 'a')`), tx.run(`INSERT INTO ${t} (id, v) VALUES (2, 'b')`)];
        });
        expect(await Promise.all(sent)).toEqual([1, 1]);
        // BEGIN, two statements, the runAtCommit write and COMMIT: one write.
        expect(writes.mock.calls.length + write.mock.calls.length).toBe(1);
        // A transaction that reads before it writes gets its answer (the socket is uncorked), then commits.
        const read = await driver.transaction(async (tx) => {
          const [r] = await tx.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${t}`);
          await tx.run(`INSERT INTO ${t} (id, v) VALUES (4, 'd')`);
          return Number(r!.n);
        });
        expect(read).toBe(3);
      } finally {
        writes.mockRestore();
        write.mockRestore();
      }
      expect(await rows(driver, t)).toEqual([[1, "a"], [2, "b"], [3, "c"], [4, "d"]]);
    });
  }
});
