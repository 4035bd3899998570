/**
 * PostgreSQL checks no privileges on LISTEN/NOTIFY, so a schema's NOTIFY channel must not be guessable:
 * it is `cloaca_` + a random token stored in the schema's own `cloaca_meta`, which other tenants cannot read.
 */
import { afterEach, describe, expect, it } from "vitest";
import { DatabaseAdmin, DefaultRunner, WorkflowBuilder } from "../../src/index.js";
import { pgUrl } from "../support/backends.js";
import { adminUrl, asClient, dropRegistered, freshTenant, sqlstate, su } from "./support.js";

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await dropRegistered();
});

if (pgUrl) {
  describe("notification channels (PostgreSQL)", () => {
    it("each tenant's channel is a random token that another tenant cannot read, and the runners use it", async () => {
      const admin = new DatabaseAdmin(adminUrl("tenancy_chan"));
      closers.push(() => admin.close());
      const a = await admin.createTenant(freshTenant());
      const b = await admin.createTenant(freshTenant());
      const tokenOf = async (schema: string) =>
        (await su<{ value: string }>(`SELECT value FROM "${schema}".cloaca_meta WHERE key = 'channel'`))[0]!.value;
      const [ta, tb] = [await tokenOf(a.schemaName), await tokenOf(b.schemaName)];
      expect(ta).toMatch(/^[0-9a-f]{32}$/);
      expect(tb).toMatch(/^[0-9a-f]{32}$/);
      expect(ta).not.toBe(tb);

      // Tenant A's role cannot read B's token.
      expect(await asClient(a.connectionString, (c) => sqlstate(c, `SELECT value FROM "${b.schemaName}".cloaca_meta`))).toBe("42501");

      // A's runner listens on cloaca_<token>, not on anything derived from the schema name.
      const wf = new WorkflowBuilder("chan").task("t", (ctx) => ctx.set("ok", 1)).build({ register: false });
      // The admin URL's application_name (tenancy_chan_<pid>) is carried into the tenant's connection string.
      const runner = new DefaultRunner(a.connectionString, { workflows: [wf] });
      closers.push(() => runner.shutdown({ timeoutMs: 5_000 }));
      await runner.ready();
      expect(await runner.storeForTests.channel()).toBe(`cloaca_${ta}`);
      const listens = await su<{ query: string }>(
        "SELECT query FROM pg_stat_activity WHERE application_name = $1 AND usename = $2 AND query LIKE 'LISTEN %'",
        [`tenancy_chan_${process.pid}`, a.username],
      );
      expect(listens.map((r) => r.query)).toEqual([`LISTEN "cloaca_${ta}"`]);
      expect((await runner.execute("chan")).status).toBe("Completed");
    });
  });
}
