/**
 * graphile-worker 0.17.x (the newest line that runs on Node 20): one runner, `concurrency` = C, one
 * `pg.Pool` of the engine's size shared by the runner and the WorkerUtils that enqueue. LISTEN/NOTIFY wakes
 * the workers (graphile's own mechanism); `pollInterval` stays at its default (it only matters for
 * future-dated jobs and retries).
 *
 * - simple: `addJobs` (bulk) of N `s` jobs.
 * - pipeline: `addJobs` of N `s1` jobs; each handler enqueues the next step with `helpers.addJob`
 *   (graphile has no dependencies: chaining in the handler is its documented way).
 * - parallel: not offered — graphile has no fan-in (#458: "orchestrate that in your own application logic").
 *
 * Done = the handlers of the last step have run *and* the job rows are gone from `_private_jobs`: graphile
 * deletes a job when it completes, but `job:complete` is emitted before that DELETE is sent (and with
 * batching the DELETE is batched), so after the last handler the bench polls the table every 2 ms.
 */
import pg from "pg";
import { Tracker, Current, STEP_NAMES, asNumber, guarded, pollUntil, pkgVersion, type Peer, type PeerContext, type PeerInstance, type PeerWorkload } from "./types.js";

const VERSION = pkgVersion("graphile-worker");

type Helpers = { addJob: (identifier: string, payload: unknown, spec?: object) => Promise<unknown> };

export function graphilePeer(batching: boolean): Peer {
  return {
    key: batching ? "graphile-batch" : "graphile-nobatch",
    label: `graphile-worker ${VERSION}, batching ${batching ? "on" : "off"}`,
    notes: batching
      ? "graphile-worker batching on: `localQueue.size` = C + 1 (the docs' suggested start), `completeJobBatchDelay` = `failJobBatchDelay` = 0."
      : "graphile-worker batching off (defaults: one job fetched and one completed per round trip).",
    workloads: ["simple", "pipeline"],
    usesPostgres: true,
    async open(ctx: PeerContext): Promise<PeerInstance> {
      const gw = await import("graphile-worker");
      const pool = new pg.Pool({ connectionString: ctx.pgUrl, max: ctx.poolSize, application_name: `bench-graphile-${ctx.tag}` });
      // graphile checks that the pool has both handlers (idle-client errors and per-client errors).
      pool.on("error", () => undefined);
      pool.on("connect", (client) => client.on("error", () => undefined));
      const current = new Current();
      const num = (p: unknown, k: string) => asNumber((p as Record<string, unknown>)[k], `graphile payload ${k}`);
      // A throwing handler fails the run at once (instead of waiting for the timeout).
      const guard =
        <A extends unknown[]>(f: (...a: A) => Promise<void>) =>
        async (...a: A) => {
          try {
            await f(...a);
          } catch (err) {
            current.tracker?.fail(err);
            throw err;
          }
        };
      const taskList = {
        s: guard(async (p: unknown) => {
          const i = num(p, "i");
          const t = current.get();
          t.step(i, "s");
          t.finished(i, 2 * i + 1);
        }),
        s1: guard(async (p: unknown, h: Helpers) => {
          const i = num(p, "i");
          current.get().step(i, "s1");
          await h.addJob("s2", { i, v: num(p, "v") + 1 }, { maxAttempts: 1 });
        }),
        s2: guard(async (p: unknown, h: Helpers) => {
          const i = num(p, "i");
          current.get().step(i, "s2");
          await h.addJob("s3", { i, v: num(p, "v") + 1 }, { maxAttempts: 1 });
        }),
        s3: guard(async (p: unknown) => {
          const i = num(p, "i");
          const t = current.get();
          t.step(i, "s3");
          t.finished(i, num(p, "v") + 1);
        }),
      };
      // Errors and warnings are kept as problems of the run in progress (a failed job fails the figure).
      const logger = new gw.Logger(() => (level, message) => {
        if (level === "error" || level === "warning") current.tracker?.problems.push(`graphile ${level}: ${message}`);
      });
      const utils = await gw.makeWorkerUtils({ pgPool: pool, logger });
      await utils.migrate();
      const runner = await gw.run({
        pgPool: pool,
        concurrency: ctx.concurrency,
        noHandleSignals: true,
        logger,
        taskList: taskList as never,
        ...(batching ? { preset: { worker: { localQueue: { size: ctx.concurrency + 1 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } } } : {}),
      });
      runner.events.on("job:error", ({ job, error }) => current.tracker?.problems.push(`graphile job ${job.task_identifier} failed: ${String(error)}`));
      const empty = async () => {
        const r = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM graphile_worker._private_jobs");
        return r.rows[0]!.n === 0;
      };
      return {
        async run(w: PeerWorkload, inputs: readonly number[]) {
          const t = new Tracker(w, inputs);
          current.tracker = t;
          try {
            const specs =
              w === "simple"
                ? inputs.map((i) => ({ identifier: "s", payload: { i }, maxAttempts: 1 }))
                : inputs.map((i) => ({ identifier: "s1", payload: { i, v: 1000 * i + 7 }, maxAttempts: 1 }));
            await utils.addJobs(specs);
            await guarded(`graphile ${w}`, t, ctx.timeoutMs, (async () => {
              await t.wait();
              await pollUntil(`graphile ${w}: jobs table empty`, empty, 2, ctx.timeoutMs);
            })());
            return t.verifiedResults(STEP_NAMES[w]);
          } finally {
            current.tracker = undefined;
          }
        },
        async close() {
          await runner.stop();
          await utils.release();
          await pool.end();
        },
      };
    },
  };
}
