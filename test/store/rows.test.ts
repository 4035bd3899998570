/**
 * The dialects' row sets (store.ts, `Dialect.rows` / `keyedRows`): the engine's set-based statements read
 * any number of rows from one fragment. On SQLite a few rows are bound inline and more go as JSON
 * (src/store/sqlite/bound-rows.ts); whichever form runs, a statement reads the same rows and values.
 */
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { BoundRows, MAX_INLINE_ROWS, bindStatement, rowsFragment } from "../../src/store/sqlite/bound-rows.js";
import { sqliteDialect } from "../../src/store/sqlite/driver.js";
import type { Dialect, Driver } from "../../src/store/store.js";
import { forEachBackend } from "../support/backends.js";
import { withTable } from "../support/store.js";

const COLUMNS = { id: "int", s: "text", n: "int", big: "int" } as const;

/** Row k of a set: a text with quotes and non-ASCII, an absent or null or integer `n`, a millisecond time. */
function row(k: number): Record<string, unknown> {
  const r: Record<string, unknown> = { id: k, s: `it's "${k}" — ü`, big: 1_795_774_143_193 + k };
  if (k % 3 === 1) r.n = null;
  else if (k % 3 === 2) r.n = -k;
  return r; // k % 3 === 0: `n` absent
}

/** The rows read back through `d`'s fragment, minus the one whose `s` is `without` (a parameter after the fragment). */
async function readBack(driver: Driver, d: Dialect, rows: object[], keyed: boolean, without: string) {
  const from = keyed ? d.keyedRows(COLUMNS) : d.rows(COLUMNS);
  const params = keyed ? d.keyedRowsParams(rows) : [d.rowsParam(rows)];
  // A parameter on each side of the fragment: they keep their places whatever the fragment binds.
  const got = await driver.query<Record<string, unknown>>(
    `SELECT CAST(? AS TEXT) AS tag, v.id, v.s, v.n, v.big FROM ${from} WHERE v.s <> CAST(? AS TEXT) ORDER BY v.id`,
    ["b", ...params, without],
  );
  return got.map((r) => ({ tag: r.tag, id: Number(r.id), s: r.s, n: r.n === null ? null : Number(r.n), big: Number(r.big) }));
}

forEachBackend((backend) => {
  it("a row set reads back every row and value, whatever the number of rows", async () => {
    const { driver, dialect: d } = await withTable(backend);
    for (const count of [0, 1, 2, MAX_INLINE_ROWS, MAX_INLINE_ROWS + 1, 40]) {
      const rows = Array.from({ length: count }, (_, k) => row(k));
      const without = row(1).s as string;
      const want = rows
        .filter((r) => r.s !== without)
        .map((r) => ({ tag: "b", id: r.id, s: r.s, n: (r.n as number | undefined) ?? null, big: r.big }));
      expect(await readBack(driver, d, rows, false, without), `rows, ${count}`).toEqual(want);
      expect(await readBack(driver, d, rows, true, without), `keyed rows, ${count}`).toEqual(want);
    }
  });

  it("a row set writes its rows inside a transaction", async () => {
    const { driver, t, dialect: d } = await withTable(backend);
    for (const count of [1, 3, 30]) {
      const first = count * 100;
      const rows = Array.from({ length: count }, (_, k) => ({ id: first + k, s: `v${k}` }));
      await driver.transaction((tx) => tx.run(`INSERT INTO ${t} (id, v) SELECT id, s FROM ${d.rows({ id: "int", s: "text" })}`, [d.rowsParam(rows)]));
      const got = await driver.query<{ id: number; v: string }>(`SELECT id, v FROM ${t} WHERE id >= ? AND id < ? ORDER BY id`, [first, first + count]);
      expect(got.map((r) => [Number(r.id), r.v])).toEqual(rows.map((r) => [r.id, r.s]));
    }
  });
});

