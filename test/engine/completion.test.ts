/**
 * completion.ts sends an outcome batch's write, the advance of the dependents, the read of finishing
 * executions and the claim of queued work together, before the write has answered. An outcome whose claim
 * was lost (another runner took the task over) must still advance nothing, and a claim by key (of tasks the
 * runner made Ready itself) must take only what the ordinary claim would. These tests drive the store
 * directly, on both backends, with real takeovers and competing claims.
 */
import { randomUUID } from "node:crypto";
import { afterEach, expect, it } from "vitest";
import { WorkflowBuilder } from "../../src/index.js";
import { parseDatabaseUrl } from "../../src/database-url.js";
import { oneTripPlan, recordOutcomes, recordOutcomesAtOnce, type Outcome } from "../../src/engine/completion.js";
import { finalContext, toDelta } from "../../src/engine/context-flow.js";
import { openStore, type OpenedStore } from "../../src/store/open-store.js";
import { isOneTripRefused, WriteSet, type SqlStore } from "../../src/store/sql-store.js";
import type { ClaimedTask, DependencyState, Queryable, TaskInputs } from "../../src/store/store.js";
import type { JsonObject } from "../../src/types.js";
import { forEachBackend, pgQuery, type TestBackend } from "../support/backends.js";
import { freshDatabase, openRunner } from "../support/runner.js";
import { capturing, genericPlan } from "../support/plans.js";
import { until } from "../support/wait.js";

const silent = { debug() {}, info() {}, warn() {}, error() {} };
let opened: OpenedStore | undefined;
afterEach(async () => {
  await opened?.close();
  opened = undefined;
});

// x and y are roots; m waits for both.
const wf = new WorkflowBuilder(`completion-${process.pid}`)
  .task("x", () => undefined)
  .task("y", () => undefined)
  .task("m", { dependencies: ["x", "y"] }, () => undefined)
  .build({ register: false });

async function setup(backend: TestBackend): Promise<{ store: SqlStore; executionId: string }> {
  const db = await freshDatabase(backend);
  opened = await openStore(parseDatabaseUrl(db.url), { schema: db.schema, poolSize: 2, logger: silent });
  const store = opened.store;
  await store.migrate();
  return addExecution(store);
}

// p and q are roots and leaves: the execution ends with whichever ends last.
const leaves = new WorkflowBuilder(`leaves-${process.pid}`)
  .task("p", () => undefined)
  .task("q", () => undefined)
  .build({ register: false });

/** One more execution of `flow` (`wf` by default) in `store`, its roots Ready. */
async function addExecution(store: SqlStore, flow = wf): Promise<{ store: SqlStore; executionId: string }> {
  const executionId = randomUUID();
  await store.driver.transaction((tx) =>
    store.createExecution(tx, {
      id: executionId,
      workflowName: flow.name,
      workflowVersion: flow.version,
      input: {},
      origin: undefined,
      tasks: flow.tasks.map((t) => ({ taskId: t.id, position: t.position, depsCount: t.dependencies.length, maxAttempts: 1 })),
      now: Date.now(),
      runnerId: "R1",
      localRoots: 0,
    }),
  );
  return { store, executionId };
}

function record(store: SqlStore, runnerId: string, claims: readonly ClaimedTask[], beforeCommit?: () => Promise<void>) {
  const outcomes: Outcome[] = claims.map((claim) => ({ workflow: wf, claim, write: { kind: "completed", output: { [claim.taskId]: runnerId } } }));
  return store.driver.transaction(async (tx) => {
    const effects = await recordOutcomes(store, tx, new WriteSet(), runnerId, Date.now(), outcomes, () => false);
    await beforeCommit?.();
    return effects;
  });
}

async function taskRow(store: SqlStore, executionId: string, taskId: string) {
  const [r] = await store.driver.query<{ status: string; deps_remaining: number; attempt: number }>(
    `SELECT status, deps_remaining, attempt FROM ${store.dialect.prefix}cloaca_tasks WHERE execution_id = ? AND task_id = ?`,
    [executionId, taskId],
  );
  return { status: r!.status, deps: Number(r!.deps_remaining), attempt: Number(r!.attempt) };
}

