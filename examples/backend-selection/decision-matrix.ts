/**
 * Backend selection › Decision Matrix › For Development / For Production.
 * (For Testing is in ./testing-fixtures.ts.)
 */
import { DefaultRunner } from "../../src/index.js";

// Simple development setup
export function developmentRunner(environment: string, url = "sqlite:///dev_workflows.db"): DefaultRunner | undefined {
  if (environment === "development") {
    return new DefaultRunner(url);
  }
  return undefined;
}

// Production PostgreSQL setup
export function createProductionRunner(env: NodeJS.ProcessEnv = process.env): DefaultRunner {
  const databaseUrl = env.DATABASE_URL;
  if (!databaseUrl) {
    throw new Error("DATABASE_URL environment variable required");
  }

  return new DefaultRunner(databaseUrl);
}
