/**
 * Backend selection › SQLite Backend › Configuration Options — three alternatives.
 *
 * Every parameter is honoured (and unknown ones are rejected). WAL, `mode=rwc` and a 5000 ms busy
 * timeout are already the defaults; writing them out is allowed and changes nothing.
 * Runners in one process on the same file share one connection, so their parameters must match
 * (see docs/database-urls.md).
 */
import { DefaultRunner } from "../../src/index.js";

// File-based SQLite with custom path (missing folders are created)
export function customPathRunner(url = "sqlite:///./data/workflows.db"): DefaultRunner {
  return new DefaultRunner(url);
}

// SQLite with WAL mode (better concurrency: readers never wait for the writer)
export function walRunner(url = "sqlite:///workflows.db?mode=rwc&_journal_mode=WAL"): DefaultRunner {
  return new DefaultRunner(url);
}

// SQLite with custom timeout (milliseconds to wait for a lock held by another connection)
export function busyTimeoutRunner(url = "sqlite:///workflows.db?_busy_timeout=5000"): DefaultRunner {
  return new DefaultRunner(url);
}