forEachBackend((backend) => {
  it("a runner that records a task while it believes a sibling its own skips their dependent when that sibling was taken over and failed elsewhere", async () => {
    const gate = () => {
      let open!: () => void;
      const opened = new Promise<void>((resolve) => (open = resolve));
      return { open, opened };
    };
    const gates = { x: gate(), y: gate() };
    const started = new Set<string>();
    const allStarted = gate();
    const body = (id: "x" | "y") => async () => {
      started.add(id);
      if (started.size === 2) allStarted.open();
      await gates[id].opened;
    };
    const flow = new WorkflowBuilder(`taken-over-${process.pid}-${randomUUID().slice(0, 8)}`)
      .task("x", body("x"))
      .task("y", body("y"))
      .task("m", { dependencies: ["x", "y"] }, () => undefined)
      .build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [flow], maxConcurrentTasks: 4 });
    const errors: unknown[] = [];
    runner.on("runnerError", (e) => errors.push(e.error));
    const execution = await runner.start(flow.name);
    await allStarted.opened;

    // Another runner takes y over (as if this one were dead) and records its failure.
    const store = runner.storeForTests;
    const y1 = (await store.claimedBy(runner.runnerId)).find((c) => c.taskId === "y")!;
    expect(await store.driver.transaction((tx) => store.requeue(tx, y1, runner.runnerId, Date.now()))).toBe(true);
    const [y2] = await store.claim(store.driver, "R2", 1, [flow.name], Date.now());
    await store.driver.transaction((tx) =>
      recordOutcomes(store, tx, new WriteSet(), "R2", Date.now(), [{ workflow: flow, claim: y2!, write: { kind: "failed", error: "boom elsewhere" } }], () => false),
    );

    // x ends here while this runner still runs y (on PostgreSQL: a one-round-trip batch the database refuses).
    gates.x.open();
    const result = await execution.wait({ timeoutMs: 10_000 });
    expect(result.status).toBe("Failed");
    const byId = Object.fromEntries(result.taskResults.map((t) => [t.taskId, t]));
    expect([byId.x!.status, byId.y!.status, byId.m!.status, byId.m!.skipReason]).toEqual(["Completed", "Failed", "Skipped", "upstream failed"]);
    expect(await taskRow(store, execution.id, "y")).toEqual({ status: "Failed", deps: 0, attempt: 2 });
    // y's late outcome here is a lost claim: the runner drains it at shutdown, and it changed nothing.
    gates.y.open();
    await runner.shutdown({ timeoutMs: 5_000 });
    expect(errors).toEqual([]);
  });

  it("an outcome whose claim was lost advances nothing, while the batch's other outcomes do", async () => {
    const { store, executionId } = await setup(backend);
    const first = await store.claim(store.driver, "R1", 2, [wf.name], Date.now());
    expect(first.map((c) => [c.taskId, c.attempt]).sort()).toEqual([["x", 1], ["y", 1]]);
    const x1 = first.find((c) => c.taskId === "x")!;
    const y1 = first.find((c) => c.taskId === "y")!;

    // R1 is presumed dead: x is handed back to the queue and R2 claims it (attempt 2) and is still running it.
    expect(await store.driver.transaction((tx) => store.requeue(tx, x1, "R1", Date.now()))).toBe(true);
    const [x2] = await store.claim(store.driver, "R2", 1, [wf.name], Date.now());
    expect([x2!.taskId, x2!.attempt]).toEqual(["x", 2]);

    // R1's late outcomes for x and y arrive in one batch: only y's counts.
    const late = await record(store, "R1", [x1, y1]);
    expect(late.map((e) => e.lost)).toEqual([true, false]);
    expect(late.flatMap((e) => e.skipped)).toEqual([]);
    expect(late.some((e) => e.finished)).toBe(false);
    expect(await taskRow(store, executionId, "x")).toEqual({ status: "Running", deps: 0, attempt: 2 });
    expect(await taskRow(store, executionId, "m")).toEqual({ status: "NotStarted", deps: 1, attempt: 0 });

    // R2's outcome for x is the last dependency: m becomes ready.
    const done = await record(store, "R2", [x2!]);
    expect(done.map((e) => [e.lost, e.readyCount])).toEqual([[false, 1]]);
    expect(await taskRow(store, executionId, "m")).toEqual({ status: "Ready", deps: 0, attempt: 0 });
  });

  it("a lost outcome for the last task finishes nothing", async () => {
    const { store, executionId } = await setup(backend);
    const [x, y] = await store.claim(store.driver, "R1", 2, [wf.name], Date.now());
    await record(store, "R1", [x!, y!]);
    const [m1] = await store.claim(store.driver, "R1", 1, [wf.name], Date.now());
    expect(await store.driver.transaction((tx) => store.requeue(tx, m1!, "R1", Date.now()))).toBe(true);
    const [m2] = await store.claim(store.driver, "R2", 1, [wf.name], Date.now());

    const late = await record(store, "R1", [m1!]);
    expect(late.map((e) => [e.lost, e.finished, e.result])).toEqual([[true, undefined, undefined]]);
    expect((await store.getExecution(executionId))!.status).toBe("Running");

    const done = await record(store, "R2", [m2!]);
    expect(done.map((e) => [e.lost, e.finished])).toEqual([[false, "Completed"]]);
    expect(done[0]!.result!.tasks.map((t) => [t.taskId, t.status])).toEqual([
      ["x", "Completed"],
      ["y", "Completed"],
      ["m", "Completed"],
    ]);
  });

  it("a claim by key takes only Ready, due tasks of running executions, and passes over taken ones", async () => {
    const { store, executionId } = await setup(backend);
    const { executionId: pausedId } = await addExecution(store);
    const key = (executionId: string, taskId: string) => ({ executionId, taskId });
    // Another runner holds y; m is not Ready yet; the paused execution's roots are Ready but must wait.
    const [y] = await store.claimKeys(store.driver, "R2", [key(executionId, "y")], Date.now());
    expect([y!.taskId, y!.attempt]).toEqual(["y", 1]);
    expect(await store.driver.transaction((tx) => store.pause(tx, pausedId, "test"))).toBe(true);

    const claimed = await store.claimKeys(
      store.driver,
      "R1",
      [key(executionId, "x"), key(executionId, "y"), key(executionId, "m"), key(pausedId, "x"), key("no-such-execution", "x")],
      Date.now(),
    );
    expect(claimed.map((c) => [c.executionId, c.taskId, c.attempt])).toEqual([[executionId, "x", 1]]);
    expect(await taskRow(store, executionId, "y")).toEqual({ status: "Running", deps: 0, attempt: 1 });
    expect(await taskRow(store, pausedId, "x")).toEqual({ status: "Ready", deps: 0, attempt: 0 });

    // Not due yet: a retry's ready_at in the future is respected.
    await store.driver.run(`UPDATE ${store.dialect.prefix}cloaca_tasks SET ready_at = ? WHERE execution_id = ?`, [Date.now() + 60_000, pausedId]);
    expect(await store.driver.transaction((tx) => store.resume(tx, pausedId))).toBe(true);
    expect(await store.claimKeys(store.driver, "R1", [key(pausedId, "x")], Date.now())).toEqual([]);
  });

  it("outcomes two runners write at the same time into one execution both count: the later write sees the earlier", async () => {
    const { store, executionId } = await setup(backend);
    const key = (taskId: string) => ({ executionId, taskId });
    const [x] = await store.claimKeys(store.driver, "R1", [key("x")], Date.now());
    const [y] = await store.claimKeys(store.driver, "R2", [key("y")], Date.now());

    // R1 has written x's outcome (its execution row and m's row are now locked) and has not committed yet.
    let commit!: () => void;
    const committing = new Promise<void>((resolve) => (commit = resolve));
    let written!: () => void;
    const r1Written = new Promise<void>((resolve) => (written = resolve));
    const r1 = record(store, "R1", [x!], () => {
      written();
      return committing;
    });
    await r1Written;
    // R2 writes y's outcome meanwhile. On PostgreSQL its statements wait for R1's row locks (SQLite has one
    // writer: R2's transaction starts after R1's).
    const r2 = record(store, "R2", [y!]);
    if (backend.name === "postgres") {
      await until(
        async () =>
          (await pgQuery(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%' || $1 || '%'`, [store.dialect.prefix])).length > 0,
        { what: "R2's write to wait for R1's locks" },
      );
    }
    commit();
    const [[a], [b]] = await Promise.all([r1, r2]);
    expect([a!.lost, b!.lost]).toEqual([false, false]);
    // Whichever counted last made m ready, exactly once; the execution waits for m alone.
    expect(a!.readyCount + b!.readyCount).toBe(1);
    expect(await taskRow(store, executionId, "m")).toEqual({ status: "Ready", deps: 0, attempt: 0 });
    const [e] = await store.driver.query<{ unfinished_tasks: number }>(
      `SELECT unfinished_tasks FROM ${store.dialect.prefix}cloaca_executions WHERE id = ?`,
      [executionId],
    );
    expect(Number(e!.unfinished_tasks)).toBe(1);
  });

  it("an output holding control characters, quotes and backslashes round-trips through an outcome batch", async () => {
    const { store, executionId } = await setup(backend);
    const [x, y] = await store.claim(store.driver, "R1", 2, [wf.name], Date.now());
    const tricky = 'a\u001eb "quoted" back\\slash \u0000 é';
    const effects = await store.driver.transaction((tx) =>
      recordOutcomes(store, tx, new WriteSet(), "R1", Date.now(), [x!, y!].map((claim) => ({ workflow: wf, claim, write: { kind: "completed" as const, output: { v: tricky } } })), () => false),
    );
    expect(effects.map((e) => e.lost)).toEqual([false, false]);
    const [row] = await store.driver.query<{ output_context: string }>(
      `SELECT output_context FROM ${store.dialect.prefix}cloaca_tasks WHERE execution_id = ? AND task_id = ?`,
      [executionId, x!.taskId],
    );
    expect(JSON.parse(row!.output_context)).toEqual({ v: tricky });
  });
  if (backend.name === "postgres") {
    /** A `known` for oneTripPlan: the given input and terminal states, nothing else. */
    const knowing = (input: Record<string, unknown>, states: DependencyState[]) => (_id: string, taskIds: readonly string[]): TaskInputs | undefined => {
      const byId = new Map(states.map((d) => [d.taskId, d]));
      if (!taskIds.every((t) => byId.has(t))) return undefined;
      return { input: input as TaskInputs["input"], dependencies: new Map(taskIds.map((t) => [t, byId.get(t)!])) };
    };
    const completed = (claim: ClaimedTask): Outcome => ({ workflow: wf, claim, write: { kind: "completed", output: { set: { [claim.taskId]: 1 }, removed: [] } } });
    const atOnce = (store: SqlStore, runnerId: string, outcomes: Outcome[], known: Parameters<typeof oneTripPlan>[1]) =>
      store.driver.transaction(async (tx) => {
        const plan = oneTripPlan(outcomes, known);
        expect(plan).toBeDefined();
        return recordOutcomesAtOnce(store, tx, runnerId, Date.now(), outcomes, () => false, plan!).effects;
      });
    const events = async (store: SqlStore, executionId: string) =>
      (await store.events(executionId)).map((e) => [e.type, e.taskId ?? null]);

    it("two trips: the outcome that finishes an execution reads its rows again when another runner's outcome committed while it waited", async () => {
      const { store } = await setup(backend);
      const { executionId } = await addExecution(store, leaves);
      const [p] = await store.claimKeys(store.driver, "R1", [{ executionId, taskId: "p" }], Date.now());
      const [q] = await store.claimKeys(store.driver, "R2", [{ executionId, taskId: "q" }], Date.now());
      const outcome = (claim: ClaimedTask, runnerId: string): Outcome => ({
        workflow: leaves,
        claim,
        write: { kind: "completed", output: { set: { [claim.taskId]: runnerId }, removed: [] } },
      });
      /** Records `claim`'s outcome for `runnerId` and writes what it leaves to the write set (the finish). */
      const recordIn = async (tx: Queryable, runnerId: string, claim: ClaimedTask) => {
        const ws = new WriteSet();
        const now = Date.now();
        const effects = await recordOutcomes(store, tx, ws, runnerId, now, [outcome(claim, runnerId)], () => false);
        await store.flush(tx, ws, runnerId, now);
        return effects;
      };
      const write = (runnerId: string, claim: ClaimedTask) => store.driver.transaction((tx) => recordIn(tx, runnerId, claim));
      // R1 records p and keeps its transaction open until R2's write of q waits for the execution's row; R2's
      // statement began before R1 committed, so its own read of the tasks shows p still Running.
      let second: ReturnType<typeof write> | undefined;
      const waiting = `%${store.dialect.prefix}cloaca_tasks%`;
      const [first] = await store.driver.transaction(async (tx) => {
        const effects = await recordIn(tx, "R1", p!);
        second = write("R2", q!);
        await until(
          async () =>
            (await pgQuery<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1", [waiting]))[0]!.n > 0,
          { what: "R2's write to wait for the execution's row" },
        );
        return effects;
      });
      expect(first!.finished).toBeUndefined();
      const [last] = await second!;
      expect(last!.finished).toBe("Completed");
      expect(last!.result!.execution.finalContext).toEqual({ p: "R1", q: "R2" });
      expect(last!.result!.tasks.map((t) => [t.taskId, t.status])).toEqual([["p", "Completed"], ["q", "Completed"]]);
      expect((await store.getExecution(executionId))!.finalContext).toEqual({ p: "R1", q: "R2" });
    });

    it("one round trip: the last outcome finishes the execution with the final context the two-trip path computes, and writes the same events", async () => {
      const { store, executionId } = await setup(backend);
      const [x, y] = await store.claim(store.driver, "R1", 2, [wf.name], Date.now());
      // x and y end together: m (whose dependencies are both in the batch) becomes Ready; nothing finishes.
      const first = await atOnce(store, "R1", [completed(x!), completed(y!)], knowing({}, []));
      expect(first.map((e) => [e.lost, e.readyCount, e.finished])).toEqual([[false, 0, undefined], [false, 1, undefined]]);
      const [m] = await store.claim(store.driver, "R1", 1, [wf.name], Date.now());
      const states: DependencyState[] = ["x", "y"].map((taskId) => ({ taskId, status: "Completed", output: { set: { [taskId]: 1 }, removed: [] } }));
      const [done] = await atOnce(store, "R1", [completed(m!)], knowing({}, states));
      expect(done!.finished).toBe("Completed");
      const expected = finalContext(wf, {}, new Map(["x", "y", "m"].map((t) => [t, toDelta({ set: { [t]: 1 }, removed: [] })])));
      const execution = (await store.getExecution(executionId))!;
      expect([execution.status, execution.finalContext]).toEqual(["Completed", expected]);
      expect(done!.result!.execution.finalContext).toEqual(expected);
      expect(done!.result!.tasks.map((t) => [t.taskId, t.status])).toEqual([["x", "Completed"], ["y", "Completed"], ["m", "Completed"]]);
      expect(await events(store, executionId)).toEqual([
        ["task_completed", "x"],
        ["task_completed", "y"],
        ["task_ready", "m"],
        ["task_completed", "m"],
        ["execution_completed", null],
      ]);
    });

    it("one round trip: a lost claim writes nothing, and a lost last outcome finishes nothing", async () => {
      const { store, executionId } = await setup(backend);
      const [x1, y1] = await store.claim(store.driver, "R1", 2, [wf.name], Date.now());
      expect(await store.driver.transaction((tx) => store.requeue(tx, x1!, "R1", Date.now()))).toBe(true);
      const [x2] = await store.claim(store.driver, "R2", 1, [wf.name], Date.now());
      const late = await atOnce(store, "R1", [completed(x1!), completed(y1!)], knowing({}, []));
      expect(late.map((e) => e.lost)).toEqual([true, false]);
      expect(await taskRow(store, executionId, "m")).toEqual({ status: "NotStarted", deps: 1, attempt: 0 });
      await atOnce(store, "R2", [completed(x2!)], knowing({}, [{ taskId: "y", status: "Completed", output: { set: {}, removed: [] } }]));
      const [m1] = await store.claim(store.driver, "R1", 1, [wf.name], Date.now());
      expect(await store.driver.transaction((tx) => store.requeue(tx, m1!, "R1", Date.now()))).toBe(true);
      await store.claim(store.driver, "R2", 1, [wf.name], Date.now());
      const states: DependencyState[] = ["x", "y"].map((taskId) => ({ taskId, status: "Completed", output: { set: {}, removed: [] } }));
      const [lost] = await atOnce(store, "R1", [completed(m1!)], knowing({}, states));
      expect([lost!.lost, lost!.finished]).toEqual([true, undefined]);
      expect((await store.getExecution(executionId))!.status).toBe("Running");
      expect((await events(store, executionId)).filter(([type]) => type === "task_completed")).toEqual([
        ["task_completed", "y"],
        ["task_completed", "x"],
      ]);
    });

    it("the one-trip statement's generic plan finds the outcome rows by key, not through the owner index", async () => {
      const { store } = await setup(backend);
      // Many past claims of R1 (finished since): the partial owner index keeps an entry for each until a vacuum.
      for (let i = 0; i < 40; i++) {
        const { executionId } = await addExecution(store);
        const keys = ["x", "y"].map((taskId) => ({ executionId, taskId }));
        const claims = await store.claimKeys(store.driver, "R1", keys, Date.now());
        expect(claims).toHaveLength(2);
        await atOnce(store, "R1", claims.map(completed), knowing({}, []));
      }
      const { executionId } = await addExecution(store);
      const [x, y] = await store.claimKeys(store.driver, "R1", ["x", "y"].map((taskId) => ({ executionId, taskId })), Date.now());
      // The statement and parameters the runner would send, captured instead of run.
      const capture = capturing([{ fin: null, adj: null, adv: null, snap: null }]);
      const outcomes = [completed(x!), completed(y!)];
      await recordOutcomesAtOnce(store, capture.q, "R1", Date.now(), outcomes, () => false, oneTripPlan(outcomes, knowing({}, []))!).effects;
      const plan = await genericPlan(capture.sent());
      // fin, the outcomes' update: each row looked up by its key.
      expect(plan).toMatch(/Update on cloaca_tasks t .*\n.*Nested Loop.*\n.*Subquery Scan on v.*\n.*\n.*\n.*Index Scan using cloaca_tasks_pkey on cloaca_tasks t /);
      expect(plan).not.toContain("cloaca_tasks_claimed");
    });

    it("one round trip refuses a batch that would skip a dependent: a sibling the runner believed running failed elsewhere", async () => {
      const { store, executionId } = await setup(backend);
      const [x, y1] = await store.claim(store.driver, "R1", 2, [wf.name], Date.now());
      // R1 still runs y as far as it knows, but y was taken over, and failed on R2: m now waits on x alone,
      // with a failed dependency.
      expect(await store.driver.transaction((tx) => store.requeue(tx, y1!, "R1", Date.now()))).toBe(true);
      const [y2] = await store.claim(store.driver, "R2", 1, [wf.name], Date.now());
      await store.driver.transaction((tx) =>
        recordOutcomes(store, tx, new WriteSet(), "R2", Date.now(), [{ workflow: wf, claim: y2!, write: { kind: "failed", error: "boom" } }], () => false),
      );
      expect(await taskRow(store, executionId, "m")).toEqual({ status: "NotStarted", deps: 1, attempt: 0 });

      // R1 plans x in one trip, knowing nothing of y (its own running task, it believes); the statement
      // finds m to skip.
      const outcomes = [completed(x!)];
      const plan = oneTripPlan(outcomes, knowing({}, []));
      expect(plan).toEqual({ finishes: [] });
      const refused = await store.driver
        .transaction((tx) => recordOutcomesAtOnce(store, tx, "R1", Date.now(), outcomes, () => false, plan!).effects)
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      expect(isOneTripRefused(refused)).toBe(true);
      // Nothing was written: x is still R1's, m untouched, no event.
      expect(await taskRow(store, executionId, "x")).toEqual({ status: "Running", deps: 0, attempt: 1 });
      expect(await taskRow(store, executionId, "m")).toEqual({ status: "NotStarted", deps: 1, attempt: 0 });
      expect((await events(store, executionId)).filter(([, taskId]) => taskId === "x")).toEqual([]);

      // On two trips the same outcome skips m and fails the execution.
      const [effects] = await record(store, "R1", [x!]);
      expect([effects!.lost, effects!.finished]).toEqual([false, "Failed"]);
      expect(await taskRow(store, executionId, "m")).toEqual({ status: "Skipped", deps: 0, attempt: 0 });
    });
  }
});

// Which batches may go in one round trip: a decision on what the runner knows, the same on both backends.
it("a batch goes in one round trip only when nothing it could cause needs reading back first", async () => {
  const claim = (taskId: string, executionId = "e1"): ClaimedTask => ({ executionId, taskId, workflowName: wf.name, attempt: 1, maxAttempts: 1, recoveries: 0 });
  const done = (taskId: string, output: JsonObject = { set: { [taskId]: true }, removed: [] }): Outcome => ({ workflow: wf, claim: claim(taskId), write: { kind: "completed", output } });
  const state = (taskId: string, status: DependencyState["status"]): DependencyState => ({ taskId, status, output: status === "Completed" ? { set: {}, removed: [] } : undefined });
  const know = (states: DependencyState[], input: JsonObject = {}) => (_id: string, taskIds: readonly string[]) => {
    const byId = new Map(states.map((d) => [d.taskId, d]));
    return taskIds.every((t) => byId.has(t)) ? { input, dependencies: new Map(taskIds.map((t) => [t, byId.get(t)!])) } : undefined;
  };
  // A failure (its summary needs error texts; retries need timers) never goes in one trip.
  expect(oneTripPlan([{ workflow: wf, claim: claim("x"), write: { kind: "failed", error: "boom" } }], know([]))).toBeUndefined();
  // x's dependent m also waits for y: known Failed or Skipped, m is skipped (a cascade: two trips). Not
  // known, y is taken as pending (had it failed elsewhere, the statement would refuse the batch).
  expect(oneTripPlan([done("x")], know([state("y", "Failed")]))).toBeUndefined();
  expect(oneTripPlan([done("x")], know([state("y", "Skipped")]))).toBeUndefined();
  expect(oneTripPlan([done("x")], know([]))).toEqual({ finishes: [] });
  expect(oneTripPlan([done("x")], know([state("y", "Completed")]))).toEqual({ finishes: [] });
  expect(oneTripPlan([done("x"), done("y")], know([]))).toEqual({ finishes: [] });
  // The last task: every other task must be known, Completed or Skipped; the final context is computed.
  expect(oneTripPlan([done("m")], know([state("x", "Completed")]))).toBeUndefined();
  expect(oneTripPlan([done("m")], know([state("x", "Completed"), state("y", "Failed")]))).toBeUndefined();
  const plan = oneTripPlan([done("m", { set: { out: 1 }, removed: ["a"] })], know([state("x", "Completed"), state("y", "Skipped")], { a: 0, b: 2 }));
  expect(plan).toEqual({ finishes: [{ executionId: "e1", finalContext: { b: 2, out: 1 } }] });
});
