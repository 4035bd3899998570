/**
 * How SQLite statements take a set of rows ({@link Dialect.rows}): the statement text holds a derived table
 * read from one JSON parameter (`json_each`), so one text serves any number of rows; when a statement runs
 * with few rows, the driver binds them inline instead (`SELECT ? AS a, …` for one row, `VALUES` for a few),
 * in a text derived once per row count. Decoding the JSON costs more than the statement's own work when the
 * rows are few: in a replay of a 3-task chain's statements, the three-row task insert took 64 µs through
 * `json_each` and 31 µs inline (docs/benchmarks.md, "What changed in session 11").
 *
 * The dialect binds a fragment's rows as a {@link BoundRows}; the driver hands every statement and its
 * parameters to {@link bindStatement}, which picks the text and flattens the parameters.
 */
import type { RowColumnType } from "../store.js";

/** The rows bound to one rows fragment (keys are column names; absent or undefined = NULL). */
export class BoundRows {
  constructor(readonly rows: readonly object[]) {}
}

/** At most this many rows of a fragment are bound inline; more go as JSON (one text for any number). */
export const MAX_INLINE_ROWS = 16;

/** The fragment: a derived table `AS v` read from one JSON parameter. Its exact form is parsed back below. */
export function rowsFragment(columns: Readonly<Record<string, RowColumnType>>): string {
  const names = Object.keys(columns);
  for (const name of names) if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`rows fragment: bad column name ${name}`);
  return jsonFragment(names);
}

function jsonFragment(columns: readonly string[]): string {
  return `(SELECT ${columns.map((c) => `value ->> '${c}' AS ${c}`).join(", ")} FROM json_each(?)) AS v`;
}

const FRAGMENT = /\(SELECT ((?:value ->> '[a-z0-9_]+' AS [a-z0-9_]+, )*value ->> '[a-z0-9_]+' AS [a-z0-9_]+) FROM json_each\(\?\)\) AS v/g;

/** A statement text cut at its rows fragments, with each fragment's columns. */
interface Plan {
  /** The text around the fragments (one more than fragments). */
  readonly parts: readonly string[];
  readonly columns: ReadonlyArray<readonly string[]>;
  /** Texts by row counts (counts above {@link MAX_INLINE_ROWS} read as JSON): "1", "3,json", … */
  readonly texts: Map<string, string>;
}

const plans = new Map<string, Plan>();

function planOf(sql: string): Plan {
  let plan = plans.get(sql);
  if (!plan) {
    const parts: string[] = [];
    const columns: string[][] = [];
    let last = 0;
    for (const m of sql.matchAll(FRAGMENT)) {
      parts.push(sql.slice(last, m.index));
      columns.push([...m[1]!.matchAll(/ AS ([a-z0-9_]+)/g)].map((c) => c[1]!));
      last = m.index! + m[0].length;
    }
    parts.push(sql.slice(last));
    plans.set(sql, (plan = { parts, columns, texts: new Map() }));
  }
  return plan;
}

const inline = (n: number): boolean => n >= 1 && n <= MAX_INLINE_ROWS;

/** The fragment for `n` rows bound inline. */
function inlineFragment(columns: readonly string[], n: number): string {
  if (n === 1) return `(SELECT ${columns.map((c) => `? AS ${c}`).join(", ")}) AS v`;
  const row = `(${columns.map(() => "?").join(",")})`;
  return `(SELECT ${columns.map((c, i) => `column${i + 1} AS ${c}`).join(", ")} FROM (VALUES ${Array(n).fill(row).join(",")})) AS v`;
}

/**
 * A JavaScript value as the JSON form reads it (`value ->> 'c'` of the value's JSON): integers as INTEGER (a
 * JS number binds as REAL), booleans as 1/0, what JSON has no value for (undefined, NaN, functions) as NULL,
 * objects and arrays as their JSON text, and anything with a `toJSON` (a Date) as what that gives.
 */
function scalar(v: unknown): unknown {
  switch (typeof v) {
    case "string":
    case "bigint":
      return v;
    case "number":
      return Number.isSafeInteger(v) ? BigInt(v) : Number.isFinite(v) ? v : null;
    case "boolean":
      return v ? 1n : 0n;
    case "object": {
      if (v === null) return null;
      const json = JSON.stringify(v);
      const back: unknown = JSON.parse(json);
      return typeof back === "object" && back !== null ? json : scalar(back);
    }
    default:
      return null;
  }
}

/**
 * The text to run and its parameters, for a statement whose parameters may hold {@link BoundRows} (one per
 * rows fragment, in order). Other parameters are passed through as they are.
 */
export function bindStatement(sql: string, params: readonly unknown[]): { sql: string; params: unknown[] } {
  let bound = 0;
  for (const p of params) if (p instanceof BoundRows) bound++;
  if (bound === 0) return { sql, params: params as unknown[] };
  const plan = planOf(sql);
  if (plan.columns.length !== bound) {
    throw new Error(`statement has ${plan.columns.length} rows fragment(s) but ${bound} bound row set(s): ${sql.slice(0, 80)}`);
  }
  const counts: number[] = [];
  const out: unknown[] = [];
  for (const p of params) {
    if (!(p instanceof BoundRows)) {
      out.push(p);
      continue;
    }
    const columns = plan.columns[counts.length]!;
    counts.push(p.rows.length);
    if (!inline(p.rows.length)) {
      out.push(JSON.stringify(p.rows));
      continue;
    }
    for (const row of p.rows) for (const c of columns) out.push(scalar((row as Record<string, unknown>)[c]));
  }
  const key = counts.map((n) => (inline(n) ? String(n) : "json")).join(",");
  let text = plan.texts.get(key);
  if (text === undefined) {
    text = plan.parts[0]!;
    counts.forEach((n, i) => {
      const columns = plan.columns[i]!;
      text += (inline(n) ? inlineFragment(columns, n) : jsonFragment(columns)) + plan.parts[i + 1]!;
    });
    plan.texts.set(key, text);
  }
  return { sql: text, params: out };
}
