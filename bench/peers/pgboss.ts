/**
 * pg-boss 10.x (the newest line that runs on Node 20; 12 needs Node ≥ 22.12 and is where `flow()`,
 * LISTEN/NOTIFY and local concurrency arrived). pg-boss 10 has no per-worker concurrency: each `work()`
 * call is one polling loop that fetches up to `batchSize` jobs, hands them to the handler as an array and
 * completes them together. So C jobs in flight = `LOOPS` loops × `C / LOOPS` batch size, one queue, pool =
 * the engine's pool size, `pollingIntervalSeconds` = 0.5 (its documented minimum).
 *
 * A loop sleeps a full interval after every fetch, even a full one, unless it was notified; `notifyWorker`
 * (public API: "bypass the polling interval for this iteration") is therefore called after every enqueue
 * (the bulk `insert` and the follow-up jobs a handler inserts) and when a fetched batch came back full —
 * the "burst" behaviour pg-boss 12 later built in (`burstWhenBatchFull`). Without it, a chain costs up to
 * 3 × 0.5 s and throughput is capped at LOOPS × batch / 0.5 s.
 *
 * - simple: `insert` (bulk) of N jobs.
 * - pipeline: `insert` of N step-1 jobs; each batch handler inserts the next steps in one `insert`.
 * - parallel: not offered — pg-boss 10 has no dependencies (`flow()`/`dependsOn` is pg-boss 12).
 *
 * Done = the handlers of the last step ran *and* every job of the run is in state `completed` (pg-boss
 * completes a batch after its handler resolves, without the worker awaiting it): polled every 2 ms after
 * the last handler.
 */
import pg from "pg";
import { Current, STEP_NAMES, Tracker, asNumber, guarded, pollUntil, pkgVersion, type Peer, type PeerContext, type PeerInstance, type PeerWorkload } from "./types.js";

const VERSION = pkgVersion("pg-boss");
const LOOPS = 4;
const QUEUE = "steps";

interface Data {
  r: number;
  i: number;
  step: string;
  v?: number;
}

/**
 * `notify: false` is the poll-bound variant (opt-in, `--peers pgboss-poll`): the same loops without
 * `notifyWorker`, i.e. what pg-boss 10 does out of the box — slow enough that its latency runs are capped.
 */
export function pgBossPeer(notify = true): Peer {
  return {
    key: notify ? "pgboss-notify" : "pgboss-poll",
    label: `pg-boss ${VERSION}, ${LOOPS} work() loops${notify ? "" : ", polling only"}`,
    notes: notify
      ? `pg-boss ${VERSION}: ${LOOPS} \`work()\` loops × batchSize C/${LOOPS} on one queue, pollingIntervalSeconds 0.5 (minimum), \`notifyWorker\` after each enqueue and after a full batch.`
      : `pg-boss ${VERSION} polling only: as above without \`notifyWorker\` — each loop sleeps 0.5 s after every fetch, so throughput ≤ C / 0.5 s and every hop of a chain waits for a poll; latency runs capped at 20.`,
    workloads: ["simple", "pipeline"],
    usesPostgres: true,
    ...(notify ? {} : { optIn: true, maxLatencyRuns: 20 }),
    async open(ctx: PeerContext): Promise<PeerInstance> {
      const { default: PgBoss } = await import("pg-boss");
      const boss = new PgBoss({ connectionString: ctx.pgUrl, max: ctx.poolSize, application_name: `bench-pgboss-${ctx.tag}` });
      const current = new Current();
      boss.on("error", (err) => current.tracker?.problems.push(`pg-boss error: ${String(err)}`));
      await boss.start();
      await boss.createQueue(QUEUE);
      const batchSize = Math.max(1, Math.floor(ctx.concurrency / LOOPS));
      const ids: string[] = [];
      const notifyAll = () => {
        if (notify) for (const id of ids) boss.notifyWorker(id);
      };
      for (let l = 0; l < LOOPS; l++) {
        const id: string = await boss.work<Data>(QUEUE, { batchSize, pollingIntervalSeconds: 0.5 }, async (jobs) => {
          try {
            const t = current.get();
            const next: Array<{ name: string; data: Data; retryLimit: number }> = [];
            for (const job of jobs) {
              const d = job.data;
              const i = asNumber(d.i, "pg-boss data i");
              t.step(i, d.step);
              if (d.step === "s") t.finished(i, 2 * i + 1);
              else if (d.step === "s3") t.finished(i, asNumber(d.v, "pg-boss data v") + 1);
              else next.push({ name: QUEUE, data: { r: d.r, i, step: d.step === "s1" ? "s2" : "s3", v: asNumber(d.v, "pg-boss data v") + 1 }, retryLimit: 0 });
            }
            if (next.length) {
              await boss.insert(next);
              notifyAll();
            } else if (notify && jobs.length === batchSize) {
              boss.notifyWorker(id);
            }
          } catch (err) {
            current.tracker?.fail(err); // fail the run at once rather than at the timeout
            throw err;
          }
        });
        ids.push(id);
      }
      const admin = new pg.Client({ connectionString: ctx.pgUrl, application_name: `bench-pgboss-check-${ctx.tag}` });
      await admin.connect();
      let run = 0;
      return {
        async run(w: PeerWorkload, inputs: readonly number[]) {
          const r = ++run;
          const t = new Tracker(w, inputs);
          current.tracker = t;
          const expectedJobs = inputs.length * STEP_NAMES[w].length;
          const allCompleted = async () => {
            const q = await admin.query<{ done: number; other: number }>(
              `SELECT count(*) FILTER (WHERE state = 'completed')::int AS done, count(*) FILTER (WHERE state <> 'completed')::int AS other
                 FROM pgboss.job WHERE name = $1 AND (data->>'r')::int = $2`,
              [QUEUE, r],
            );
            const row = q.rows[0]!;
            if (row.done > expectedJobs) throw new Error(`pg-boss: ${row.done} completed jobs, expected ${expectedJobs}`);
            return row.done === expectedJobs && row.other === 0;
          };
          try {
            await boss.insert(
              inputs.map((i) => ({
                name: QUEUE,
                data: w === "simple" ? { r, i, step: "s" } : { r, i, step: "s1", v: 1000 * i + 7 },
                retryLimit: 0,
              })),
            );
            notifyAll();
            await guarded(`pg-boss ${w}`, t, ctx.timeoutMs, (async () => {
              await t.wait();
              await pollUntil(`pg-boss ${w}: all jobs completed`, allCompleted, 2, ctx.timeoutMs);
            })());
            return t.verifiedResults(STEP_NAMES[w]);
          } finally {
            current.tracker = undefined;
          }
        },
        async close() {
          await boss.stop({ graceful: true, wait: true, timeout: 5_000 });
          await admin.end();
        },
      };
    },
  };
}
