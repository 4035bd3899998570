/**
 * PostgreSQL plan checks: capture the statement the engine would send (instead of running it), then read
 * the generic plan the engine's connections would make for it.
 */
import pg from "pg";
import type { Queryable } from "../../src/store/store.js";
import { pgUrl } from "./backends.js";

/** The statement sent through a {@link capturing} queryable. */
export interface Captured {
  sql: string;
  params: readonly unknown[];
}

/** A queryable that records the last statement sent through it and answers `rows` without running it. */
export function capturing(rows: Record<string, unknown>[] = []): { q: Queryable; sent(): Captured } {
  let last: Captured | undefined;
  const record = (sql: string, params: readonly unknown[] | undefined) => void (last = { sql, params: params ?? [] });
  const q: Queryable = {
    query: async <R>(sql: string, params?: readonly unknown[]) => (record(sql, params), rows as R[]),
    run: async (sql: string, params?: readonly unknown[]) => (record(sql, params), 0),
  };
  return {
    q,
    sent() {
      if (!last) throw new Error("no statement was sent");
      return last;
    },
  };
}

const quote = (x: string) => `'${x.replace(/'/g, "''")}'`;

/** A parameter as an SQL literal (arrays as array literals). */
function literal(v: unknown): string {
  if (v === null || v === undefined) return "NULL";
  if (typeof v === "number") return String(v);
  if (Array.isArray(v)) return quote(`{${v.map((x) => `"${String(x).replace(/(["\\])/g, "\\$1")}"`).join(",")}}`);
  return quote(String(v));
}

/**
 * The generic plan of `statement` (`?` placeholders, as the engine writes them) with the engine's planner
 * settings (store/postgres/driver.ts), as `EXPLAIN EXECUTE` prints it.
 */
export async function genericPlan(statement: Captured): Promise<string> {
  let n = 0;
  const text = statement.sql.replace(/\?/g, () => `$${++n}`);
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  try {
    await client.query("SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off");
    await client.query(`PREPARE checked AS ${text}`);
    const rows = (await client.query<{ "QUERY PLAN": string }>(`EXPLAIN EXECUTE checked(${statement.params.map(literal).join(", ")})`)).rows;
    return rows.map((r) => r["QUERY PLAN"]).join("\n");
  } finally {
    await client.end();
  }
}
