/**
 * Backend selection › Performance Considerations.
 */
import { DefaultRunner } from "../../src/index.js";

// Optimized SQLite configuration for development
export const optimizedSqliteUrl =
  "sqlite:///workflows.db?" +
  "mode=rwc&" +
  "_journal_mode=WAL&" +
  "_synchronous=NORMAL&" + // fewer fsyncs than the default FULL: a power cut may lose the last commits
  "_busy_timeout=5000";

export function optimizedSqliteRunner(sqliteUrl = optimizedSqliteUrl): DefaultRunner {
  return new DefaultRunner(sqliteUrl);
}

// Optimized PostgreSQL configuration
export const optimizedPostgresUrl =
  "postgresql://user:pass@host:5432/cloacina?" +
  "pool_min_size=5&" +
  "pool_max_size=20&" +
  "pool_timeout=30"; // seconds to wait for a free pooled connection

export function optimizedPostgresRunner(pgUrl = optimizedPostgresUrl): DefaultRunner {
  return new DefaultRunner(pgUrl);
}
