/**
 * Outcomes are recorded set-based, many executions per transaction, and a runner's waiters get the result
 * built inside the finishing transaction (no read after commit). These tests hold both to what a plain,
 * one-at-a-time reading of the database says.
 */
import { expect, it } from "vitest";
import { WorkflowBuilder, type ExecutionSnapshot } from "../../src/index.js";
import { parseDatabaseUrl } from "../../src/database-url.js";
import { WriteBatcher, type BatchKind } from "../../src/engine/write-batcher.js";
import { openStore } from "../../src/store/open-store.js";
import { viewOf, type Transaction } from "../../src/store/store.js";
import { forEachBackend } from "../support/backends.js";
import { freshDatabase, openRunner } from "../support/runner.js";

let seq = 0;
const unique = (base: string) => `${base}-${process.pid}-${++seq}`;

/** A snapshot as plain data (the context as an object), for deep comparison. */
function plain(s: ExecutionSnapshot) {
  return { ...s, finalContext: s.finalContext.toObject(), durationMs: undefined };
}

forEachBackend((backend) => {
  it("a batch whose failure its kind answered (retryWhole) is written again whole, once, not write by write", async () => {
    const db = await freshDatabase(backend);
    const silent = { debug() {}, info() {}, warn() {}, error() {} };
    const opened = await openStore(parseDatabaseUrl(db.url), { schema: db.schema, poolSize: 2, logger: silent });
    try {
      await opened.store.migrate();
      const driver = opened.store.driver;
      const t = `${opened.store.dialect.prefix}batch_probe`;
      await driver.run(`CREATE TABLE ${t} (v INTEGER NOT NULL)`);
      const runs: number[][] = [];
      let answered = false;
      const kind: BatchKind<number, number> = {
        retryWhole: (err) => answered && /null/i.test(String((err as Error).message)),
        run: async (tx, _ws, inputs) => {
          runs.push([...inputs]);
          if (!answered) {
            answered = true;
            // Fails in the database; the kind knows why and will take another way next time.
            await tx.run(`INSERT INTO ${t} (v) VALUES (NULL)`);
          }
          for (const v of inputs) await tx.run(`INSERT INTO ${t} (v) VALUES (?)`, [v]);
          return inputs.map((v) => v * 10);
        },
      };
      const batcher = new WriteBatcher(driver, async () => []);
      const results = await Promise.all([1, 2, 3].map((input) => batcher.submit({ kind, input, reset() {} })));
      expect(results).toEqual([10, 20, 30]);
      expect(runs).toEqual([[1, 2, 3], [1, 2, 3]]);
      expect(batcher.stats).toEqual({ transactions: 1, operations: 3 });
      expect((await driver.query<{ v: number }>(`SELECT v FROM ${t} ORDER BY v`)).map((r) => Number(r.v))).toEqual([1, 2, 3]);
    } finally {
      await opened.close();
    }
  });

  it("a lone write goes at once when nothing may join it (mayJoin), and a burst submitted in one loop still shares a batch", async () => {
    const db = await freshDatabase(backend);
    const silent = { debug() {}, info() {}, warn() {}, error() {} };
    const opened = await openStore(parseDatabaseUrl(db.url), { schema: db.schema, poolSize: 2, logger: silent });
    try {
      const order: string[] = [];
      // The real driver, noting when the batcher opens a transaction (that is, when it has taken its batch).
      const real = opened.store.driver;
      const driver = { ...viewOf(real), transaction: <T>(fn: (tx: Transaction) => Promise<T>) => (order.push("batch taken"), real.transaction(fn)) };
      const kind: BatchKind<number, number> = {
        run: async (tx, _ws, inputs) => {
          order.push(`run ${inputs.join(",")}`);
          await tx.query("SELECT 1");
          return [...inputs];
        },
      };
      const lone = async (mayJoin: boolean) => {
        order.length = 0;
        const batcher = new WriteBatcher(driver, async () => [], { mayJoin: () => mayJoin });
        // Runs at the end of this turn of the event loop: after the batch only if the batch did not wait for it.
        const turnEnded = new Promise<void>((resolve) => setImmediate(() => (order.push("turn ended"), resolve())));
        await Promise.all([batcher.submit({ kind, input: 1, reset() {} }), turnEnded]);
        return [...order];
      };
      expect((await lone(false)).filter((e) => e !== "run 1")).toEqual(["batch taken", "turn ended"]);
      expect((await lone(true)).filter((e) => e !== "run 1")).toEqual(["turn ended", "batch taken"]);

      order.length = 0;
      const batcher = new WriteBatcher(driver, async () => [], { mayJoin: () => false });
      expect(await Promise.all([1, 2, 3].map((input) => batcher.submit({ kind, input, reset() {} })))).toEqual([1, 2, 3]);
      expect(order).toEqual(["batch taken", "run 1,2,3"]);
      expect(batcher.stats).toEqual({ transactions: 1, operations: 3 });
    } finally {
      await opened.close();
    }
  });

  it("the result a waiter gets from the finishing transaction equals what getExecution reads back", async () => {
    const name = unique("result");
    const wf = new WorkflowBuilder(name)
      .task("a", (ctx) => ctx.set("a", { nested: [1, 2] }))
      .task("b", { dependencies: ["a"], retry: { maxAttempts: 2, initialDelayMs: 1 } }, (ctx, h) => {
        if (h.attempt === 1) throw new Error("first attempt fails");
        ctx.set("b", h.attempt);
      })
      .task("c", { dependencies: ["a"], retry: { maxAttempts: 1 } }, () => {
        throw new Error("c always fails");
      })
      .task("d", { dependencies: ["c"] }, (ctx) => ctx.set("d", true))
      .build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const result = await runner.execute(name, { input: "x" });
    expect(result.status).toBe("Failed");
    expect(result.errorMessage).toContain("c always fails");
    expect(result.taskResults.map((t) => [t.taskId, t.status, t.attempts, t.skipReason])).toEqual([
      ["a", "Completed", 1, undefined],
      ["b", "Completed", 2, undefined],
      ["c", "Failed", 1, undefined],
      ["d", "Skipped", 0, "upstream failed"],
    ]);
    const read = await runner.getExecution(result.executionId);
    expect(plain(result)).toEqual(plain(read));
  });

  it("a waiter's result is its own: changing its context changes no other waiter's result", async () => {
    const name = unique("own");
    const wf = new WorkflowBuilder(name).task("t", (ctx) => ctx.set("list", [1])).build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const exec = await runner.start(name);
    const [first, second] = await Promise.all([exec.wait(), exec.wait()]);
    first.finalContext.set("list", ["changed"]);
    expect(second.finalContext.get("list")).toEqual([1]);
    expect((await exec.wait()).finalContext.get("list")).toEqual([1]);
  });

  it("many executions finishing in shared batches each get their own statuses, skips and final context", async () => {
    const name = unique("many");
    const wf = new WorkflowBuilder(name)
      .task("a", (ctx) => ctx.set("seen", [ctx.get<number>("i")]))
      .task("b", { dependencies: ["a"], retry: { maxAttempts: 1 } }, (ctx) => {
        if (ctx.get<number>("i")! % 2 === 1) throw new Error(`odd ${ctx.get<number>("i")}`);
        ctx.set("b", ctx.get<number>("i")! * 10);
      })
      .task("c", { dependencies: ["b"] }, (ctx) => ctx.set("c", true))
      .task("d", { dependencies: ["c"] }, (ctx) => ctx.set("d", true))
      .task("e", { dependencies: ["a"] }, (ctx) => ctx.set("e", ctx.get<number>("i")))
      .build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf], maxConcurrentTasks: 8 });
    const results = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => (await runner.start(name, { i })).wait()),
    );
    results.forEach((r, i) => {
      const tasks = r.taskResults.map((t) => [t.taskId, t.status, t.skipReason]);
      if (i % 2 === 1) {
        expect(r.status).toBe("Failed");
        expect(r.errorMessage).toContain(`odd ${i}`);
        expect(tasks).toEqual([
          ["a", "Completed", undefined],
          ["b", "Failed", undefined],
          ["c", "Skipped", "upstream failed"],
          ["d", "Skipped", "upstream skipped"],
          ["e", "Completed", undefined],
        ]);
      } else {
        expect(r.status).toBe("Completed");
        expect(tasks.every(([, status]) => status === "Completed")).toBe(true);
        expect(r.finalContext.toObject()).toMatchObject({ i, seen: [i], b: i * 10, c: true, d: true, e: i });
      }
    });
    // What the waiters got is what the database holds.
    for (const r of results) expect(plain(r)).toEqual(plain(await runner.getExecution(r.executionId)));
  });
});
