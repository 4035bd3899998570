/**
 * Backend selection › PostgreSQL Backend › Multi-Tenant Setup — the part that works today.
 *
 * The reference page provisions tenants with `DatabaseAdmin` / `TenantConfig` (a role, a schema, grants
 * and a connection string per tenant). That admin API is COMING in the multi-tenancy release; it is not
 * in cloaca yet. What works today is schema isolation: one runner per tenant with
 * `DefaultRunner.withSchema(url, schema)`, all tenants' tables in separate schemas of one database.
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
