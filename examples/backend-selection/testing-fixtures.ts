/**
 * Backend selection › Decision Matrix › For Testing, as vitest fixtures (`beforeEach` / `afterEach`
 * instead of pytest's `yield` fixtures). Call them inside a `describe` block:
 *
 * ```ts
 * describe("my workflows", () => {
 *   const runner = useTestRunner();
 *   it("runs", async () => {
 *     const result = await runner().execute("etl", {});
 *   });
 * });
 * ```
 */
import { afterEach, beforeEach } from "vitest";
import { DefaultRunner } from "../../src/index.js";

// In-memory for unit tests: every test gets a fresh, private database
export function useTestRunner(url = "sqlite:///:memory:"): () => DefaultRunner {
  let runner: DefaultRunner | undefined;
  beforeEach(async () => {
    // connect() (rather than `new`) fails the hook at once if the database is unreachable
    runner = await DefaultRunner.connect(url);
  });
  afterEach(async () => {
    await runner?.shutdown();
    runner = undefined;
  });
  return () => {
    if (!runner) throw new Error("useTestRunner: the runner only exists inside a test");
    return runner;
  };
}

// PostgreSQL for integration tests
export function useIntegrationRunner(url = "postgresql://test:test@localhost:5432/test_db"): () => DefaultRunner {
  return useTestRunner(url);
}
