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
    // JSON objects split into rows by the server, not one JSON array: the planner estimates `unnest` of a
    // computed array at 10 rows (json_to_recordset at 100, which makes a scan of a table of a few thousand
    // rows look cheaper than looking the rows up by key). The objects are joined by the record separator
    // (U+001E), which JSON text never holds unescaped: a `json[]` parameter would be escaped element by
    // element, quote by quote. Decoding row by row costs more, so inserts use the plain form.
    keyedRows: (columns) =>
      `(SELECT r.* FROM unnest(string_to_array(?::text, chr(30))) AS j, json_to_record(j::json) AS r(${columnList(columns)})) AS v`,
    keyedRowsParam: (rows) => rows.map((r) => JSON.stringify(r)).join("\u001e"),
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
