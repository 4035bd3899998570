/** PostgreSQL's SQL fragments and store hooks for one schema. */
import { quoteIdent } from "../../database-url.js";
import type { StoreHooks } from "../sql-store.js";
import type { Dialect, Queryable, RowColumnType } from "../store.js";

/** The dialect for tables in `schema` (always schema-qualified; never relies on search_path). */
export function postgresDialect(schema: string): Dialect {
  return {
    capabilities: { skipLocked: true, listenNotify: true, schemas: true, writableCtes: true },
    prefix: `${quoteIdent(schema)}.`,
    nowMs: "(extract(epoch from clock_timestamp()) * 1000)::bigint",
    inList: (column) => `${column} = ANY(?)`,
    list: (values) => values,
    claimLock: "FOR UPDATE OF c SKIP LOCKED",
    rows: (columns) => `json_to_recordset(?::json) AS v(${columnList(columns)})`,
    rowsParam: (rows) => JSON.stringify(rows),
    // One JSON array, decoded once: a function scan keeps its rows, so a plan that joins them on the inner
    // side of a nested loop re-reads them instead of decoding again per outer row (decoding row by row,
    // `json_to_record` beside an `unnest`, did that: 32 × 32 decodes in a generic plan, 5 ms per batch).
    // The `LIMIT` (the row count) is the estimate: exact in a custom plan, 10 in a generic one; unfenced,
    // json_to_recordset counts as 100 rows, which makes a scan of a table of a few thousand rows look
    // cheaper than looking the rows up by key.
    keyedRows: (columns) => `(SELECT r.* FROM json_to_recordset(?::json) AS r(${columnList(columns)}) LIMIT ?) AS v`,
    keyedRowsParams: (rows) => [JSON.stringify(rows), rows.length],
    rowId: "ctid",
    // `OFFSET 0` keeps the subquery from being flattened into the join, so it stays a lookup per outer row.
    lookup: (join, table, alias, on) =>
      `${join === "left" ? "LEFT" : "CROSS"} JOIN LATERAL (SELECT ${alias}.ctid AS ctid, ${alias}.* FROM ${table} AS ${alias} ` +
      `WHERE ${on} OFFSET 0) AS ${alias}${join === "left" ? " ON true" : ""}`,
  };
}

/** `name type, …` for a column definition list. */
function columnList(columns: Readonly<Record<string, RowColumnType>>): string {
  return Object.entries(columns)
    .map(([name, type]) => `${name} ${type === "int" ? "bigint" : "text"}`)
    .join(", ");
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
