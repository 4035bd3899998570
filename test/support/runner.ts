/** Opens engine runners on a test database and closes them after the test. */
import { afterEach } from "vitest";
import { DefaultRunner, type RunnerOptions } from "../../src/index.js";
import type { TestBackend, TestDatabase } from "./backends.js";

const open: Array<() => Promise<void>> = [];

afterEach(async () => {
  const closers = open.splice(0).reverse();
  for (const close of closers) await close();
});

/** A fresh database on `backend`, disposed after the test. */
export async function freshDatabase(backend: TestBackend): Promise<TestDatabase> {
  const db = await backend.newDatabase();
  open.push(() => db.dispose());
  return db;
}

/** A connected runner on `db` (in its schema on PostgreSQL), shut down after the test. */
export async function openRunner(db: TestDatabase, options: RunnerOptions = {}): Promise<DefaultRunner> {
  const runner =
    db.schema === undefined ? new DefaultRunner(db.url, options) : DefaultRunner.withSchema(db.url, db.schema, options);
  open.push(() => runner.shutdown({ timeoutMs: 5_000 }));
  await runner.ready();
  return runner;
}
