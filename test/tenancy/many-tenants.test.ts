/**
 * 100 tenants in one process: 100 `withSchema` runners on one admin URL (distinct schemas) each run a
 * workflow, while the process's connections to the server (pg_stat_activity, by this test's
 * application_name) never exceed the documented bound: one shared pool (its size is the largest
 * `dbPoolSize` asked for, 10 by default) plus one LISTEN connection. RSS before and after is printed, not
 * asserted.
 */
import { afterEach, describe, expect, it } from "vitest";
import pg from "pg";
import { ConfigurationError, DefaultRunner, WorkflowBuilder } from "../../src/index.js";
import { sharedPoolCount } from "../../src/store/postgres/shared-connections.js";
import { pgUrl } from "../support/backends.js";
import { cleanupLater, freshName, withParam } from "./support.js";

const TENANTS = 100;
const POOL_SIZE = 10; // the default dbPoolSize

const runners: DefaultRunner[] = [];
afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.shutdown({ timeoutMs: 5_000 })));
});

describe("withSchema runners and the shared pool", () => {
  it("a bad schema name is refused synchronously, before any pool is opened", () => {
    const before = sharedPoolCount();
    for (const bad of ["public", "a;b", 'x"y', "pg_x", `t${"a".repeat(63)}`]) {
      expect(() => DefaultRunner.withSchema("postgresql://nobody@127.0.0.1:1/none", bad)).toThrow(ConfigurationError);
    }
    expect(sharedPoolCount()).toBe(before);
  });
});

if (pgUrl) {
  describe("100 tenants in one process (PostgreSQL)", () => {
    it(`${TENANTS} withSchema runners each execute a workflow within one shared pool (${POOL_SIZE}) + 1 listener connections`, async () => {
      const app = `tenancy_many_${process.pid}`;
      const url = withParam(pgUrl!, "application_name", app);
      const prefix = freshName("tm");
      const schemas = Array.from({ length: TENANTS }, (_, i) => `${prefix}_${i}`);
      for (const schema of schemas) cleanupLater({ schema });

      // Sample this test's connections all along, from a connection of another application_name.
      const watcher = new pg.Client({ connectionString: withParam(pgUrl!, "application_name", `${app}_watch`) });
      await watcher.connect();
      let peak = 0;
      let samples = 0;
      const sample = async () => {
        const { rows } = await watcher.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1", [app]);
        peak = Math.max(peak, rows[0]!.n);
        samples++;
        return rows[0]!.n;
      };
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          await sample();
          await new Promise((r) => setTimeout(r, 10));
        }
      })();

      try {
        const wf = new WorkflowBuilder(freshName("tenant_flow"))
          .task("hello", (ctx) => ctx.set("greeting", `hello ${ctx.get<string>("tenant")}`))
          .task("done", { dependencies: ["hello"] }, (ctx) => ctx.set("done", true))
          .build({ register: false });

        const rssBefore = process.memoryUsage().rss;
        const t0 = performance.now();
        for (const schema of schemas) runners.push(DefaultRunner.withSchema(url, schema, { workflows: [wf] }));
        await Promise.all(runners.map((r) => r.ready()));
        const startMs = performance.now() - t0;
        expect(sharedPoolCount()).toBe(1);

        const t1 = performance.now();
        const results = await Promise.all(runners.map((r, i) => r.execute(wf.name, { tenant: schemas[i] })));
        const execMs = performance.now() - t1;
        results.forEach((res, i) => {
          expect(res.status).toBe("Completed");
          expect(res.finalContext.toObject()).toEqual({ tenant: schemas[i], greeting: `hello ${schemas[i]}`, done: true });
        });
        const rssAfter = process.memoryUsage().rss;
        sampling = false;
        await sampler;
        const now = await sample();

        // Each execution is in its own tenant's schema, and only there.
        const { rows } = await watcher.query<{ schema: string; id: string }>(
          schemas.map((s) => `SELECT '${s}' AS schema, id FROM "${s}".cloaca_executions`).join(" UNION ALL "),
        );
        expect(rows).toHaveLength(TENANTS);
        rows.forEach((row) => expect(row.id).toBe(results[schemas.indexOf(row.schema)]!.executionId));

        console.log(
          `[many-tenants] ${TENANTS} tenants: start ${startMs.toFixed(0)} ms, ${TENANTS} executions ${execMs.toFixed(0)} ms; ` +
            `connections peak ${peak} (now ${now}; ${samples} samples; bound ${POOL_SIZE} + 1); ` +
            `RSS before ${(rssBefore / 2 ** 20).toFixed(1)} MB, after ${(rssAfter / 2 ** 20).toFixed(1)} MB`,
        );
        expect(samples).toBeGreaterThan(3);
        expect(peak).toBeGreaterThan(1);
        expect(peak).toBeLessThanOrEqual(POOL_SIZE + 1);
      } finally {
        sampling = false;
        await sampler.catch(() => undefined);
        await Promise.all(runners.splice(0).map((r) => r.shutdown({ timeoutMs: 5_000 })));
        // Everything is given back once the last runner is gone.
        expect(sharedPoolCount()).toBe(0);
        await watcher.end();
      }
    }, 60_000);
  });
}
