/**
 * Backend selection › SQLite Backend › Basic Usage.
 *
 * In your application: `import { DefaultRunner } from "cloaca";`
 * Relative SQLite URLs (`sqlite:///workflows.db`) are resolved against the working directory.
 */
import { DefaultRunner } from "../../src/index.js";

export function basicSqliteUsage(fileUrl = "sqlite:///workflows.db", memoryUrl = "sqlite:///:memory:") {
  // SQLite with file
  const runner = new DefaultRunner(fileUrl);

  // SQLite in-memory (testing)
  const memoryRunner = new DefaultRunner(memoryUrl);

  return { runner, memoryRunner };
}
