/**
 * Tenant passwords never show up where they could be read by accident: not in toString / inspect / JSON /
 * console output of TenantConfig and TenantCredentials, not in a runner's log lines when it runs on the
 * credentials' connection string, and not in the errors (message, stack, cause chain) of a connection made
 * with that string that fails.
 */
import { format, inspect } from "node:util";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DatabaseAdmin, DatabaseConnectionError, DefaultRunner, TenantConfig, TenantError, WorkflowBuilder, type Logger } from "../../src/index.js";
import { pgUrl } from "../support/backends.js";
import { adminUrl, freshName, freshTenant } from "./support.js";
import { closedPort } from "../support/net.js";

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const close of closers.splice(0).reverse()) await close();
});

/** A logger that keeps every entry, so a test can search all of it. */
function capturingLogger(): { logger: Logger; text: () => string; count: () => number } {
  const lines: string[] = [];
  const write = (level: string) => (obj: object, msg?: string) => lines.push(`${level} ${msg ?? ""} ${JSON.stringify(obj)} ${inspect(obj, { depth: 8 })}`);
  return {
    logger: { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") },
    text: () => lines.join("\n"),
    count: () => lines.length,
  };
}

/** Every printable form of a value we can think of. */
function printableForms(value: unknown): string[] {
  const v = value as { toString(): string };
  return [
    String(value),
    `${v}`,
    v.toString(),
    JSON.stringify(value),
    JSON.stringify({ nested: value }),
    inspect(value),
    inspect(value, { showHidden: true, depth: 10 }),
    inspect({ nested: [value] }, { showHidden: true, depth: 10 }),
    format("%s %o %O %j", value, value, value, value),
    JSON.stringify(Object.entries(value as object)),
    JSON.stringify({ ...(value as object) }),
  ];
}

/** Everything an error can print: message, stack, inspect (which walks the cause chain), JSON. */
function errorForms(err: unknown): string[] {
  const e = err as Error & { cause?: unknown };
  const chain: string[] = [];
  for (let c: unknown = e, i = 0; c && i < 10; c = (c as { cause?: unknown }).cause, i++) {
    chain.push(String(c), (c as Error).message ?? "", (c as Error).stack ?? "");
  }
  return [...chain, inspect(e, { depth: 10, showHidden: true }), format("%o", e), JSON.stringify(e)];
}

describe("TenantConfig keeps its password out of every printable form", () => {
  it("toString, template strings, JSON, inspect, util.format and console.log never show it", () => {
    const password = "Sup3rS3cretTenantPassw0rd";
    const config = new TenantConfig({ schemaName: "tenant_acme", username: "acme_user", password });
    expect(config.password).toBe(password);
    const log = vi.spyOn(console, "log").mockImplementation(() => undefined);
    console.log(config, `${config}`, { config });
    const logged = log.mock.calls.map((args) => format(...(args as [unknown, ...unknown[]]))).join("\n");
    for (const text of [...printableForms(config), logged]) {
      expect(text).not.toContain(password);
    }
    expect(String(config)).toContain("tenant_acme");
    expect(JSON.parse(JSON.stringify(config))).toEqual({ schemaName: "tenant_acme", username: "acme_user", password: "***" });
    expect(Object.keys(config)).not.toContain("password");
  });
});

if (pgUrl) {
  describe("TenantCredentials and the tenant's connections (PostgreSQL)", () => {
    it("credentials show schema, user and a masked connection string but never the password", async () => {
      const admin = new DatabaseAdmin(adminUrl("tenancy_secrets"));
      closers.push(() => admin.close());
      const creds = await admin.createTenant(freshTenant());
      const log = vi.spyOn(console, "log").mockImplementation(() => undefined);
      const error = vi.spyOn(console, "error").mockImplementation(() => undefined);
      console.log(creds, `${creds}`, { creds }, [creds]);
      console.error("%o", creds);
      const logged = [...log.mock.calls, ...error.mock.calls].map((args) => format(...(args as [unknown, ...unknown[]]))).join("\n");
      for (const text of [...printableForms(creds), logged]) {
        expect(text).not.toContain(creds.password);
        expect(text).not.toContain(encodeURIComponent(creds.password));
      }
      expect(String(creds)).toContain(creds.schemaName);
      expect(String(creds)).toContain(`${creds.username}:***@`);
      expect(JSON.parse(JSON.stringify(creds))).toMatchObject({ username: creds.username, schemaName: creds.schemaName, password: "***" });
      // The real values are still there for whoever asks for them by name.
      expect(creds.connectionString).toContain(creds.password);
    });

    it("a runner started with the credentials' connection string never logs the password", async () => {
      const admin = new DatabaseAdmin(adminUrl("tenancy_secrets"));
      closers.push(() => admin.close());
      const creds = await admin.createTenant(freshTenant());
      const capture = capturingLogger();
      const wf = new WorkflowBuilder(freshName("wf"))
        .task("fails", { retry: { maxAttempts: 1 } }, () => {
          throw new Error("boom");
        })
        .build({ register: false });
      const runner = new DefaultRunner(creds.connectionString, { workflows: [wf], logger: capture.logger });
      closers.push(() => runner.shutdown({ timeoutMs: 5_000 }));
      expect(runner.databaseUrl).not.toContain(creds.password);
      expect(runner.databaseUrl).toContain(`${creds.username}:***@`);
      const result = await runner.execute(wf.name);
      expect(result.status).toBe("Failed");
      await runner.shutdown({ timeoutMs: 5_000 });
      expect(capture.count()).toBeGreaterThan(0);
      // It did log the database it works on (masked), just not the password.
      expect(capture.text()).toContain(`${creds.username}:***@`);
      expect(capture.text()).not.toContain(creds.password);
    });

    it("connection failures with the credentials' string (refused, no such database, no such role) never show the password", async () => {
      const admin = new DatabaseAdmin(adminUrl("tenancy_secrets"));
      closers.push(() => admin.close());
      const creds = await admin.createTenant(freshTenant());
      const url = new URL(creds.connectionString);
      const refused = new URL(url);
      refused.port = String(await closedPort());
      const noDatabase = new URL(url);
      noDatabase.pathname = `/${freshName("nodb")}`;
      const noRole = new URL(url);
      noRole.username = freshName("norole");
      const cases: Array<[string, RegExp]> = [
        [refused.toString(), /connection refused/],
        [noDatabase.toString(), /database does not exist/],
        [noRole.toString(), /authentication failed/],
      ];
      for (const [connectionString, expected] of cases) {
        const capture = capturingLogger();
        const err = await DefaultRunner.connect(connectionString, { logger: capture.logger }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(DatabaseConnectionError);
        expect((err as Error).message).toMatch(expected);
        expect((err as Error).message).toContain("***");
        for (const text of [...errorForms(err), capture.text()]) expect(text).not.toContain(creds.password);
        // The same through the sync constructor + ready().
        const runner = new DefaultRunner(connectionString, { logger: capture.logger });
        const err2 = await runner.ready().catch((e: unknown) => e);
        await runner.shutdown({ timeoutMs: 1_000 });
        for (const text of [...errorForms(err2), capture.text()]) expect(text).not.toContain(creds.password);
      }
    });

    it("TenantError messages never show a given password, nor the admin URL's password", async () => {
      const adminPassword = "AdminPassw0rdNeverShown";
      const u = new URL(adminUrl("tenancy_secrets"));
      u.password = adminPassword; // trust auth: accepted by the test server, but it must never be printed
      const admin = new DatabaseAdmin(u.toString());
      closers.push(() => admin.close());
      expect(admin.databaseUrl).not.toContain(adminPassword);
      expect(inspect(admin, { showHidden: true, depth: 5 })).not.toContain(adminPassword);
      const password = "TenantGivenPassw0rd";
      const names = freshTenant();
      await admin.createTenant({ ...names, password });
      const dup = await admin.createTenant({ ...names, password }).catch((e: unknown) => e);
      expect(dup).toBeInstanceOf(TenantError);
      const missing = await admin.removeTenant(freshName("tn"), freshName("tu")).catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(TenantError);
      for (const err of [dup, missing]) {
        for (const text of errorForms(err)) {
          expect(text).not.toContain(password);
          expect(text).not.toContain(adminPassword);
        }
      }
    });
  });
}
