/**
 * BullMQ 6.x on its two backends: Redis (the default, through ioredis, a fresh key prefix per repetition,
 * obliterated afterwards) and PostgreSQL (`createPostgresBackend`, new in v6; a fresh database per
 * repetition, its migrations run once with `migrate: true`, then one `pg.Pool` of the engine's pool size
 * shared by the Queue, FlowProducer and Worker — the Worker's LISTEN connection is taken from that pool).
 * One queue, one Worker with `concurrency` = C, BullMQ's default job options (completed jobs are kept).
 *
 * - simple: `queue.addBulk` of N jobs.
 * - pipeline: `flowProducer.addBulk` of N flows s3 ← s2 ← s1 (the deepest child runs first; a parent runs
 *   once its children completed and reads their values with `getChildrenValues()`).
 * - parallel: a `setup` job (from `addBulk`) whose processor adds the flow merge ← {b1, b2, b3} with the
 *   three batches as the children's data (Flows are trees: a shared first step cannot be a child of three
 *   parents, so the fan-out is added by the setup step — BullMQ's documented pattern for dynamic children).
 *
 * Done = a Worker `completed` event (emitted after the job was moved to completed in the backend) for
 * every step of the unit.
 */
import pg from "pg";
import { Current, STEP_NAMES, Tracker, asNumber, asNumbers, batch, branch, guarded, pkgVersion, sum, type Peer, type PeerContext, type PeerInstance, type PeerWorkload } from "./types.js";

const VERSION = pkgVersion("bullmq");
const QUEUE = "steps";

