/**
 * The backend matrix: every engine behaviour is tested against SQLite and PostgreSQL
 * from one suite. Wrap a test file's body in `forEachBackend((backend) => { ... })`
 * and get a fresh, isolated database per test with `await backend.newDatabase()`.
 *
 * - sqlite:   a fresh temp dir per database; url `sqlite:////abs/path/wf.db`
 *             (four slashes = absolute path; `sqlite:///x.db` would be relative).
 * - postgres: a fresh schema `t_<8 hex>_<pid>` on the test server (CLOACA_TEST_PG_URL,
 *             chosen by scripts/run-tests.mjs). The engine creates the schema;
 *             dispose() drops it.
 *
 * PostgreSQL is left out only when CLOACA_TEST_PG=skip (set by scripts/run-tests.mjs,
 * outside CI, when no server could be found or started).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pg from "pg";
import { describe } from "vitest";

export interface TestDatabase {
  /** Connection URL to hand to the engine. */
  url: string;
  /** PostgreSQL schema to use (undefined for SQLite). */
  schema: string | undefined;
  /** Removes everything this database created. Safe to call more than once. */
  dispose(): Promise<void>;
}

export interface TestBackend {
  name: "sqlite" | "postgres";
  newDatabase(): Promise<TestDatabase>;
}

const DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test";

const pgSkipped = process.env.CLOACA_TEST_PG === "skip";

/** The PostgreSQL server used by the tests, or undefined when PostgreSQL tests are skipped. */
export const pgUrl: string | undefined = pgSkipped
  ? undefined
  : process.env.CLOACA_TEST_PG_URL || DEFAULT_PG_URL;

export const sqliteBackend: TestBackend = {
  name: "sqlite",
  async newDatabase(): Promise<TestDatabase> {
    const dir = resolve(mkdtempSync(join(tmpdir(), "cloaca-test-")));
    const file = join(dir, "wf.db"); // absolute, starts with "/"
    return {
      url: `sqlite:///${file}`, // => sqlite:////tmp/cloaca-test-XXXX/wf.db
      schema: undefined,
      async dispose() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

export function postgresBackend(url: string): TestBackend {
  return {
    name: "postgres",
    async newDatabase(): Promise<TestDatabase> {
      const schema = `t_${randomBytes(4).toString("hex")}_${process.pid}`;
      let disposed = false;
      return {
        url,
        schema,
        async dispose() {
          if (disposed) return;
          disposed = true;
          const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
          await client.connect();
          try {
            await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          } finally {
            await client.end();
          }
        },
      };
    },
  };
}

export const backends: TestBackend[] = pgUrl
  ? [sqliteBackend, postgresBackend(pgUrl)]
  : [sqliteBackend];

/**
 * Runs `fn` once per backend inside `describe(backend.name, ...)`. When PostgreSQL is
 * skipped (outside CI only: scripts/run-tests.mjs refuses to skip in CI), its suite is still
 * registered as skipped, so the skipped tests show up in the counts instead of silently
 * vanishing. Its newDatabase() throws.
 */
export function forEachBackend(fn: (backend: TestBackend) => void): void {
  for (const backend of backends) {
    describe(backend.name, () => fn(backend));
  }
  if (!pgUrl) {
    describe.skipIf(pgSkipped)("postgres (SKIPPED: no PostgreSQL server, CLOACA_TEST_PG=skip)", () =>
      fn({
        name: "postgres",
        newDatabase: () => Promise.reject(new Error("PostgreSQL tests are skipped (CLOACA_TEST_PG=skip)")),
      }),
    );
  }
}

/** Runs one statement on the PostgreSQL test server (as its superuser) with a short-lived client. */
export async function pgQuery<R extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}
