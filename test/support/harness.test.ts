/** Smoke test for the test harness itself: the backend matrix and the wait helpers. */
import { EventEmitter } from "node:events";
import { existsSync, statSync } from "node:fs";
import { dirname, isAbsolute } from "node:path";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { backends, forEachBackend, pgUrl } from "./backends.js";
import { once, until } from "./wait.js";

describe("backend matrix", () => {
  it("always includes sqlite, and postgres unless explicitly skipped", () => {
    const names = backends.map((b) => b.name);
    expect(names[0]).toBe("sqlite");
    if (process.env.CLOACA_TEST_PG === "skip") {
      expect(names).toEqual(["sqlite"]);
      expect(pgUrl).toBeUndefined();
    } else {
      expect(names).toEqual(["sqlite", "postgres"]);
      expect(pgUrl).toBeTruthy();
    }
  });
});

forEachBackend((backend) => {
  if (backend.name === "sqlite") {
    it("creates a fresh absolute sqlite:////… database and removes it on dispose", async () => {
      const db = await backend.newDatabase();
      const other = await backend.newDatabase();
      try {
        expect(db.schema).toBeUndefined();
        expect(db.url.startsWith("sqlite:////")).toBe(true);
        const path = db.url.slice("sqlite:///".length);
        expect(isAbsolute(path)).toBe(true);
        expect(statSync(dirname(path)).isDirectory()).toBe(true);
        expect(other.url).not.toBe(db.url);
        await db.dispose();
        expect(existsSync(dirname(path))).toBe(false);
      } finally {
        await db.dispose();
        await other.dispose();
      }
    });
  } else {
    it("reaches the server, and dispose drops the schema", async () => {
      const db = await backend.newDatabase();
      expect(db.schema).toMatch(new RegExp(`^t_[0-9a-f]{8}_${process.pid}$`));
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const one = await client.query("SELECT 1 AS one");
        expect(one.rows[0].one).toBe(1);
        // Stand in for the engine, which creates the schema itself.
        await client.query(`CREATE SCHEMA "${db.schema}"`);
        await db.dispose();
        const left = await client.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [db.schema]);
        expect(left.rowCount).toBe(0);
      } finally {
        await db.dispose();
        await client.end();
      }
    });
  }
});

describe("wait helpers", () => {
  it("once resolves with the event's first argument", async () => {
    const em = new EventEmitter();
    setTimeout(() => em.emit("done", 42, "ignored"), 5);
    await expect(once<number>(em, "done")).resolves.toBe(42);
  });

  it("once and until time out with a clear message", async () => {
    await expect(once(new EventEmitter(), "never", 30)).rejects.toThrow(/"never"/);
    await expect(until(() => false, { timeoutMs: 30, what: "the moon" })).rejects.toThrow(/the moon/);
  });
});
