/**
 * Backend selection › Migration from SQLite to PostgreSQL.
 */
import { DefaultRunner } from "../../src/index.js";

// Data migration. There is no data copy tool yet (`cloaca copy --from sqlite:///old.db --to postgresql://…`
// is coming with the CLI): re-run the workflows you need in the new environment.
export function setUpNewEnvironment(
  sqliteUrl = "sqlite:///old_workflows.db",
  pgUrl = "postgresql://user:pass@host/db",
) {
  // The old environment stays readable: listExecutions() / getExecution() on it
  const sqliteRunner = new DefaultRunner(sqliteUrl);

  // Set up new PostgreSQL environment
  const pgRunner = new DefaultRunner(pgUrl);

  return { sqliteRunner, pgRunner };
}

// Code changes required: only the URL. Workflows, tasks and every runner call stay the same.
export function codeChanges(
  sqliteUrl = "sqlite:///workflows.db",
  pgUrl = "postgresql://user:pass@host:5432/db",
  tenantSchema = "tenant_schema",
) {
  // Before (SQLite)
  const before = new DefaultRunner(sqliteUrl);

  // After (PostgreSQL)
  const after = new DefaultRunner(pgUrl);

  // Multi-tenant version
  const multiTenant = DefaultRunner.withSchema(pgUrl, tenantSchema);

  return { before, after, multiTenant };
}
