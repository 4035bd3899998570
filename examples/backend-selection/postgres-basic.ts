/**
 * Backend selection › PostgreSQL Backend › Basic Usage.
 */
import { DefaultRunner } from "../../src/index.js";

// Basic PostgreSQL connection
export function basicPostgres(url = "postgresql://user:password@localhost:5432/cloacina"): DefaultRunner {
  return new DefaultRunner(url);
}

// PostgreSQL with schema isolation: every engine table lives in `schema` (created on first use)
export function postgresWithSchema(
  url = "postgresql://user:password@localhost:5432/cloacina",
  schema = "tenant_schema",
): DefaultRunner {
  return DefaultRunner.withSchema(url, schema);
}