describe("SQLite: rows bound inline", () => {
  const db = new Database(":memory:");
  const run = (sql: string, params: unknown[]) => {
    const b = bindStatement(sql, params);
    return { sql: b.sql, rows: db.prepare(b.sql).all(...b.params) as Array<Record<string, unknown>> };
  };
  const types = `SELECT typeof(v.i) AS ti, v.i, typeof(v.f) AS tf, v.f, typeof(v.t) AS tt, v.t, typeof(v.b) AS tb, v.b, ` +
    `typeof(v.z) AS tz, v.z, typeof(v.o) AS tobj, v.o, typeof(v.d) AS td, v.d, typeof(v.nan) AS tnan, typeof(v.u) AS tu ` +
    `FROM ${rowsFragment({ i: "int", f: "int", t: "text", b: "int", z: "text", o: "text", d: "text", nan: "int", u: "text" })}`;
  const sample = { i: 7, f: 1.5, t: "12", b: true, z: null, o: { a: [1] }, d: new Date(0), nan: Number.NaN, u: undefined };

  it("reads each value as the JSON form reads it (integers as INTEGER, not REAL)", () => {
    const inline = run(types, [new BoundRows([sample])]);
    const json = run(types, [new BoundRows([sample, ...Array.from({ length: MAX_INLINE_ROWS }, () => sample)])]);
    expect(inline.sql).not.toContain("json_each");
    expect(json.sql).toContain("json_each");
    expect(inline.rows[0]).toEqual(json.rows[0]);
    expect(inline.rows[0]).toMatchObject({ ti: "integer", tf: "real", tt: "text", tb: "integer", b: 1, tz: "null", tobj: "text", o: '{"a":[1]}' });
    expect(inline.rows[0]).toMatchObject({ td: "text", d: "1970-01-01T00:00:00.000Z", tnan: "null", tu: "null" });
  });

  it("uses one text per row count up to the limit, and JSON beyond it or for no rows", () => {
    const sql = `SELECT v.i FROM ${rowsFragment({ i: "int" })}`;
    const texts = new Set<string>();
    for (let n = 1; n <= MAX_INLINE_ROWS; n++) {
      const r = run(sql, [new BoundRows(Array.from({ length: n }, (_, k) => ({ i: k })))]);
      expect(r.rows.map((x) => Number(x.i))).toEqual(Array.from({ length: n }, (_, k) => k));
      texts.add(r.sql);
    }
    expect(texts.size).toBe(MAX_INLINE_ROWS);
    expect(bindStatement(sql, [new BoundRows([])]).sql).toBe(sql);
    expect(bindStatement(sql, [new BoundRows(Array.from({ length: MAX_INLINE_ROWS + 1 }, () => ({ i: 1 })))]).sql).toBe(sql);
  });

  it("leaves statements without row sets alone, and list parameters (json_each of values) unchanged", () => {
    const list = `SELECT value FROM json_each(?) WHERE value > ?`;
    expect(bindStatement(list, ["[1,2,3]", 1])).toEqual({ sql: list, params: ["[1,2,3]", 1] });
    // A list beside a row set: the list's parameter stays a parameter, before and after the fragment.
    const both = `SELECT v.i FROM ${rowsFragment({ i: "int" })} WHERE ${sqliteDialect.inList("v.i")} ORDER BY v.i`;
    const rows = new BoundRows([{ i: "1" }, { i: "2" }, { i: "3" }]);
    expect(run(both, [rows, sqliteDialect.list(["1", "3"])]).rows.map((r) => Number(r.i))).toEqual([1, 3]);
  });

  it("refuses a statement whose row sets do not match its fragments", () => {
    const sql = `SELECT 1 FROM ${rowsFragment({ i: "int" })}`;
    expect(() => bindStatement(sql, [new BoundRows([{ i: 1 }]), new BoundRows([{ i: 2 }])])).toThrow(/1 rows fragment\(s\) but 2/);
    expect(() => bindStatement("SELECT ?", [new BoundRows([{ i: 1 }])])).toThrow(/0 rows fragment/);
  });
});
