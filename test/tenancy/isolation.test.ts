/**
 * Tenants made by DatabaseAdmin are isolated on the real PostgreSQL server: each tenant's runner sees only
 * its own executions and contexts, one tenant's role is refused (SQLSTATE 42501) on another's tables, and
 * the role can reach its own schema only. The connection string works with `psql` and with
 * `new DefaultRunner(connectionString)` alone.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import {
  ConfigurationError,
  DatabaseAdmin,
  DefaultRunner,
  ExecutionNotFoundError,
  WorkflowBuilder,
  type TenantCredentials,
} from "../../src/index.js";
import { pgUrl } from "../support/backends.js";
import { adminUrl, asClient, freshName, freshTenant, sqlstate, su } from "./support.js";

const run = promisify(execFile);

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

function track<T extends { shutdown?: unknown; close?: unknown }>(thing: T): T {
  const t = thing as unknown as { shutdown?: (o: object) => Promise<void>; close?: () => Promise<void> };
  closers.push(() => (t.shutdown ? t.shutdown({ timeoutMs: 5_000 }) : t.close!()));
  return thing;
}

async function twoTenants(admin: DatabaseAdmin): Promise<[TenantCredentials, TenantCredentials]> {
  const a = await admin.createTenant(freshTenant());
  const b = await admin.createTenant(freshTenant());
  return [a, b];
}

describe("tenant isolation needs PostgreSQL", () => {
  it("withSchema on a SQLite URL throws ConfigurationError (multi-tenancy requires PostgreSQL)", () => {
    expect(() => DefaultRunner.withSchema("sqlite:///:memory:", "tenant_a")).toThrow(ConfigurationError);
    expect(() => DefaultRunner.withSchema("sqlite:///:memory:", "tenant_a")).toThrow(/multi-tenancy requires PostgreSQL/);
  });
});

if (pgUrl) {
  describe("tenant isolation (PostgreSQL)", () => {
    it("two tenants run the same workflow name at the same time; each sees only its own executions and contexts", async () => {
      const admin = track(new DatabaseAdmin(adminUrl("tenancy_iso")));
      const [a, b] = await twoTenants(admin);

      // A barrier inside the task: no tenant's task finishes before both tenants have a task running,
      // so the two tenants' executions provably overlap.
      const started = new Set<string>();
      let release!: () => void;
      const bothStarted = new Promise<void>((r) => (release = r));
      const flow = (label: string) =>
        new WorkflowBuilder("billing")
          .task("read", async (ctx) => {
            started.add(label);
            if (started.size === 2) release();
            await Promise.race([bothStarted, new Promise((_, rej) => setTimeout(() => rej(new Error("tenants did not overlap")), 10_000))]);
            ctx.set("seenBy", label);
          })
          .task("total", { dependencies: ["read"] }, (ctx) => ctx.set("total", ctx.get<number>("amount")! * 2))
          .build({ register: false });
      const ra = track(new DefaultRunner(a.connectionString, { workflows: [flow("A")] }));
      const rb = track(new DefaultRunner(b.connectionString, { workflows: [flow("B")] }));

      const runs = await Promise.all([
        ...[1, 2, 3].map((i) => ra.execute("billing", { tenant: "A", amount: i, secretOfA: "a-only" })),
        ...[10, 20, 30].map((i) => rb.execute("billing", { tenant: "B", amount: i, secretOfB: "b-only" })),
      ]);
      expect(runs.map((r) => r.status)).toEqual(Array(6).fill("Completed"));
      const idsA = runs.slice(0, 3).map((r) => r.executionId);
      const idsB = runs.slice(3).map((r) => r.executionId);

      // Contexts: every execution of A carries A's input and A's outputs only, and the same for B.
      for (const r of runs.slice(0, 3)) {
        expect(r.finalContext.toObject()).toMatchObject({ tenant: "A", seenBy: "A", secretOfA: "a-only" });
        expect(r.finalContext.has("secretOfB")).toBe(false);
      }
      for (const r of runs.slice(3)) {
        expect(r.finalContext.toObject()).toMatchObject({ tenant: "B", seenBy: "B", secretOfB: "b-only" });
        expect(r.finalContext.has("secretOfA")).toBe(false);
      }
      expect(runs.map((r) => r.finalContext.get("total"))).toEqual([2, 4, 6, 20, 40, 60]);

      // Executions: each runner lists exactly its own, and cannot open the other tenant's by id.
      expect((await ra.listExecutions({ workflow: "billing" })).map((e) => e.executionId).sort()).toEqual([...idsA].sort());
      expect((await rb.listExecutions()).map((e) => e.executionId).sort()).toEqual([...idsB].sort());
      await expect(ra.getExecution(idsB[0]!)).rejects.toBeInstanceOf(ExecutionNotFoundError);
      await expect(rb.getExecution(idsA[0]!)).rejects.toBeInstanceOf(ExecutionNotFoundError);

      // In the database: each schema holds its own rows, nothing of the other tenant.
      const rowsIn = async (schema: string) =>
        (await su<{ id: string; input_context: string }>(`SELECT id, input_context FROM "${schema}".cloaca_executions`)).map((r) => r.id).sort();
      expect(await rowsIn(a.schemaName)).toEqual([...idsA].sort());
      expect(await rowsIn(b.schemaName)).toEqual([...idsB].sort());
      const inputsOfB = await su<{ input_context: string }>(`SELECT input_context FROM "${b.schemaName}".cloaca_executions`);
      expect(inputsOfB.every((r) => r.input_context.includes("b-only") && !r.input_context.includes("a-only"))).toBe(true);
    });

    it("tenant A's role gets permission denied (42501) on tenant B's tables, and the other way round", async () => {
      const admin = track(new DatabaseAdmin(adminUrl("tenancy_iso")));
      const [a, b] = await twoTenants(admin);
      for (const [me, other] of [
        [a, b],
        [b, a],
      ] as const) {
        await asClient(me.connectionString, async (c) => {
          expect((await c.query("SELECT current_user AS u")).rows[0].u).toBe(me.username);
          // Its own tables: fine.
          expect(await sqlstate(c, "SELECT count(*) FROM cloaca_executions")).toBe("ok");
          expect(await sqlstate(c, `SELECT count(*) FROM "${me.schemaName}".cloaca_tasks`)).toBe("ok");
          // The other tenant's: refused, for reads and writes, table by table.
          for (const table of ["cloaca_executions", "cloaca_tasks", "cloaca_events", "cloaca_runners", "cloaca_migrations", "cloaca_meta"]) {
            expect(await sqlstate(c, `SELECT * FROM "${other.schemaName}".${table}`), table).toBe("42501");
          }
          expect(await sqlstate(c, `DELETE FROM "${other.schemaName}".cloaca_executions`)).toBe("42501");
          expect(await sqlstate(c, `CREATE TABLE "${other.schemaName}".intruder (i int)`)).toBe("42501");
          expect(await sqlstate(c, `DROP SCHEMA "${other.schemaName}" CASCADE`)).toBe("42501");
        });
      }
    });

    it("the tenant role reaches its own schema only: no tables in public, no CREATE in public, no roles, schemas or databases", async () => {
      const admin = track(new DatabaseAdmin(adminUrl("tenancy_iso")));
      const [a, b] = await twoTenants(admin);
      // Let the tenant's own runner work first: whatever it creates must stay in its schema.
      const wf = new WorkflowBuilder(freshName("wf")).task("t", (ctx) => ctx.set("ok", true)).build({ register: false });
      const runner = track(new DefaultRunner(a.connectionString, { workflows: [wf] }));
      expect((await runner.execute(wf.name)).status).toBe("Completed");
      await runner.shutdown({ timeoutMs: 5_000 });

      const [role] = await su<Record<string, boolean>>(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolinherit, rolcanlogin FROM pg_roles WHERE rolname = $1",
        [a.username],
      );
      expect(role).toEqual({
        rolsuper: false,
        rolcreaterole: false,
        rolcreatedb: false,
        rolreplication: false,
        rolbypassrls: false,
        rolinherit: true,
        rolcanlogin: true,
      });
      // Every relation the role owns is in its own schema (so nothing in public), and every engine table is there.
      const owned = await su<{ nspname: string; relname: string }>(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace " +
          "WHERE c.relowner = (SELECT oid FROM pg_roles WHERE rolname = $1) AND c.relkind IN ('r','p','v','m','S')",
        [a.username],
      );
      expect(owned.filter((o) => o.nspname !== a.schemaName)).toEqual([]);
      expect(owned.map((o) => o.relname).sort()).toEqual(
        expect.arrayContaining(["cloaca_events", "cloaca_executions", "cloaca_migrations", "cloaca_runners", "cloaca_tasks"]),
      );
      const [privs] = await su<Record<string, boolean>>(
        "SELECT has_schema_privilege($1, 'public', 'CREATE') AS public_create, has_schema_privilege($1, $2, 'USAGE') AS other_usage, " +
          "has_schema_privilege($1, $3, 'CREATE') AS own_create, has_database_privilege($1, current_database(), 'CREATE') AS db_create",
        [a.username, b.schemaName, a.schemaName],
      );
      expect(privs).toEqual({ public_create: false, other_usage: false, own_create: true, db_create: false });

      await asClient(a.connectionString, async (c) => {
        const unique = freshName("x");
        expect(await sqlstate(c, `CREATE TABLE public.${unique} (i int)`)).toBe("42501");
        expect(await sqlstate(c, `CREATE ROLE ${unique}`)).toBe("42501");
        expect(await sqlstate(c, `CREATE SCHEMA ${unique}`)).toBe("42501");
        expect(await sqlstate(c, `CREATE DATABASE ${unique}`)).toBe("42501");
        expect(await sqlstate(c, `ALTER ROLE ${a.username} CREATEROLE`)).toBe("42501");
        expect(await sqlstate(c, `SELECT count(*) FROM "${b.schemaName}".cloaca_executions`)).toBe("42501");
        // An unqualified name resolves to the tenant's own table (its search path starts with its schema).
        const schemaOf = async (rel: string) =>
          (await c.query("SELECT relnamespace::regnamespace::text AS s FROM pg_class WHERE oid = to_regclass($1)", [rel])).rows[0]?.s;
        expect(await schemaOf("cloaca_executions")).toBe(a.schemaName);
        // It can create in its own schema, where an unqualified CREATE lands.
        expect(await sqlstate(c, `CREATE TABLE ${unique} (i int)`)).toBe("ok");
        expect(await schemaOf(unique)).toBe(a.schemaName);
      });
    });

    it("the connection string works with psql as it is and shows the tenant's schema", async () => {
      const admin = track(new DatabaseAdmin(adminUrl("tenancy_iso")));
      const creds = await admin.createTenant(freshTenant());
      const env = { ...process.env };
      delete env.PGPASSWORD;
      delete env.PGUSER;
      delete env.PGOPTIONS;
      const { stdout } = await run("psql", [creds.connectionString, "-X", "-A", "-t", "-c", "select current_schemas(false), current_user"], {
        env,
        timeout: 20_000,
      });
      expect(stdout.trim()).toBe(`{${creds.schemaName}}|${creds.username}`);
    });

    it("new DefaultRunner(credentials.connectionString) with no other argument runs in the tenant's schema", async () => {
      const admin = track(new DatabaseAdmin(adminUrl("tenancy_iso")));
      const creds = await admin.createTenant(freshTenant());
      // Registered in the process-wide default registry, so the runner needs nothing but the string.
      const name = freshName("default_registry_wf");
      new WorkflowBuilder(name).task("hello", (ctx) => ctx.set("message", "hi")).build();
      const runner = track(new DefaultRunner(creds.connectionString));
      const result = await runner.execute(name, { n: 1 });
      expect(result.status).toBe("Completed");
      expect(result.finalContext.get("message")).toBe("hi");
      const rows = await su<{ id: string }>(`SELECT id FROM "${creds.schemaName}".cloaca_executions`);
      expect(rows.map((r) => r.id)).toEqual([result.executionId]);
      // Its sessions are the tenant role's.
      const sessions = await su<{ usename: string }>(
        "SELECT DISTINCT usename FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()",
        [`tenancy_iso_${process.pid}`],
      );
      expect(sessions.map((s) => s.usename)).toContain(creds.username);
    });
  });
}
