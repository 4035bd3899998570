/**
 * Every connection-URL parameter of SPEC §2.6 is honoured, verified in the database itself: SQLite PRAGMAs
 * on the runner's own connection, files on disk, PostgreSQL's pg_stat_activity / pg_stat_ssl /
 * information_schema. Unknown parameters are a ConfigurationError that lists what is accepted.
 *
 * `runner.storeForTests` (an @internal hook) reaches the runner's own connection: busy_timeout and
 * synchronous are per-connection settings that no other connection can see. The driver waits for other
 * connections' locks itself, asynchronously, for `_busy_timeout` (SQLite's own, thread-blocking busy wait is
 * off: its pragma reads 0); test/scale/sqlite-processes.test.ts holds real locks against it.
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import Database from "better-sqlite3";
import pg from "pg";
import { afterEach, expect, it } from "vitest";
import {
  CloacaError,
  ConfigurationError,
  DatabaseConnectionError,
  DefaultRunner,
  ExecutionNotFoundError,
  WorkflowBuilder,
  type RunnerOptions,
} from "../../src/index.js";
import { forEachBackend, pgUrl, type TestDatabase } from "../support/backends.js";
import { freshDatabase } from "../support/runner.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** Connects a runner (shut down after the test). */
async function connect(url: string, options: RunnerOptions = {}, schema?: string): Promise<DefaultRunner> {
  const runner = schema === undefined ? new DefaultRunner(url, options) : DefaultRunner.withSchema(url, schema, options);
  cleanups.push(() => runner.shutdown({ timeoutMs: 5_000 }));
  await runner.ready();
  return runner;
}

let seq = 0;
/** A small workflow registered on `runner`; returns its name. */
function smallWorkflow(runner: DefaultRunner): string {
  const name = `url-params-${process.pid}-${++seq}`;
  runner.register(
    new WorkflowBuilder(name)
      .task("a", (ctx) => ctx.set("a", 1))
      .task("b", { dependencies: ["a"] }, (ctx) => ctx.set("b", ctx.get<number>("a")! + 1))
      .build({ register: false }),
  );
  return name;
}

