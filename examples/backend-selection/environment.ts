/**
 * Backend selection › Environment-Based Configuration.
 */
import { DefaultRunner } from "../../src/index.js";

/** Create appropriate runner based on environment. */
export function createRunnerForEnvironment(env: NodeJS.ProcessEnv = process.env): DefaultRunner {
  const environment = env.ENVIRONMENT ?? "development";

  if (environment === "development") {
    // SQLite for local development
    return new DefaultRunner("sqlite:///dev_workflows.db");
  } else if (environment === "testing") {
    // In-memory SQLite for tests
    return new DefaultRunner("sqlite:///:memory:");
  } else if (environment === "staging" || environment === "production") {
    // PostgreSQL for deployed environments
    const databaseUrl = env.DATABASE_URL;
    if (!databaseUrl) {
      throw new Error(`DATABASE_URL required for ${environment} environment`);
    }
    return new DefaultRunner(databaseUrl);
  } else {
    throw new Error(`Unknown environment: ${environment}`);
  }
}

// Usage
// const runner = createRunnerForEnvironment();
