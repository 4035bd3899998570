/**
 * Backend selection › PostgreSQL Backend › Multi-Tenant Setup — tenants on one shared login.
 *
 * The reference page provisions tenants with `DatabaseAdmin` / `TenantConfig` (a role, a schema and a
 * connection string per tenant): that example is in README.md and runs as written in
 * test/tenancy/readme-example.test.ts. This module shows the other way: one runner per tenant with
 * `DefaultRunner.withSchema(url, schema)`, all tenants' tables in separate schemas of one database, on one
 * login (see docs/multi-tenancy.md for the differences).
 */
import { DefaultRunner } from "../../src/index.js";

export function tenantRunners(
  url = "postgresql://admin:admin@localhost:5432/cloacina",
  tenants: readonly string[] = ["tenant_acme", "tenant_globex"],
): Map<string, DefaultRunner> {
  const runners = new Map<string, DefaultRunner>();
  for (const schema of tenants) {
    // Use tenant-specific runner: its executions are invisible to every other tenant
    runners.set(schema, DefaultRunner.withSchema(url, schema));
  }
  return runners;
}
