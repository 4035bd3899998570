/**
 * DatabaseAdmin on the real PostgreSQL server: creating a tenant is all-or-nothing (a taken username or
 * schema fails with TenantError and leaves no trace), bad names are refused before anything is created,
 * passwords are real (checked against the SCRAM verifier in pg_authid), and removeTenant drops exactly the
 * tenant or reports why it cannot.
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  ConfigurationError,
  DatabaseAdmin,
  DatabaseConnectionError,
  DefaultRunner,
  TenantConfig,
  TenantCredentials,
  TenantError,
} from "../../src/index.js";
import { pgUrl } from "../support/backends.js";
import { adminUrl, cleanupLater, freshName, freshTenant, isRolePassword, roleExists, schemaExists, su } from "./support.js";

const admins: DatabaseAdmin[] = [];
afterEach(async () => {
  for (const a of admins.splice(0)) await a.close();
});
function newAdmin(): DatabaseAdmin {
  const admin = new DatabaseAdmin(adminUrl("tenancy_admin"));
  admins.push(admin);
  return admin;
}

describe("DatabaseAdmin without PostgreSQL", () => {
  it("refuses a SQLite URL with ConfigurationError (Admin API requires PostgreSQL)", () => {
    expect(() => new DatabaseAdmin("sqlite:///:memory:")).toThrow(ConfigurationError);
    expect(() => new DatabaseAdmin("sqlite:///:memory:")).toThrow(/Admin API requires PostgreSQL/);
  });
});

if (pgUrl) {
  describe("createTenant (PostgreSQL)", () => {
    it("creates role, schema and engine tables; the generated password is 32 alphanumeric characters and is the role's real password", async () => {
      const names = freshTenant();
      const creds = await newAdmin().createTenant(new TenantConfig({ ...names, password: "" }));
      expect(creds).toBeInstanceOf(TenantCredentials);
      expect(creds.username).toBe(names.username);
      expect(creds.schemaName).toBe(names.schemaName);
      expect(creds.password).toMatch(/^[A-Za-z0-9]{32}$/);
      expect(await isRolePassword(names.username, creds.password)).toBe(true);
      // The check is not vacuous: a different password does not match the verifier.
      expect(await isRolePassword(names.username, `${creds.password.slice(0, 31)}${creds.password[31] === "x" ? "y" : "x"}`)).toBe(false);
      const [owner] = await su<{ owner: string }>(
        "SELECT nspowner::regrole::text AS owner FROM pg_namespace WHERE nspname = $1",
        [names.schemaName],
      );
      expect(owner?.owner).toBe(names.username);
      const tables = await su<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
        [names.schemaName],
      );
      expect(tables.map((t) => t.table_name)).toEqual([
        "cloaca_events",
        "cloaca_executions",
        "cloaca_meta",
        "cloaca_migrations",
        "cloaca_runners",
        "cloaca_tasks",
      ]);
      expect(creds.connectionString.startsWith(`postgresql://${names.username}:${creds.password}@`)).toBe(true);
    });

    it("a plain object works as the config, an absent password is generated, and two tenants get different passwords", async () => {
      const admin = newAdmin();
      const one = await admin.createTenant(freshTenant());
      const two = await admin.createTenant(freshTenant());
      expect(one.password).toMatch(/^[A-Za-z0-9]{32}$/);
      expect(two.password).toMatch(/^[A-Za-z0-9]{32}$/);
      expect(one.password).not.toBe(two.password);
      expect(await isRolePassword(two.username, two.password)).toBe(true);
      expect(await isRolePassword(two.username, one.password)).toBe(false);
    });

    it("a given password is the role's password, hashed as PostgreSQL itself hashes it (SASLprep) and URL-encoded in the connection string", async () => {
      // Soft hyphen and zero-width space are changed by SASLprep but not by NFKC; ﬁ is folded by NFKC; ' @ / % need quoting/encoding.
      const password = "p\u00e4ss'\u00ADw\u200Bo\uFB01rd@/%";
      // Reference: a role whose verifier the server computed itself from the same password.
      const reference = freshName("tref");
      cleanupLater({ role: reference });
      await su(`CREATE ROLE ${reference}`);
      const [stmt] = await su<{ sql: string }>("SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text) AS sql", [reference, password]);
      await su("BEGIN; SET LOCAL password_encryption = 'scram-sha-256'; " + stmt!.sql + "; COMMIT");
      expect(await isRolePassword(reference, password)).toBe(true);

      const names = freshTenant();
      const creds = await newAdmin().createTenant({ ...names, password });
      expect(creds.password).toBe(password);
      expect(await isRolePassword(names.username, password)).toBe(true);
      expect(await isRolePassword(names.username, password.replace("\u00e4", "a"))).toBe(false);
      expect(new URL(creds.connectionString).password).toBe(encodeURIComponent(password));
      expect(decodeURIComponent(new URL(creds.connectionString).password)).toBe(password);
    });

    it("a username that already exists fails with TenantError and leaves no schema behind (and the role untouched)", async () => {
      const names = freshTenant();
      await su(`CREATE ROLE ${names.username} NOLOGIN`);
      const before = await su("SELECT rolcanlogin, rolpassword FROM pg_authid WHERE rolname = $1", [names.username]);
      const err = await newAdmin().createTenant(names).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TenantError);
      expect((err as Error).message).toMatch(new RegExp(`role "${names.username}" already exists`));
      expect(await schemaExists(names.schemaName)).toBe(false);
      expect(await su("SELECT rolcanlogin, rolpassword FROM pg_authid WHERE rolname = $1", [names.username])).toEqual(before);
    });

    it("a schema that already exists fails with TenantError and leaves no role behind (and the schema untouched)", async () => {
      const names = freshTenant();
      await su(`CREATE SCHEMA ${names.schemaName}; CREATE TABLE ${names.schemaName}.keep (i int)`);
      const err = await newAdmin().createTenant(names).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TenantError);
      expect((err as Error).message).toMatch(new RegExp(`schema "${names.schemaName}" already exists`));
      expect(await roleExists(names.username)).toBe(false);
      const tables = await su<{ relname: string }>(
        "SELECT relname FROM pg_class WHERE relnamespace = $1::regnamespace AND relkind = 'r'",
        [names.schemaName],
      );
      expect(tables.map((t) => t.relname)).toEqual(["keep"]);
    });

    it("creating the same tenant twice fails the second time and leaves the first one intact and working", async () => {
      const admin = newAdmin();
      const names = freshTenant();
      const first = await admin.createTenant(names);
      await expect(admin.createTenant(names)).rejects.toBeInstanceOf(TenantError);
      expect(await isRolePassword(names.username, first.password)).toBe(true);
      const runner = new DefaultRunner(first.connectionString);
      try {
        await runner.ready();
        expect(await runner.listExecutions()).toEqual([]);
      } finally {
        await runner.shutdown({ timeoutMs: 5_000 });
      }
    });

    it("two concurrent creates with one username: one wins, the other fails with TenantError and leaves no schema", async () => {
      const username = freshName("tu");
      const schemaA = freshName("tn");
      const schemaB = freshName("tn");
      cleanupLater({ schema: schemaA, role: username });
      cleanupLater({ schema: schemaB });
      const admin = newAdmin();
      const results = await Promise.allSettled([
        admin.createTenant({ schemaName: schemaA, username }),
        newAdmin().createTenant({ schemaName: schemaB, username }),
      ]);
      const won = results.filter((r) => r.status === "fulfilled");
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(lost[0]!.reason).toBeInstanceOf(TenantError);
      const winner = (won[0] as PromiseFulfilledResult<TenantCredentials>).value.schemaName;
      const loser = winner === schemaA ? schemaB : schemaA;
      expect(await schemaExists(winner)).toBe(true);
      expect(await schemaExists(loser)).toBe(false);
    });

    const badSchemas: Array<[string, unknown]> = [
      ["a double quote", 'acme"; DROP ROLE postgres; --'],
      ["a semicolon", "acme;drop"],
      ["public", "public"],
      ["PUBLIC (any case)", "PUBLIC"],
      ["pg_catalog", "pg_catalog"],
      ["a pg_ prefix", "pg_tenant"],
      ["information_schema", "information_schema"],
      ["64 characters", `t${"a".repeat(63)}`],
      ["64 bytes with a non-ASCII letter", `t${"a".repeat(61)}é`],
      ["a non-ASCII letter", "tenant_ü"],
      ["non-ASCII digits", "tenant_\u0663"],
      ["a space", "acme corp"],
      ["a leading digit", "1acme"],
      ["an empty name", ""],
      ["a non-string", 42],
    ];
    it.each(badSchemas)("a schema name with %s is refused with ConfigurationError and nothing is created", async (_what, schemaName) => {
      const username = freshName("tu");
      cleanupLater({ role: username });
      // Drop it afterwards only if it did not exist before (never public, pg_catalog, …).
      if (typeof schemaName === "string" && schemaName !== "" && !(await schemaExists(schemaName))) cleanupLater({ schema: schemaName });
      const namespacesBefore = await su("SELECT count(*)::int AS n FROM pg_namespace");
      const err = await newAdmin()
        .createTenant({ schemaName: schemaName as string, username })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigurationError);
      expect(await roleExists(username)).toBe(false);
      if (typeof schemaName === "string") {
        const [row] = await su<{ owner: string }>("SELECT nspowner::regrole::text AS owner FROM pg_namespace WHERE nspname = $1", [schemaName]);
        // Either it does not exist, or it is PostgreSQL's own (public, pg_catalog, information_schema), untouched.
        if (row) expect(row.owner).not.toBe(username);
      }
      expect(await su("SELECT count(*)::int AS n FROM pg_namespace")).toEqual(namespacesBefore);
    });

    it.each([
      ["a quote", 'acme"user'],
      ["a semicolon", "acme;user"],
      ["a pg_ prefix", "pg_acme"],
      ["64 characters", `u${"a".repeat(63)}`],
      ["a non-ASCII letter", "acmé"],
    ])("a username with %s is refused with ConfigurationError and nothing is created", async (_what, username) => {
      const schemaName = freshName("tn");
      cleanupLater({ schema: schemaName });
      const err = await newAdmin()
        .createTenant({ schemaName, username })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigurationError);
      expect(await schemaExists(schemaName)).toBe(false);
      expect(await roleExists(username)).toBe(false);
    });
  });

  describe("a non-superuser admin (PostgreSQL)", () => {
    it("an admin role with only CREATEROLE and CREATE on the database creates a working tenant and removes it", async () => {
      const adminRole = freshName("tadmin");
      cleanupLater({ role: adminRole });
      const [{ db }] = (await su<{ db: string }>("SELECT current_database() AS db")) as [{ db: string }];
      await su(`CREATE ROLE ${adminRole} LOGIN CREATEROLE NOSUPERUSER; GRANT CREATE ON DATABASE "${db}" TO ${adminRole}`);
      const u = new URL(adminUrl("tenancy_admin"));
      u.username = adminRole;
      const admin = new DatabaseAdmin(u.toString());
      admins.push(admin);
      const names = freshTenant();
      const creds = await admin.createTenant(names);
      expect(await isRolePassword(names.username, creds.password)).toBe(true);
      const [owner] = await su<{ owner: string }>("SELECT nspowner::regrole::text AS owner FROM pg_namespace WHERE nspname = $1", [names.schemaName]);
      expect(owner?.owner).toBe(names.username);
      const runner = new DefaultRunner(creds.connectionString);
      try {
        await runner.ready();
        expect(await runner.listExecutions()).toEqual([]);
      } finally {
        await runner.shutdown({ timeoutMs: 5_000 });
      }
      await admin.removeTenant(names.schemaName, names.username);
      expect(await schemaExists(names.schemaName)).toBe(false);
      expect(await roleExists(names.username)).toBe(false);
    });
  });

  describe("removeTenant and listTenants (PostgreSQL)", () => {
    it("listTenants shows a created tenant with its role; removeTenant drops its schema and role", async () => {
      const admin = newAdmin();
      const names = freshTenant();
      await admin.createTenant(names);
      expect(await admin.listTenants()).toContainEqual({ schemaName: names.schemaName, username: names.username });
      await admin.removeTenant(names.schemaName, names.username);
      expect(await schemaExists(names.schemaName)).toBe(false);
      expect(await roleExists(names.username)).toBe(false);
      expect((await admin.listTenants()).map((t) => t.schemaName)).not.toContain(names.schemaName);
    });

    it("after removal the credentials no longer connect (authentication failed, no password in the error)", async () => {
      const admin = newAdmin();
      const creds = await admin.createTenant(freshTenant());
      await admin.removeTenant(creds.schemaName, creds.username);
      const err = await DefaultRunner.connect(creds.connectionString).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DatabaseConnectionError);
      expect((err as Error).message).toMatch(/authentication failed/);
      expect((err as Error).message).not.toContain(creds.password);
    });

    it("removing a tenant that does not exist fails with TenantError", async () => {
      const names = freshTenant();
      const err = await newAdmin()
        .removeTenant(names.schemaName, names.username)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TenantError);
      expect((err as Error).message).toMatch(/neither schema .* nor role .* exists/);
    });

    it("a role that owns an object outside its schema is not removed: TenantError names the object, and nothing is dropped", async () => {
      const admin = newAdmin();
      const names = freshTenant();
      const elsewhere = freshName("elsewhere");
      cleanupLater({ schema: elsewhere });
      await admin.createTenant(names);
      await su(`CREATE SCHEMA ${elsewhere}; CREATE TABLE ${elsewhere}.precious (i int); INSERT INTO ${elsewhere}.precious VALUES (1)`);
      await su(`ALTER TABLE ${elsewhere}.precious OWNER TO ${names.username}`);
      const err = await admin.removeTenant(names.schemaName, names.username).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TenantError);
      expect((err as Error).message).toContain(`table ${elsewhere}.precious`);
      expect(await schemaExists(names.schemaName)).toBe(true);
      expect(await roleExists(names.username)).toBe(true);
      expect(await su(`SELECT i FROM ${elsewhere}.precious`)).toEqual([{ i: 1 }]);
    });

    it("a schema that belongs to another role is not removed: TenantError, and both tenants stay", async () => {
      const admin = newAdmin();
      const a = await admin.createTenant(freshTenant());
      const b = await admin.createTenant(freshTenant());
      const err = await admin.removeTenant(a.schemaName, b.username).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TenantError);
      expect((err as Error).message).toMatch(new RegExp(`belongs to role "${a.username}"`));
      for (const t of [a, b]) {
        expect(await schemaExists(t.schemaName)).toBe(true);
        expect(await roleExists(t.username)).toBe(true);
      }
    });

    it("removeTenant validates names: a bad schema name is a ConfigurationError", async () => {
      await expect(newAdmin().removeTenant("public", "someone")).rejects.toBeInstanceOf(ConfigurationError);
      await expect(newAdmin().removeTenant("x;y", "someone")).rejects.toBeInstanceOf(ConfigurationError);
    });
  });
}