async function runsEndToEnd(runner: DefaultRunner): Promise<string> {
  const result = await runner.execute(smallWorkflow(runner));
  expect(result.status).toBe("Completed");
  expect(result.finalContext.get("b")).toBe(2);
  return result.executionId;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "cloaca-url-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

forEachBackend((backend) => {
  if (backend.name === "sqlite") {
    /** The runner's SQLite connection (shared by the runners of this process on the same file). */
    const sqlite = (runner: DefaultRunner) => runner.storeForTests.driver as unknown as { pragma(name: string): unknown; busyTimeoutMs: number };
    const pathOf = (db: TestDatabase) => db.url.slice("sqlite:///".length);

    it("defaults: WAL, busy_timeout 5000, synchronous FULL", async () => {
      const db = await freshDatabase(backend);
      const runner = await connect(db.url);
      expect(sqlite(runner).pragma("journal_mode")).toBe("wal");
      expect(sqlite(runner).busyTimeoutMs).toBe(5000);
      expect(sqlite(runner).pragma("busy_timeout")).toBe(0); // the driver waits, asynchronously
      expect(sqlite(runner).pragma("synchronous")).toBe(2);
      await runsEndToEnd(runner);
      // WAL is a property of the file: another connection sees it too, and the -wal file exists.
      const other = new Database(pathOf(db), { readonly: true });
      expect(other.pragma("journal_mode", { simple: true })).toBe("wal");
      other.close();
      expect(existsSync(`${pathOf(db)}-wal`)).toBe(true);
    });

    for (const mode of ["WAL", "DELETE", "TRUNCATE", "PERSIST", "MEMORY", "OFF", "delete"]) {
      it(`_journal_mode=${mode} is the journal mode in force`, async () => {
        const db = await freshDatabase(backend);
        const runner = await connect(`${db.url}?_journal_mode=${mode}`);
        expect(sqlite(runner).pragma("journal_mode")).toBe(mode.toLowerCase());
        await runsEndToEnd(runner);
        // Only WAL leaves a -wal file beside the database.
        expect(existsSync(`${pathOf(db)}-wal`)).toBe(mode === "WAL");
      });
    }

    it("_busy_timeout=<ms> is how long the connection waits for a lock (the driver's asynchronous wait; SQLite's own is off)", async () => {
      for (const ms of [0, 100, 1234, 60000]) {
        const db = await freshDatabase(backend);
        const runner = await connect(`${db.url}?_busy_timeout=${ms}`);
        expect(sqlite(runner).busyTimeoutMs).toBe(ms);
        expect(sqlite(runner).pragma("busy_timeout")).toBe(0);
      }
    });

    it("_synchronous=OFF|NORMAL|FULL|EXTRA (or 0–3, any case) is the connection's synchronous level", async () => {
      const cases: Array<[string, number]> = [
        ["OFF", 0],
        ["NORMAL", 1],
        ["FULL", 2],
        ["EXTRA", 3],
        ["0", 0],
        ["1", 1],
        ["2", 2],
        ["3", 3],
        ["normal", 1],
      ];
      for (const [value, level] of cases) {
        const db = await freshDatabase(backend);
        const runner = await connect(`${db.url}?_synchronous=${value}`);
        expect(sqlite(runner).pragma("synchronous"), `_synchronous=${value}`).toBe(level);
      }
    });

    it("all SQLite parameters together", async () => {
      const db = await freshDatabase(backend);
      const runner = await connect(`${db.url}?mode=rwc&_journal_mode=TRUNCATE&_busy_timeout=777&_synchronous=NORMAL`);
      expect(sqlite(runner).pragma("journal_mode")).toBe("truncate");
      expect(sqlite(runner).busyTimeoutMs).toBe(777);
      expect(sqlite(runner).pragma("synchronous")).toBe(1);
      await runsEndToEnd(runner);
    });

    it("mode=ro opens the file read-only: the runner's first write fails and the file is unchanged", async () => {
      const db = await freshDatabase(backend);
      const first = await connect(db.url);
      const executionId = await runsEndToEnd(first);
      await first.shutdown();
      const hash = () => createHash("sha256").update(readFileSync(pathOf(db))).digest("hex");
      const before = hash();

      const err = await rejection(DefaultRunner.connect(`${db.url}?mode=ro`));
      expect(err).toBeInstanceOf(CloacaError);
      expect(String(err)).toMatch(/read-only/);
      expect(String(err)).not.toMatch(/unable to open/); // it opened; it could not write

      expect(hash()).toBe(before);
      const check = new Database(pathOf(db), { readonly: true });
      expect(check.prepare("SELECT id, status FROM cloaca_executions").all()).toEqual([{ id: executionId, status: "Completed" }]);
      expect(check.prepare("SELECT count(*) AS n FROM cloaca_runners").get()).toEqual({ n: 0 });
      check.close();
    });

    it("mode=ro and mode=rw never create a missing file (or its folder); mode=rwc does", async () => {
      const dir = tempDir();
      for (const mode of ["ro", "rw"]) {
        for (const rel of [`missing-${mode}.db`, `no-such-folder-${mode}/x.db`]) {
          const err = await rejection(DefaultRunner.connect(`sqlite:///${join(dir, rel)}?mode=${mode}`));
          expect(err, `mode=${mode} ${rel}`).toBeInstanceOf(DatabaseConnectionError);
          expect(String(err)).toContain("unable to open database file");
        }
      }
      expect(readdirSync(dir)).toEqual([]);
      const runner = await connect(`sqlite:///${join(dir, "made/here.db")}?mode=rwc`);
      await runsEndToEnd(runner);
      expect(existsSync(join(dir, "made", "here.db"))).toBe(true);
    });

    it("mode=rw opens an existing file read-write", async () => {
      const db = await freshDatabase(backend);
      const first = await connect(db.url);
      const earlier = await runsEndToEnd(first);
      await first.shutdown();
      const runner = await connect(`${db.url}?mode=rw`);
      const later = await runsEndToEnd(runner);
      expect((await runner.getExecution(earlier)).status).toBe("Completed");
      expect(later).not.toBe(earlier);
    });

    it("relative paths are relative to the working directory, and missing parent folders are created", async () => {
      const cwd = tempDir();
      // A child process, so this process's working directory is left alone.
      const script = `
        process.chdir(${JSON.stringify(cwd)});
        const { DefaultRunner, WorkflowBuilder } = await import(${JSON.stringify(pathToFileURL(join(ROOT, "src/index.ts")).href)});
        const wf = new WorkflowBuilder("rel").task("t", (ctx) => ctx.set("ok", true)).build({ register: false });
        const out = [];
        for (const url of ["sqlite:///./rel/dir/x.db", "sqlite:///deeper/still/y.db", "sqlite:///plain.db", "sqlite://two-slashes.db"]) {
          const runner = await DefaultRunner.connect(url, { workflows: [wf] });
          const result = await runner.execute("rel");
          out.push({ url, display: runner.databaseUrl, status: result.status });
          await runner.shutdown();
        }
        console.log(JSON.stringify(out));
      `;
      const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: ROOT });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      const code = await new Promise<number | null>((res) => child.once("exit", (c) => res(c)));
      expect(code, stderr).toBe(0);
      const out = JSON.parse(stdout.trim().split("\n").pop()!) as Array<{ url: string; display: string; status: string }>;
      expect(out.map((o) => o.status)).toEqual(["Completed", "Completed", "Completed", "Completed"]);
      const files = ["rel/dir/x.db", "deeper/still/y.db", "plain.db", "two-slashes.db"];
      expect(out.map((o) => o.display)).toEqual(files.map((f) => `sqlite:///${join(cwd, f)}`));
      for (const f of files) {
        const conn = new Database(join(cwd, f), { readonly: true });
        expect(conn.prepare("SELECT status FROM cloaca_executions").all(), f).toEqual([{ status: "Completed" }]);
        conn.close();
      }
    });

    it("sqlite:///:memory: and sqlite://:memory: work end to end, privately, without touching the disk", async () => {
      const cwdBefore = readdirSync(process.cwd()).sort();
      const a = await connect("sqlite:///:memory:");
      const b = await connect("sqlite://:memory:");
      expect(sqlite(a).pragma("journal_mode")).toBe("memory");
      expect(sqlite(a).pragma("synchronous")).toBe(2);
      const id = await runsEndToEnd(a);
      await runsEndToEnd(b);
      // Each runner has its own database.
      await expect(b.getExecution(id)).rejects.toBeInstanceOf(ExecutionNotFoundError);
      expect((await a.listExecutions()).map((e) => e.executionId)).toEqual([id]);
      expect(readdirSync(process.cwd()).sort()).toEqual(cwdBefore);
      // WAL cannot be used in memory: refused instead of silently ignored.
      expect(() => new DefaultRunner("sqlite:///:memory:?_journal_mode=WAL")).toThrow(ConfigurationError);
      const off = await connect("sqlite:///:memory:?_journal_mode=OFF&_synchronous=OFF");
      expect(sqlite(off).pragma("journal_mode")).toBe("off");
      expect(sqlite(off).pragma("synchronous")).toBe(0);
    });

    it("unknown parameters are a ConfigurationError listing the accepted ones", async () => {
      const db = await freshDatabase(backend);
      for (const bad of ["cache=shared", "journal_mode=WAL", "foo=1"]) {
        let err: unknown;
        try {
          new DefaultRunner(`${db.url}?${bad}`);
        } catch (e) {
          err = e;
        }
        expect(err, bad).toBeInstanceOf(ConfigurationError);
        for (const accepted of ["mode=", "_journal_mode=", "_busy_timeout=", "_synchronous="]) expect(String(err)).toContain(accepted);
        await expect(DefaultRunner.connect(`${db.url}?${bad}`)).rejects.toBeInstanceOf(ConfigurationError);
      }
    });
  } else {
    /** The runner's PostgreSQL pool, behind the store's driver interface. */
    const postgres = (runner: DefaultRunner) => runner.storeForTests.driver;
    /** `db.url` plus parameters. */
    const withParams = (db: TestDatabase, params: string) => `${db.url}${db.url.includes("?") ? "&" : "?"}${params}`;
    const appName = () => `cloaca-url-${randomBytes(4).toString("hex")}`;

    let admin: pg.Client | undefined;
    async function sql<R extends Record<string, unknown>>(text: string, values: unknown[] = []): Promise<R[]> {
      if (!admin) {
        admin = new pg.Client({ connectionString: pgUrl });
        await admin.connect();
        cleanups.push(async () => {
          await admin?.end();
          admin = undefined;
        });
      }
      return (await admin.query(text, values)).rows as R[];
    }
    /** Pooled connections of an application (its LISTEN connection left out). */
    async function pooled(name: string): Promise<number> {
      const [row] = await sql<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND query NOT LIKE 'LISTEN %'",
        [name],
      );
      return row!.n;
    }

    it("application_name names every connection of the runner in pg_stat_activity", async () => {
      const db = await freshDatabase(backend);
      const name = appName();
      const runner = await connect(withParams(db, `application_name=${name}`), {}, db.schema);
      await runsEndToEnd(runner);
      const rows = await sql<{ query: string }>("SELECT query FROM pg_stat_activity WHERE application_name = $1", [name]);
      expect(rows.some((r) => r.query.startsWith("LISTEN "))).toBe(true); // the notification connection
      expect(rows.some((r) => !r.query.startsWith("LISTEN "))).toBe(true); // pooled connections
      const [own] = await postgres(runner).query<{ name: string }>("SELECT current_setting('application_name') AS name");
      expect(own!.name).toBe(name);
    });

    it("pool_max_size bounds the pool: the connections reach it and never exceed it", async () => {
      const db = await freshDatabase(backend);
      const name = appName();
      const max = 3;
      const runner = await connect(withParams(db, `application_name=${name}&pool_max_size=${max}`), {}, db.schema);
      let seen = 0;
      let monitoring = true;
      const monitor = (async () => {
        while (monitoring) seen = Math.max(seen, await pooled(name));
      })();
      // Four times as many concurrent queries as the pool may hold, each holding its connection a moment.
      const rows = await Promise.all(
        Array.from({ length: 4 * max }, () =>
          postgres(runner).query<{ pid: number }>("SELECT pg_backend_pid() AS pid, pg_sleep(0.15)"),
        ),
      );
      monitoring = false;
      await monitor;
      const backends = new Set(rows.map((r) => r[0]!.pid));
      expect(backends.size).toBe(max);
      expect(seen).toBeLessThanOrEqual(max);
      expect(await pooled(name)).toBe(max); // idle now, still open (idle timeout 30 s)
      await runsEndToEnd(runner);
      expect(await pooled(name)).toBeLessThanOrEqual(max);
    });

    it("pool_min_size connections are open as soon as the runner is ready", async () => {
      const db = await freshDatabase(backend);
      const name = appName();
      const runner = await connect(withParams(db, `application_name=${name}&pool_min_size=4&pool_max_size=6`), {}, db.schema);
      // pg 8 / pg-pool 3 only keep `min` idle connections from being closed and never open them ahead of
      // demand; the driver opens them at start, so they exist before any concurrent work.
      expect(await pooled(name)).toBeGreaterThanOrEqual(4);
      expect(await pooled(name)).toBeLessThanOrEqual(6);
      await runsEndToEnd(runner);
      expect(await pooled(name)).toBeGreaterThanOrEqual(4);
    });

    it("pool_timeout bounds the wait for a free pooled connection", async () => {
      const db = await freshDatabase(backend);
      const runner = await connect(withParams(db, "pool_max_size=1&pool_timeout=0.3"), {}, db.schema);
      const holder = postgres(runner).query("SELECT pg_sleep(3)"); // takes the only connection for 3 s
      const err = await rejection(postgres(runner).query("SELECT 1"));
      expect(err).toBeInstanceOf(DatabaseConnectionError);
      expect(String(err)).toContain("timeout");
      await holder;
    });

    it("connect_timeout bounds one connection attempt", async () => {
      const sockets = new Set<net.Socket>();
      const server = net.createServer((s) => {
        sockets.add(s);
        s.on("error", () => undefined);
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      cleanups.push(() => new Promise<void>((r) => (sockets.forEach((s) => s.destroy()), server.close(() => r()))));
      const port = (server.address() as net.AddressInfo).port;
      // pool_timeout is far longer, so only connect_timeout can end the attempt in time.
      const started = Date.now();
      const err = await rejection(DefaultRunner.connect(`postgresql://u@127.0.0.1:${port}/db?connect_timeout=1&pool_timeout=120`));
      const elapsed = Date.now() - started;
      expect(err).toBeInstanceOf(DatabaseConnectionError);
      expect(String(err)).toContain("timeout");
      // A behaviour bound, not a performance figure: it waited about 1 s, far less than pool_timeout or the 30 s default.
      expect(elapsed).toBeGreaterThanOrEqual(900);
      expect(elapsed).toBeLessThan(15_000);
    });

    it("options=-c search_path=<schema> puts the engine tables in that schema", async () => {
      const db = await freshDatabase(backend); // its schema is dropped after the test
      const schema = db.schema!;
      const runner = await connect(withParams(db, `options=${encodeURIComponent(`-c search_path=${schema}`)}`));
      const id = await runsEndToEnd(runner);
      const tables = await sql<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
        [schema],
      );
      expect(tables.map((t) => t.table_name)).toEqual(
        expect.arrayContaining(["cloaca_events", "cloaca_executions", "cloaca_migrations", "cloaca_runners", "cloaca_tasks"]),
      );
      expect(await sql(`SELECT status FROM "${schema}".cloaca_executions WHERE id = $1`, [id])).toEqual([{ status: "Completed" }]);
      const [path] = await postgres(runner).query<{ search_path: string }>("SHOW search_path");
      expect(path!.search_path).toBe(schema);
    });

    it("pooled connections plan without sequential scans, with generic plans and without JIT, unless options= sets the setting", async () => {
      const db = await freshDatabase(backend);
      const settings =
        "SELECT current_setting('enable_seqscan') AS seqscan, current_setting('plan_cache_mode') AS plans, current_setting('jit') AS jit, pg_sleep(0.05)";
      type Seen = { seqscan: string; plans: string; jit: string };
      const runner = await connect(db.url, {}, db.schema);
      await runsEndToEnd(runner);
      // Several at once, so they run on several pooled connections.
      const seen = await Promise.all(Array.from({ length: 4 }, () => postgres(runner).query<Seen>(settings)));
      expect(new Set(seen.map(([r]) => `${r!.seqscan} ${r!.plans} ${r!.jit}`))).toEqual(new Set(["off force_generic_plan off"]));
      // A setting the URL names is the URL's; the other is still the engine's.
      const options = encodeURIComponent("--enable-seqscan=on -c plan_cache_mode=auto");
      const theirs = await connect(withParams(db, `options=${options}`), {}, db.schema);
      await runsEndToEnd(theirs);
      const [both] = await postgres(theirs).query<Seen>(settings);
      expect([both!.seqscan, both!.plans]).toEqual(["on", "auto"]);
      const partly = await connect(withParams(db, `options=${encodeURIComponent("-c plan_cache_mode=force_custom_plan")}`), {}, db.schema);
      await runsEndToEnd(partly);
      const [one] = await postgres(partly).query<Seen>(settings);
      expect([one!.seqscan, one!.plans]).toEqual(["off", "force_custom_plan"]);
    });

    it("sslmode=disable and prefer connect without TLS; require and verify-full fail clearly on this non-TLS server", async () => {
      const db = await freshDatabase(backend);
      for (const mode of ["disable", "prefer", "allow"]) {
        const runner = await connect(withParams(db, `sslmode=${mode}`), {}, db.schema);
        await runsEndToEnd(runner);
        const [row] = await postgres(runner).query<{ ssl: boolean }>("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
        expect(row!.ssl, `sslmode=${mode}`).toBe(false);
      }
      const [server] = await sql<{ ssl: string }>("SHOW ssl");
      expect(server!.ssl).toBe("off"); // what makes the next two fail
      for (const mode of ["require", "verify-full"]) {
        const err = await rejection(DefaultRunner.connect(withParams(db, `sslmode=${mode}`)));
        expect(err, `sslmode=${mode}`).toBeInstanceOf(DatabaseConnectionError);
        expect(String(err)).toMatch(/does not support SSL/);
      }
      // verify-ca cannot verify without a CA; an unreadable CA file is a configuration error, not a crash.
      await expect(DefaultRunner.connect(withParams(db, "sslmode=verify-ca"))).rejects.toThrow(/sslrootcert/);
      const missing = join(tempDir(), "no-such-ca.pem");
      const err = await rejection(DefaultRunner.connect(withParams(db, `sslmode=verify-ca&sslrootcert=${encodeURIComponent(missing)}`)));
      expect(err).toBeInstanceOf(ConfigurationError);
      expect(String(err)).toContain("sslrootcert");
    });

    it("unknown parameters are a ConfigurationError listing the accepted ones", async () => {
      const db = await freshDatabase(backend);
      for (const bad of ["foo=1", "pool_size=3", "search_path=x", "host=/tmp"]) {
        let err: unknown;
        try {
          new DefaultRunner(withParams(db, bad));
        } catch (e) {
          err = e;
        }
        expect(err, bad).toBeInstanceOf(ConfigurationError);
        for (const accepted of ["pool_min_size=", "pool_max_size=", "pool_timeout=", "sslmode=", "sslrootcert=", "connect_timeout=", "application_name=", "options="]) {
          expect(String(err), bad).toContain(accepted);
        }
        await expect(DefaultRunner.connect(withParams(db, bad))).rejects.toBeInstanceOf(ConfigurationError);
      }
    });
  }
});

