/** Opens engine stores on a test database (driver-level tests) and closes them after the test. */
import { afterEach } from "vitest";
import { parseDatabaseUrl, quoteIdent } from "../../src/database-url.js";
import { openStore, type OpenedStore } from "../../src/store/open-store.js";
import type { Dialect, Driver } from "../../src/store/store.js";
import type { TestBackend } from "./backends.js";
import { freshDatabase } from "./runner.js";

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const open: OpenedStore[] = [];

afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

/**
 * A store's driver on a fresh database with an empty table `t` (id primary key, v), the table's name and the
 * store's dialect; the store is closed after the test.
 */
export async function withTable(backend: TestBackend, poolSize = 2): Promise<{ driver: Driver; t: string; dialect: Dialect }> {
  const db = await freshDatabase(backend);
  const opened = await openStore(parseDatabaseUrl(db.url), { schema: db.schema, poolSize, logger: silent });
  open.push(opened);
  const driver = opened.store.driver;
  const t = db.schema ? `${quoteIdent(db.schema)}.t` : "t";
  if (db.schema) await driver.run(`CREATE SCHEMA ${quoteIdent(db.schema)}`);
  await driver.run(`CREATE TABLE ${t} (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`);
  return { driver, t, dialect: opened.store.dialect };
}
