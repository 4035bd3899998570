/**
 * DBOS Transact 5.x (`@dbos-inc/dbos-sdk`): durable execution — one workflow per unit whose steps
 * (`DBOS.runStep`) are checkpointed in the system database (a fresh database per repetition, pool = the
 * engine's pool size). DBOS is a process singleton: each `open` registers the workflows, launches, and
 * `close` shuts down with `deregister`, so the next repetition starts clean.
 *
 * - simple: a workflow with one step.
 * - pipeline: a workflow with three sequential steps, each adding 1 to the previous step's output.
 * - parallel: setup step → three steps started together (`Promise.all`) → merge step.
 *
 * Two ways to start (the "queue" and "direct" rows):
 * - queue: `DBOS.startWorkflow(wf, { queueName })` on a queue with `workerConcurrency` = C (at most C
 *   workflows run at once in this process), `minPollingIntervalMs` = 10 (DBOS documents no minimum, only
 *   "positive"; default 1000; 10 ms is the engine's minimum poll interval). All N enqueues are issued at once
 *   (DBOS has no bulk enqueue).
 * - direct: `DBOS.startWorkflow(wf)` — runs at once in this process, no concurrency limit (all N at once).
 *
 * Done = `handle.getResult()` (it awaits the in-process promise when the workflow runs here; otherwise it
 * polls the status table, `pollingIntervalMs` = 10).
 */
import { Current, STEP_NAMES, Tracker, batch, branch, guarded, sum, pkgVersion, type Peer, type PeerContext, type PeerInstance, type PeerWorkload } from "./types.js";

const VERSION = pkgVersion("@dbos-inc/dbos-sdk");
const POLL_MS = 10;

export function dbosPeer(mode: "queue" | "direct"): Peer {
  return {
    key: mode === "queue" ? "dbos-queue" : "dbos-direct",
    label: `DBOS ${VERSION}, ${mode === "queue" ? "queue (workerConcurrency C)" : "direct startWorkflow (unbounded)"}`,
    notes:
      mode === "queue"
        ? `DBOS ${VERSION} queue: workerConcurrency = C workflows (DBOS limits workflows, not steps: in parallel a workflow runs its 3 branch steps at once), minPollingIntervalMs 10 (default 1000), getResult pollingIntervalMs 10; N \`startWorkflow\` calls issued at once (no bulk enqueue).`
        : `DBOS ${VERSION} direct: \`startWorkflow\` without a queue — every unit starts at once in this process (no concurrency limit, so not held to C).`,
    workloads: ["simple", "pipeline", "parallel"],
    usesPostgres: true,
    async open(ctx: PeerContext): Promise<PeerInstance> {
      const { DBOS } = await import("@dbos-inc/dbos-sdk");
      const current = new Current();
      const step = <T>(i: number, name: string, f: () => T) =>
        DBOS.runStep(async () => {
          current.get().step(i, name);
          return f();
        }, { name });
      const wfs = {
        simple: DBOS.registerWorkflow(async (i: number) => step(i, "s", () => 2 * i + 1), { name: "bench_simple" }),
        pipeline: DBOS.registerWorkflow(
          async (i: number) => {
            const a = await step(i, "s1", () => 1000 * i + 7 + 1);
            const b = await step(i, "s2", () => a + 1);
            return step(i, "s3", () => b + 1);
          },
          { name: "bench_pipeline" },
        ),
        parallel: DBOS.registerWorkflow(
          async (i: number) => {
            const batches = await step(i, "setup", () => [1, 2, 3].map((k) => batch(i, k)));
            const results = await Promise.all([1, 2, 3].map((k) => step(i, `b${k}`, () => branch(batches[k - 1]!, k))));
            return step(i, "merge", () => sum(results.map(sum)));
          },
          { name: "bench_parallel" },
        ),
      } satisfies Record<PeerWorkload, (i: number) => Promise<number>>;
      DBOS.setConfig({
        name: `bench_${ctx.tag}`,
        systemDatabaseUrl: ctx.pgUrl,
        systemDatabasePoolSize: ctx.poolSize,
        logLevel: "error",
      });
      await DBOS.launch();
      const queue = mode === "queue" ? await DBOS.registerQueue("bench_q", { workerConcurrency: ctx.concurrency, minPollingIntervalMs: POLL_MS }) : undefined;
      return {
        async run(w: PeerWorkload, inputs: readonly number[]) {
          const t = new Tracker(w, inputs);
          current.tracker = t;
          try {
            await guarded(`DBOS ${w}`, t, ctx.timeoutMs, Promise.all(
              inputs.map(async (i) => {
                const h = await DBOS.startWorkflow(wfs[w], queue ? { queueName: queue.name } : {})(i);
                t.finished(i, await h.getResult({ pollingIntervalMs: POLL_MS }));
              }),
            ));
            return t.verifiedResults(STEP_NAMES[w]);
          } finally {
            current.tracker = undefined;
          }
        },
        async close() {
          await DBOS.shutdown({ deregister: true });
        },
      };
    },
  };
}
