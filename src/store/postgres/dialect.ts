/** PostgreSQL's SQL fragments and store hooks for one schema. */
import { quoteIdent } from "../../database-url.js";
import type { StoreHooks } from "../sql-store.js";
import type { Dialect, Queryable } from "../store.js";

/** The dialect for tables in `schema` (always schema-qualified; never relies on search_path). */
export function postgresDialect(schema: string): Dialect {
  return {
    capabilities: { skipLocked: true, listenNotify: true, schemas: true, writableCtes: true, pipelining: true },
    prefix: `${quoteIdent(schema)}.`,
    nowMs: "(extract(epoch from clock_timestamp()) * 1000)::bigint",
    inList: (column) => `${column} = ANY(?)`,
    list: (values) => values,
    claimLock: "FOR UPDATE OF c SKIP LOCKED",
    // An array of JSON objects (each decoded once by json_to_record), not one JSON array: the planner
    // estimates `unnest` of a parameter at 10 rows (json_to_recordset at 100), so it joins the rows to the
    // tables through their primary keys instead of scanning the tables.
    rows: (columns) =>
      `(SELECT r.* FROM unnest(?::json[]) AS j, json_to_record(j) AS r(${Object.entries(columns)
        .map(([name, type]) => `${name} ${type === "int" ? "bigint" : "text"}`)
        .join(", ")})) AS v`,
    rowsParam: (rows) => rows.map((r) => JSON.stringify(r)),
  };
}

/** Migration lock + schema creation, and NOTIFY inside the transaction. */
export function postgresHooks(schema: string): StoreHooks {
  return {
    async beforeMigrate(tx: Queryable) {
      // Two processes starting at once must not both migrate: serialise on a per-schema advisory lock.
      await tx.query("SELECT pg_advisory_xact_lock(hashtext(?))", [`cloaca:migrate:${schema}`]);
      const [exists] = await tx.query("SELECT 1 AS one FROM pg_namespace WHERE nspname = ?", [schema]);
      if (!exists) await tx.run(`CREATE SCHEMA ${quoteIdent(schema)}`);
    },
    async notifyMany(tx: Queryable, channel: string, payloads: readonly string[]) {
      if (payloads.length === 1) await tx.query("SELECT pg_notify(?, ?)", [channel, payloads[0]]);
      else if (payloads.length) await tx.query("SELECT pg_notify(?, p) FROM unnest(?::text[]) AS p", [channel, payloads]);
    },
  };
}
