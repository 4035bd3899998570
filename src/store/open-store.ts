/** Opens the store a database URL points at. */
import type { DatabaseTarget } from "../database-url.js";
import type { Logger } from "../types.js";
import { postgresMigrations, sqliteMigrations } from "./migrations.js";
import { postgresDialect, postgresHooks } from "./postgres/dialect.js";
import type { PostgresListener } from "./postgres/listener.js";
import { SharedPostgresDriver } from "./postgres/shared-connections.js";
import { SqlStore } from "./sql-store.js";
import { openSqliteDriver, sqliteDialect } from "./sqlite/driver.js";

/** An open store plus its (optional) cross-process notification channel. */
export interface OpenedStore {
  readonly store: SqlStore;
  /** The schema the engine tables live in (PostgreSQL), if any. */
  readonly schema: string | undefined;
  /** Starts receiving notifications from other processes; resolves when listening (no-op without LISTEN/NOTIFY). */
  listen(onPayload: (payload: string) => void, onReconnect: () => void): Promise<void>;
  /** The listener, for tests that drop its connection. */
  readonly listener: PostgresListener | undefined;
  /** How many runners of this process share these connections now, this one included. */
  sharedBy(): number;
  /** Closes the listener and the connections. */
  close(): Promise<void>;
}

/** Options for {@link openStore}. */
export interface OpenStoreOptions {
  readonly schema: string | undefined;
  readonly poolSize: number;
  readonly logger: Logger;
}

const NO_HOOKS = { beforeMigrate: async () => undefined, notifyMany: async () => undefined };

/** Connects (proving the connection) and returns the store; does not migrate. */
export async function openStore(target: DatabaseTarget, options: OpenStoreOptions): Promise<OpenedStore> {
  if (target.kind === "sqlite") {
    const store = new SqlStore(openSqliteDriver(target), sqliteDialect, sqliteMigrations, NO_HOOKS);
    return {
      store,
      schema: undefined,
      listener: undefined,
      // One connection per file and process, but one writer whatever: nothing here depends on sharing.
      sharedBy: () => 1,
      listen: async () => undefined,
      close: () => store.close(),
    };
  }
  const schema = options.schema ?? target.searchPath ?? "public";
  const driver = await SharedPostgresDriver.acquire(target, options.poolSize, options.logger);
  const store = new SqlStore(driver, postgresDialect(schema), postgresMigrations, postgresHooks(schema));
  let unsubscribe: (() => Promise<void>) | undefined;
  return {
    store,
    schema,
    get listener() {
      return unsubscribe ? driver.listener() : undefined;
    },
    sharedBy: () => driver.sharedBy,
    async listen(onPayload, onReconnect) {
      unsubscribe = await driver.listener().subscribe(await store.channel(), { onPayload, onReconnect });
    },
    async close() {
      await unsubscribe?.();
      await store.close();
    },
  };
}
