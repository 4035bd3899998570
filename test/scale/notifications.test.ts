/**
 * Cross-runner wakeups on PostgreSQL: LISTEN/NOTIFY carries "work is ready" between runners, the listener
 * reconnects after its connection is killed, and a lost notification only costs latency (the backstop poll).
 * The runners here poll only once a minute, so work that starts promptly was started by a notification.
 */
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { WorkflowBuilder } from "../../src/index.js";
import { pgUrl, postgresBackend } from "../support/backends.js";
import { freshDatabase, openRunner } from "../support/runner.js";
import { until } from "../support/wait.js";

let seq = 0;
const unique = (base: string) => `${base}-${process.pid}-${++seq}`;

if (pgUrl) {
  const backend = postgresBackend(pgUrl);
  const clients: pg.Client[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.end().catch(() => undefined);
  });
  const admin = async () => {
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    clients.push(c);
    return c;
  };
  const listeners = async (c: pg.Client, app: string) =>
    (
      await c.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()",
        [app],
      )
    ).rows.map((r) => r.pid);

  describe("postgres notifications", () => {
    it("a task made ready by one runner starts on another through NOTIFY, and after the listener is killed it reconnects", async () => {
      const name = unique("notify");
      const app = `cloaca_notify_${process.pid}_${seq}`;
      const wf = new WorkflowBuilder(name).task("t", (ctx, h) => ctx.set("ranOn", h.executionId)).build({ register: false });
      const db = await freshDatabase(backend);
      const url = `${db.url}${db.url.includes("?") ? "&" : "?"}application_name=${app}`;
      const slow = { pollIntervalMs: 60_000, heartbeatIntervalMs: 30_000, staleClaimThresholdMs: 120_000 };
      const api = await openRunner({ ...db, url }, { ...slow, workflows: [wf], maxConcurrentTasks: 0 });
      const worker = await openRunner({ ...db, url }, { ...slow, workflows: [wf], maxConcurrentTasks: 2 });
      let started = 0;
      worker.on("taskStarted", () => started++);

      expect((await api.execute(name, {}, {})).status).toBe("Completed");
      expect(started).toBe(1);

      // Kill the LISTEN connection from the server side; the runners' shared listener reconnects on its own.
      const c = await admin();
      const [before] = await listeners(c, app);
      expect(before).toBeDefined();
      await c.query("SELECT pg_terminate_backend($1)", [before]);
      await until(async () => (await listeners(c, app)).some((pid) => pid !== before), {
        what: "the listener to reconnect",
        timeoutMs: 15_000,
      });
      const result = await api.execute(name);
      expect(result.status).toBe("Completed");
      expect(started).toBe(2);
    });

    it("an outcome's notifications reach the other runners: a dependent it left Ready starts elsewhere, its finish wakes the waiter", async () => {
      // a → (b, c) on two runners of one slot each, polling once a minute. The runner that ran a takes one
      // dependent with a's slot; each dependent waits until both have started, so the other one can only
      // start on the other runner, which hears of it only from the NOTIFY sent with a's outcome. The caller's
      // runner (no slots) learns that the execution ended only from the NOTIFY sent with the last outcome.
      const name = unique("fanout");
      let arrived = 0;
      let bothStarted!: () => void;
      const barrier = new Promise<void>((resolve) => (bothStarted = resolve));
      const meet = async () => {
        if (++arrived === 2) bothStarted();
        await barrier;
      };
      const ranOn = new Map<string, string>();
      const wf = new WorkflowBuilder(name)
        .task("a", (ctx) => ctx.set("a", 1))
        .task("b", { dependencies: ["a"] }, async (ctx) => {
          await meet();
          ctx.set("b", 1);
        })
        .task("c", { dependencies: ["a"] }, async (ctx) => {
          await meet();
          ctx.set("c", 1);
        })
        .build({ register: false });
      const db = await freshDatabase(backend);
      const slow = { pollIntervalMs: 60_000, heartbeatIntervalMs: 30_000, staleClaimThresholdMs: 120_000 };
      const api = await openRunner(db, { ...slow, workflows: [wf], maxConcurrentTasks: 0 });
      const workers = [
        await openRunner(db, { ...slow, workflows: [wf], maxConcurrentTasks: 1 }),
        await openRunner(db, { ...slow, workflows: [wf], maxConcurrentTasks: 1 }),
      ];
      for (const w of workers) w.on("taskStarted", ({ taskId }) => ranOn.set(taskId, w.runnerId));

      const result = await api.execute(name, {}, {});
      expect(result.status).toBe("Completed");
      expect(result.finalContext.toObject()).toEqual({ a: 1, b: 1, c: 1 });
      expect(ranOn.get("b")).not.toBe(ranOn.get("c"));
      expect([ranOn.get("b"), ranOn.get("c")]).toContain(ranOn.get("a"));
    });

    it("a lost notification only costs latency: the backstop poll finds the work", async () => {
      const name = unique("backstop");
      const wf = new WorkflowBuilder(name).task("t", (ctx) => ctx.set("ok", 1)).build({ register: false });
      const db = await freshDatabase(backend);
      const worker = await openRunner(db, { workflows: [wf], pollIntervalMs: 50 });
      // Create a ready execution through the store directly: no NOTIFY is sent, as if it had been lost.
      const store = worker.storeForTests;
      const id = "00000000-0000-4000-8000-00000000b57c";
      await store.driver.transaction((tx) =>
        store.createExecution(tx, {
          id,
          workflowName: wf.name,
          workflowVersion: wf.version,
          input: { from: "backstop" },
          origin: undefined,
          tasks: [{ taskId: "t", position: 0, depsCount: 0, maxAttempts: 1 }],
          now: Date.now(),
          runnerId: "nobody",
          localRoots: 0,
        }),
      );
      const result = await worker.waitFor(id, { timeoutMs: 10_000 });
      expect(result.status).toBe("Completed");
      expect(result.finalContext.toObject()).toEqual({ from: "backstop", ok: 1 });
    });
  });
}
