/**
 * Backend selection › Troubleshooting.
 *
 * `new DefaultRunner(url)` connects in the background, so a connection problem does not throw from the
 * constructor: it rejects `await runner.ready()`. `await DefaultRunner.connect(url)` does both in one step
 * and throws a `DatabaseConnectionError` whose message contains one of the plain phrases checked below.
 */
import { DefaultRunner } from "../../src/index.js";

// SQLite issues: handle locked database
export async function handleLockedDatabase(
  url = "sqlite:///workflows.db",
  walUrl = "sqlite:///workflows.db?_journal_mode=WAL",
): Promise<DefaultRunner> {
  try {
    return await DefaultRunner.connect(url);
  } catch (e) {
    if (String(e).includes("database is locked")) {
      console.log("Database locked - check for other processes");
      // Try with WAL mode (cloaca's default already; the retry also waits for the lock again)
      return await DefaultRunner.connect(walUrl);
    }
    throw e;
  }
}

// PostgreSQL issues: handle connection issues
export async function handleConnectionIssues(
  url = "postgresql://user:pass@host:5432/db",
): Promise<DefaultRunner | undefined> {
  try {
    return await DefaultRunner.connect(url);
  } catch (e) {
    if (String(e).includes("connection refused")) {
      console.log("PostgreSQL server not running");
    } else if (String(e).includes("authentication failed")) {
      console.log("Check username/password");
    } else if (String(e).includes("database does not exist")) {
      console.log("Database needs to be created");
    } else {
      throw e;
    }
    return undefined;
  }
}