export function bullmqPeer(backend: "redis" | "postgres"): Peer {
  const peer: Peer = {
    key: backend === "redis" ? "bullmq-redis" : "bullmq-pg",
    label: `BullMQ ${VERSION}, ${backend === "redis" ? "Redis backend (ioredis)" : "PostgreSQL backend"}`,
    notes:
      backend === "redis"
        ? `BullMQ ${VERSION} on Redis (the local redis-server as configured, see "observed"; state in memory, not in PostgreSQL): Worker concurrency C, addBulk / FlowProducer.addBulk.`
        : `BullMQ ${VERSION} on PostgreSQL (\`createPostgresBackend\`): Worker concurrency C, one shared pg.Pool of the engine's size (the Worker's LISTEN client comes from it), addBulk / FlowProducer.addBulk.`,
    workloads: ["simple", "pipeline", "parallel"],
    usesPostgres: backend === "postgres",
    async open(ctx: PeerContext): Promise<PeerInstance> {
      const bull = await import("bullmq");
      const { Queue, Worker, FlowProducer } = bull;
      let pool: pg.Pool | undefined;
      // The classes are generic over the backend; the bench only uses the backend-independent surface.
      let opts: Record<string, unknown>;
      let factory: unknown;
      if (backend === "redis") {
        const u = new URL(ctx.redisUrl);
        opts = { connection: { host: u.hostname, port: Number(u.port || 6379), maxRetriesPerRequest: null }, prefix: `bench-${ctx.tag}` };
        factory = undefined;
      } else {
        factory = bull.createPostgresBackend;
        // Migrations once, on a connection of its own; then every class shares one pool of the engine's size.
        const migrator = new Queue(QUEUE, { connection: { connectionString: ctx.pgUrl, migrate: true, max: 1 } } as never, factory as never);
        await migrator.waitUntilReady();
        await migrator.close();
        // A caller-owned pool must pin `search_path` to BullMQ's schema itself (BullMQ only does it for pools it builds).
        pool = new pg.Pool({ connectionString: ctx.pgUrl, max: ctx.poolSize, application_name: `bench-bullmq-${ctx.tag}`, options: "-c search_path=bullmq" });
        pool.on("error", () => undefined);
        opts = { connection: pool };
      }
      const make = <T>(C: unknown, ...args: unknown[]): T => new (C as new (...a: unknown[]) => T)(...args, ...(factory ? [factory] : []));
      type Q = InstanceType<typeof Queue>;
      type F = InstanceType<typeof FlowProducer>;
      type W = InstanceType<typeof Worker>;
      type J = { name: string; data: Record<string, unknown>; getChildrenValues(): Promise<Record<string, unknown>> };
      const queue = make<Q>(Queue, QUEUE, opts);
      if (backend === "redis") {
        // How durable Redis is here: its persistence settings, read back from the server.
        const { Redis } = await import("ioredis");
        const client = new Redis(ctx.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
        await client.connect();
        const get = async (key: string) => String(((await client.config("GET", key)) as string[])[1] ?? "");
        const [aof, fsync, save] = [await get("appendonly"), await get("appendfsync"), await get("save")];
        const version = /redis_version:(\S+)/.exec(await client.info("server"))?.[1] ?? "?";
        await client.quit();
        peer.observed = `Redis ${version}: appendonly=${aof}${aof === "yes" ? `, appendfsync=${fsync}` : ""}, save="${save}"${aof !== "yes" && !save ? " — no persistence at all: completions are not durable" : ""}`;
      }
      const flows = make<F>(FlowProducer, opts);
      const current = new Current();

      const childValue = async (job: J, what: string) => {
        const vals = Object.values(await job.getChildrenValues());
        if (vals.length !== 1) throw new Error(`${what}: ${vals.length} child values`);
        return asNumber(vals[0], `${what} child value`);
      };
      const processor = async (job: J): Promise<unknown> => {
        const i = asNumber(job.data.i, "BullMQ data i");
        current.get().step(i, job.name);
        switch (job.name) {
          case "s":
            return 2 * i + 1;
          case "s1":
            return asNumber(job.data.v, "BullMQ data v") + 1;
          case "s2":
          case "s3":
            return (await childValue(job, job.name)) + 1;
          case "setup": {
            await flows.add({
              name: "merge",
              queueName: QUEUE,
              data: { i },
              children: [1, 2, 3].map((k) => ({ name: `b${k}`, queueName: QUEUE, data: { i, k, batch: batch(i, k) } })),
            });
            return null;
          }
          case "b1":
          case "b2":
          case "b3": {
            const k = asNumber(job.data.k, "BullMQ data k");
            return branch(asNumbers(job.data.batch, "BullMQ data batch", 5), k);
          }
          case "merge": {
            const vals = Object.values(await job.getChildrenValues());
            if (vals.length !== 3) throw new Error(`merge: ${vals.length} child values`);
            return sum(vals.map((v) => sum(asNumbers(v, "merge child value", 5))));
          }
          default:
            throw new Error(`unknown job ${job.name}`);
        }
      };
      const worker = make<W>(Worker, QUEUE, processor, { ...opts, concurrency: ctx.concurrency });
      // A unit is done when every one of its steps has a `completed` event; its value is the last step's.
      const completed = new Map<number, Set<string>>();
      const lastValue = new Map<number, unknown>();
      const last: Record<PeerWorkload, string> = { simple: "s", pipeline: "s3", parallel: "merge" };
      worker.on("completed", (job, result) => {
        const t = current.tracker;
        if (!t) return;
        const i = Number((job.data as { i: unknown }).i);
        const set = completed.get(i) ?? new Set<string>();
        if (set.has(job.name)) t.problems.push(`unit ${i}: step ${job.name} completed twice`);
        set.add(job.name);
        completed.set(i, set);
        if (job.name === last[t.workload]) lastValue.set(i, result);
        if (set.size === STEP_NAMES[t.workload].length) t.finished(i, lastValue.get(i));
      });
      worker.on("failed", (job, err) => current.tracker?.fail(new Error(`BullMQ job ${job?.name} failed: ${err.message}`)));
      worker.on("error", (err) => current.tracker?.fail(new Error(`BullMQ worker error: ${err.message}`)));
      await worker.waitUntilReady();
      await queue.waitUntilReady();
      await flows.waitUntilReady();

      return {
        async run(w: PeerWorkload, inputs: readonly number[]) {
          const t = new Tracker(w, inputs);
          completed.clear();
          lastValue.clear();
          current.tracker = t;
          try {
            const submit =
              w === "simple"
                ? queue.addBulk(inputs.map((i) => ({ name: "s", data: { i } })))
                : w === "parallel"
                  ? queue.addBulk(inputs.map((i) => ({ name: "setup", data: { i } })))
                  : flows.addBulk(
                      inputs.map((i) => ({
                        name: "s3",
                        queueName: QUEUE,
                        data: { i },
                        children: [{ name: "s2", queueName: QUEUE, data: { i }, children: [{ name: "s1", queueName: QUEUE, data: { i, v: 1000 * i + 7 } }] }],
                      })),
                    );
            await guarded(`BullMQ ${w}`, t, ctx.timeoutMs, submit.then(() => t.wait()));
            return t.verifiedResults(STEP_NAMES[w]);
          } finally {
            current.tracker = undefined;
          }
        },
        async close() {
          await worker.close();
          if (backend === "redis") await queue.obliterate({ force: true });
          await flows.close();
          await queue.close();
          await pool?.end();
        },
      };
    },
  };
  return peer;
}
