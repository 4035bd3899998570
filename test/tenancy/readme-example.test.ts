/**
 * The README's "PostgreSQL: multi-tenant setup" example, run as written: the code block is taken from
 * README.md, only the admin URL and the tenant's names are swapped for the test server's and fresh ones,
 * `from "cloaca"` points at this checkout, and a few lines are appended that run a workflow on
 * `tenantRunner` and print what happened. It runs in its own process (`node --import tsx`), as a user's
 * module would.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { pgUrl } from "../support/backends.js";
import { adminUrl, freshTenant, isRolePassword, su } from "./support.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The first ```ts block after `heading` in README.md. */
function readmeBlock(heading: string): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const at = readme.indexOf(`\n${heading}\n`);
  if (at < 0) throw new Error(`README.md has no heading ${heading}`);
  const m = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!m) throw new Error(`no ts block after ${heading}`);
  return m[1]!;
}

describe("README multi-tenant setup", () => {
  it("is the reference page's example in TypeScript, with working code (no COMING marker)", () => {
    const block = readmeBlock("### PostgreSQL: multi-tenant setup");
    expect(block).toContain('import { DatabaseAdmin, DefaultRunner, TenantConfig } from "cloaca";');
    expect(block).toContain('new DatabaseAdmin("postgresql://admin:admin@localhost:5432/cloacina")');
    expect(block).toContain('new TenantConfig({ schemaName: "tenant_acme", username: "acme_user", password: "" })');
    expect(block).toContain("await admin.createTenant(config)");
    expect(block).toContain("new DefaultRunner(credentials.connectionString)");
    expect(block).not.toMatch(/COMING/);
  });
});

if (pgUrl) {
  describe("README multi-tenant setup (PostgreSQL)", () => {
    it("runs as written: the tenant's runner works on the credentials' connection string, in the tenant's schema", async () => {
      const block = readmeBlock("### PostgreSQL: multi-tenant setup");

      const names = freshTenant();
      const source =
        block
          .replace('from "cloaca"', `from ${JSON.stringify(pathToFileURL(join(ROOT, "src", "index.ts")).href)}`)
          .replace('"postgresql://admin:admin@localhost:5432/cloacina"', JSON.stringify(adminUrl("tenancy_readme")))
          .replace('"tenant_acme"', JSON.stringify(names.schemaName))
          .replace('"acme_user"', JSON.stringify(names.username)) +
        `
// --- appended by the test: use the runner, report, clean up
import { WorkflowBuilder as __WB } from ${JSON.stringify(pathToFileURL(join(ROOT, "src", "index.ts")).href)};
tenantRunner.register(new __WB("readme_hello").task("hello", (ctx) => ctx.set("message", "Hello World!")).build({ register: false }));
const __result = await tenantRunner.execute("readme_hello");
await tenantRunner.shutdown();
console.log(JSON.stringify({ status: __result.status, message: __result.finalContext.get("message"), id: __result.executionId,
  printed: String(credentials), password: credentials.password }));
`;
      const dir = mkdtempSync(join(tmpdir(), "cloaca-readme-"));
      try {
        const file = join(dir, "multi-tenant.mts");
        writeFileSync(file, source);
        const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", file], { cwd: ROOT, timeout: 30_000 });
        const out = JSON.parse(stdout.trim().split("\n").pop()!) as { status: string; message: string; id: string; printed: string; password: string };
        expect(out.status).toBe("Completed");
        expect(out.message).toBe("Hello World!");
        expect(out.password).toMatch(/^[A-Za-z0-9]{32}$/);
        expect(out.printed).not.toContain(out.password);
        expect(await isRolePassword(names.username, out.password)).toBe(true);
        const rows = await su<{ id: string }>(`SELECT id FROM "${names.schemaName}".cloaca_executions`);
        expect(rows.map((r) => r.id)).toEqual([out.id]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
