/**
 * Runs every example of examples/backend-selection/ (the TypeScript versions of the reference page
 * "Backend Selection") against real databases and checks what each example claims.
 *
 * - SQLite examples run with their page URLs (`sqlite:///workflows.db`, …) inside a fresh temporary
 *   working directory, since relative SQLite URLs resolve against the working directory.
 * - PostgreSQL examples run on the test server (`pgUrl`, chosen by scripts/run-tests.mjs). Examples that
 *   take a plain URL get one whose `options=-c search_path=<schema>` points at a fresh random schema, so
 *   nothing lands in `public`; `withSchema` examples get a fresh random schema. Every schema is dropped
 *   after its test.
 */
import Database from "better-sqlite3";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import * as cloaca from "../../src/index.js";
import {
  ConfigurationError,
  DatabaseConnectionError,
  DefaultRunner,
  ExecutionNotFoundError,
  WorkflowBuilder,
  type WorkflowResult,
} from "../../src/index.js";
import { parseDatabaseUrl } from "../../src/database-url.js";
import { createProductionRunner, developmentRunner } from "../../examples/backend-selection/decision-matrix.js";
import { createRunnerForEnvironment } from "../../examples/backend-selection/environment.js";
import { codeChanges, setUpNewEnvironment } from "../../examples/backend-selection/migration.js";
import { tenantRunners } from "../../examples/backend-selection/multi-tenant.js";
import {
  optimizedPostgresRunner,
  optimizedPostgresUrl,
  optimizedSqliteRunner,
  optimizedSqliteUrl,
} from "../../examples/backend-selection/performance.js";
import { connectTimeoutRunner, pooledRunner, sslRunner } from "../../examples/backend-selection/postgres-advanced.js";
import { basicPostgres, postgresWithSchema } from "../../examples/backend-selection/postgres-basic.js";
import { basicSqliteUsage } from "../../examples/backend-selection/sqlite-basic.js";
import { busyTimeoutRunner, customPathRunner, walRunner } from "../../examples/backend-selection/sqlite-configuration.js";
import { useIntegrationRunner, useTestRunner } from "../../examples/backend-selection/testing-fixtures.js";
import { handleConnectionIssues, handleLockedDatabase } from "../../examples/backend-selection/troubleshooting.js";
import { pgQuery, pgUrl } from "../support/backends.js";
import { closedPort } from "../support/net.js";

// ------------------------------------------------------------------------------------------ helpers

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** Shuts the runner(s) down after the test. */
function track<T extends DefaultRunner | undefined>(runner: T): T {
  if (runner) cleanups.push(() => runner.shutdown({ timeoutMs: 5_000 }));
  return runner;
}

/** Runs the test in a fresh temporary working directory (relative SQLite URLs land there). */
function inTempCwd(): { dir: () => string } {
  let dir = "";
  const previous = process.cwd();
  beforeEach(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), "cloaca-docs-")));
    process.chdir(dir);
  });
  afterEach(() => {
    process.chdir(previous);
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir: () => dir };
}

let seq = 0;
/** A one-task workflow (not in the default registry), registered on `runner`, run to the end. */
async function runHello(runner: DefaultRunner, input: Record<string, unknown> = {}): Promise<WorkflowResult> {
  const name = `docs-hello-${process.pid}-${++seq}`;
  const wf = new WorkflowBuilder(name)
    .task("hello", (ctx) => ctx.set("message", "Hello World!"))
    .build({ register: false });
  runner.register(wf);
  const result = await runner.execute(name, input);
  expect(result.status).toBe("Completed");
  expect(result.finalContext.get("message")).toBe("Hello World!");
  return result;
}

const newSchemaName = () => `docs_${randomBytes(4).toString("hex")}_${process.pid}`;

/** `pgUrl` plus `params` (e.g. "pool_max_size=2&") plus a search_path pointing at `schema`. */
function schemaUrl(schema: string, params = ""): string {
  const base = pgUrl!;
  return `${base}${base.includes("?") ? "&" : "?"}${params}options=-c%20search_path%3D${schema}`;
}

/** A fresh schema name, dropped (with everything in it) after the test. */
function freshSchema(): string {
  const schema = newSchemaName();
  cleanups.push(() => pgQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
  return schema;
}

async function tablesIn(schema: string): Promise<string[]> {
  const rows = await pgQuery<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
    [schema],
  );
  return rows.map((r) => r.table_name);
}

const ENGINE_TABLES = ["cloaca_events", "cloaca_executions", "cloaca_meta", "cloaca_migrations", "cloaca_runners", "cloaca_tasks"];

/** The test server's URL with another user / database. */
function pgUrlWith(change: (u: URL) => void): string {
  const u = new URL(pgUrl!);
  change(u);
  return u.toString();
}

const describePg = describe.runIf(pgUrl !== undefined);

// ------------------------------------------------------------------------------------------ installation

describe("Installation (npm install cloaca)", () => {
  it("the package is named cloaca and its root export is the public API", () => {
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL("../../package.json", import.meta.url)), "utf8"));
    expect(pkg.name).toBe("cloaca");
    expect(pkg.exports["."].import).toBe("./dist/index.js");
    expect(typeof cloaca.DefaultRunner).toBe("function");
    expect(typeof cloaca.WorkflowBuilder).toBe("function");
  });
});

// ------------------------------------------------------------------------------------------ SQLite

describe("SQLite backend", () => {
  const cwd = inTempCwd();

  it("Basic Usage: a file database relative to the working directory, and a private in-memory one", async () => {
    const { runner, memoryRunner } = basicSqliteUsage();
    track(runner);
    track(memoryRunner);
    expect(runner.databaseUrl).toBe(`sqlite:///${cwd.dir()}/workflows.db`);
    expect(memoryRunner.databaseUrl).toBe("sqlite:///:memory:");

    await runHello(runner);
    expect(existsSync(join(cwd.dir(), "workflows.db"))).toBe(true);

    const inMemory = await runHello(memoryRunner);
    expect(readdirSync(cwd.dir()).filter((f) => f.includes("memory"))).toEqual([]);
    // Each in-memory runner has its own database: another one does not see this execution.
    const other = track(await DefaultRunner.connect("sqlite:///:memory:"));
    await expect(other.getExecution(inMemory.executionId)).rejects.toBeInstanceOf(ExecutionNotFoundError);
    // The file database keeps its executions for the next runner.
    await runner.shutdown();
    const reopened = track(await DefaultRunner.connect("sqlite:///workflows.db"));
    expect(await reopened.listExecutions()).toHaveLength(1);
  });

  it("Configuration Options: custom path (missing folders are created)", async () => {
    const runner = track(customPathRunner());
    expect(runner.databaseUrl).toBe(`sqlite:///${cwd.dir()}/data/workflows.db`);
    await runHello(runner);
    expect(existsSync(join(cwd.dir(), "data", "workflows.db"))).toBe(true);
  });

  it("Configuration Options: mode=rwc creates the file and _journal_mode=WAL is in force", async () => {
    const runner = track(walRunner());
    await runHello(runner);
    await runner.shutdown();
    // journal_mode=WAL is stored in the database file itself, so another connection can read it back.
    const probe = new Database(join(cwd.dir(), "workflows.db"), { readonly: true });
    try {
      expect(probe.pragma("journal_mode", { simple: true })).toBe("wal");
    } finally {
      probe.close();
    }
    // mode=rw (the file must exist) on a missing file fails instead of creating it.
    const rw = track(walRunner("sqlite:///missing.db?mode=rw"));
    await expect(rw.ready()).rejects.toBeInstanceOf(DatabaseConnectionError);
    expect(existsSync(join(cwd.dir(), "missing.db"))).toBe(false);
  });

  it("Configuration Options: _busy_timeout is how long to wait for another connection's lock", async () => {
    await (await DefaultRunner.connect("sqlite:///workflows.db")).shutdown();
    const other = new Database(join(cwd.dir(), "workflows.db"));
    cleanups.push(() => other.open && other.close());
    other.exec("BEGIN EXCLUSIVE");
    const t0 = Date.now();
    const blocked = track(busyTimeoutRunner("sqlite:///workflows.db?_busy_timeout=300"));
    await expect(blocked.ready()).rejects.toThrow(/database is locked/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    other.exec("ROLLBACK");
    // The page's 5000 ms, once nobody holds the lock:
    const runner = track(busyTimeoutRunner());
    expect(parseDatabaseUrl("sqlite:///workflows.db?_busy_timeout=5000")).toMatchObject({ busyTimeoutMs: 5000 });
    await runHello(runner);
  });

  it("our URL rule: sqlite:///x.db and sqlite://x.db are relative, sqlite:////abs/x.db absolute, unknown parameters rejected", () => {
    const dir = cwd.dir();
    expect(parseDatabaseUrl("sqlite:///x.db")).toMatchObject({ path: join(dir, "x.db") });
    expect(parseDatabaseUrl("sqlite://x.db")).toMatchObject({ path: join(dir, "x.db") });
    expect(parseDatabaseUrl("sqlite:////var/lib/app/x.db")).toMatchObject({ path: "/var/lib/app/x.db" });
    expect(parseDatabaseUrl("sqlite:///:memory:")).toMatchObject({ memory: true });
    expect(() => new DefaultRunner("sqlite:///x.db?cache_size=100")).toThrow(ConfigurationError);
    expect(() => new DefaultRunner("sqlite:///x.db?cache_size=100")).toThrow(/unknown parameter "cache_size".*accepted SQLite parameters/);
  });
});

// ------------------------------------------------------------------------------------------ PostgreSQL

describePg("PostgreSQL backend", () => {
  it("Basic Usage: a plain PostgreSQL URL (here with a search_path) runs workflows", async () => {
    const schema = freshSchema();
    const runner = track(basicPostgres(schemaUrl(schema)));
    await runHello(runner);
    expect(await tablesIn(schema)).toEqual(ENGINE_TABLES);
  });

  it("Basic Usage: withSchema keeps every engine table in the tenant schema (created on first use)", async () => {
    const schema = freshSchema();
    expect(await tablesIn(schema)).toEqual([]);
    const runner = track(postgresWithSchema(pgUrl, schema));
    await runHello(runner);
    expect(await tablesIn(schema)).toEqual(ENGINE_TABLES);
    // Schema isolation needs PostgreSQL.
    expect(() => postgresWithSchema("sqlite:///workflows.db", schema)).toThrow(/multi-tenancy requires PostgreSQL/);
  });

  it("Multi-Tenant Setup (today: one withSchema runner per tenant): tenants never see each other's executions", async () => {
    const acme = freshSchema();
    const globex = freshSchema();
    const runners = tenantRunners(pgUrl, [acme, globex]);
    for (const r of runners.values()) track(r);
    const result = await runHello(runners.get(acme)!);
    expect((await runners.get(acme)!.listExecutions()).map((e) => e.executionId)).toEqual([result.executionId]);
    expect(await runners.get(globex)!.listExecutions()).toEqual([]);
    await expect(runners.get(globex)!.getExecution(result.executionId)).rejects.toBeInstanceOf(ExecutionNotFoundError);
    expect(await tablesIn(acme)).toEqual(ENGINE_TABLES);
    expect(await tablesIn(globex)).toEqual(ENGINE_TABLES);
  });

  it("Advanced Configuration: connection pooling parameters are accepted and shown in the (masked) URL", async () => {
    const schema = freshSchema();
    const runner = track(pooledRunner(schemaUrl(schema, "pool_min_size=5&pool_max_size=20&")));
    await runHello(runner);
    expect(runner.databaseUrl).toContain("pool_min_size=5&pool_max_size=20");
  });

  it("Advanced Configuration: pool_max_size bounds the connections a runner opens", async () => {
    const schema = freshSchema();
    const app = `docs_pool_${randomBytes(3).toString("hex")}`;
    const runner = track(pooledRunner(schemaUrl(schema, `pool_min_size=1&pool_max_size=2&application_name=${app}&`)));
    const name = `docs-wide-${process.pid}-${++seq}`;
    let b = new WorkflowBuilder(name).task("root", (ctx) => ctx.set("root", true));
    for (let i = 0; i < 6; i++) b = b.task(`leaf${i}`, { dependencies: ["root"] }, (ctx) => ctx.set(`leaf${i}`, i));
    runner.register(b.build({ register: false }));
    const results = await Promise.all(Array.from({ length: 6 }, () => runner.execute(name, {})));
    expect(results.every((r) => r.status === "Completed")).toBe(true);
    const [row] = await pgQuery<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1",
      [app],
    );
    const n = row!.n;
    // 2 pooled connections + the dedicated LISTEN connection.
    expect(n).toBeGreaterThanOrEqual(2);
    expect(n).toBeLessThanOrEqual(3);
  });

  it("Advanced Configuration: sslmode=require is enforced (never silently downgraded)", async () => {
    const schema = freshSchema();
    const [row] = await pgQuery<{ ssl: string }>("SHOW ssl");
    const ssl = row!.ssl;
    const runner = track(sslRunner(schemaUrl(schema, "sslmode=require&")));
    if (ssl === "on") {
      await runHello(runner);
    } else {
      // The test server has no TLS: require must fail plainly, prefer falls back to plain text like libpq.
      await expect(runner.ready()).rejects.toBeInstanceOf(DatabaseConnectionError);
      await expect(runner.ready()).rejects.toThrow(/does not support SSL/);
      await runHello(track(sslRunner(schemaUrl(schema, "sslmode=prefer&"))));
    }
  });
});

describe("PostgreSQL Advanced Configuration: connect_timeout", () => {
  it("connect_timeout bounds a connection attempt to a server that never answers", async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => void sockets.add(socket)); // accepts, never speaks
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    cleanups.push(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((r) => silent.close(() => r()));
    });
    const { port } = silent.address() as net.AddressInfo;
    const runner = track(connectTimeoutRunner(`postgresql://user:password@127.0.0.1:${port}/db?connect_timeout=1`));
    const t0 = Date.now();
    await expect(runner.ready()).rejects.toThrow(/timeout/);
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(10_000);
    // The page's value is whole seconds.
    expect(parseDatabaseUrl("postgresql://user:password@host:5432/db?connect_timeout=10")).toMatchObject({
      connectTimeoutMs: 10_000,
    });
  });
});

// ------------------------------------------------------------------------------------------ decision matrix

describe("Decision Matrix", () => {
  describe("For Development", () => {
    const cwd = inTempCwd();
    it("development gets a SQLite file in the working directory; other environments get nothing here", async () => {
      const runner = track(developmentRunner("development"));
      expect(runner).toBeInstanceOf(DefaultRunner);
      await runHello(runner!);
      expect(existsSync(join(cwd.dir(), "dev_workflows.db"))).toBe(true);
      expect(developmentRunner("production")).toBeUndefined();
    });
  });

  describe("For Testing: in-memory fixture (beforeEach / afterEach)", () => {
    const runner = useTestRunner();
    it("gives each test a connected runner", async () => {
      expect(runner().databaseUrl).toBe("sqlite:///:memory:");
      await runHello(runner());
      expect(await runner().listExecutions()).toHaveLength(1);
    });
    it("and a fresh, empty database for the next test", async () => {
      expect(await runner().listExecutions()).toEqual([]);
    });
  });

  describePg("For Testing: PostgreSQL integration fixture", () => {
    const schema = newSchemaName();
    afterAll(() => pgQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
    const runner = useIntegrationRunner(pgUrl ? schemaUrl(schema) : undefined);
    it("gives each test a connected PostgreSQL runner", async () => {
      expect(runner().databaseUrl).toMatch(/^postgresql:\/\//);
      await runHello(runner());
      expect(await tablesIn(schema)).toEqual(ENGINE_TABLES);
    });
  });

  describe("For Production", () => {
    it("refuses to start without DATABASE_URL, naming the variable", () => {
      expect(() => createProductionRunner({})).toThrow("DATABASE_URL environment variable required");
      expect(() => createProductionRunner({ DATABASE_URL: "" })).toThrow(/DATABASE_URL/);
    });
    describePg("with PostgreSQL", () => {
      it("connects to the database named by DATABASE_URL", async () => {
        const schema = freshSchema();
        const runner = track(createProductionRunner({ DATABASE_URL: schemaUrl(schema) }));
        await runHello(runner);
        expect(runner.databaseUrl).toMatch(/^postgresql:\/\//);
      });
    });
  });
});

// ------------------------------------------------------------------------------------------ migration

describePg("Migration from SQLite to PostgreSQL", () => {
  const cwd = inTempCwd();

  it("Data Migration: the old SQLite environment stays readable while workflows re-run on PostgreSQL", async () => {
    const old = track(await DefaultRunner.connect("sqlite:///old_workflows.db"));
    const before = await runHello(old, { batch: 1 });
    await old.shutdown();

    const schema = freshSchema();
    const { sqliteRunner, pgRunner } = setUpNewEnvironment(undefined, schemaUrl(schema));
    track(sqliteRunner);
    track(pgRunner);
    expect(sqliteRunner.databaseUrl).toBe(`sqlite:///${cwd.dir()}/old_workflows.db`);
    const [previous] = await sqliteRunner.listExecutions();
    expect(previous?.executionId).toBe(before.executionId);
    const rerun = await runHello(pgRunner, { batch: 1 });
    expect(rerun.finalContext.toObject()).toEqual(before.finalContext.toObject());
  });

  it("Code Changes Required: only the URL changes; the same workflow gives the same result on all three", async () => {
    const publicLike = freshSchema(); // stands in for the database's default schema
    const tenant = freshSchema();
    const { before, after, multiTenant } = codeChanges(undefined, schemaUrl(publicLike), tenant);
    for (const r of [before, after, multiTenant]) track(r);

    const name = `docs-etl-${process.pid}-${++seq}`;
    const etl = new WorkflowBuilder(name)
      .task("extract", (ctx) => ctx.set("numbers", [1, 2, 3, 4, 5]))
      .task("transform", { dependencies: ["extract"] }, (ctx) => {
        ctx.set("doubled", ctx.get<number[]>("numbers")!.map((n) => n * 2));
      })
      .task("load", { dependencies: ["transform"] }, (ctx) => ctx.set("loadStatus", "success"))
      .build({ register: false });
    const results: WorkflowResult[] = [];
    for (const runner of [before, after, multiTenant]) {
      runner.register(etl);
      results.push(await runner.execute(name, { day: "2026-11-26" }));
    }
    for (const r of results) {
      expect(r.status).toBe("Completed");
      expect(r.workflowVersion).toBe(etl.version);
      expect(r.finalContext.toObject()).toEqual({
        day: "2026-11-26",
        numbers: [1, 2, 3, 4, 5],
        doubled: [2, 4, 6, 8, 10],
        loadStatus: "success",
      });
    }
    expect(existsSync(join(cwd.dir(), "workflows.db"))).toBe(true);
    // withSchema wins over the URL's search_path: the multi-tenant runner wrote to its own schema.
    expect(await tablesIn(publicLike)).toEqual(ENGINE_TABLES);
    expect(await tablesIn(tenant)).toEqual(ENGINE_TABLES);
    expect(await after.listExecutions()).toHaveLength(1);
    expect(await multiTenant.listExecutions()).toHaveLength(1);
  });
});

// ------------------------------------------------------------------------------------------ performance

describe("Performance Considerations", () => {
  const cwd = inTempCwd();

  it("the optimized SQLite URL is honoured: rwc, WAL, synchronous NORMAL, 5000 ms busy timeout", async () => {
    expect(parseDatabaseUrl(optimizedSqliteUrl)).toMatchObject({
      mode: "rwc",
      journalMode: "WAL",
      synchronous: "NORMAL",
      busyTimeoutMs: 5000,
    });
    const runner = track(optimizedSqliteRunner());
    await runHello(runner);
    // Only non-default settings are shown: WAL, rwc and 5000 ms are the defaults.
    expect(runner.databaseUrl).toBe(`sqlite:///${cwd.dir()}/workflows.db?_synchronous=NORMAL`);
  });

  it("the optimized PostgreSQL URL is parsed into pool bounds and an acquire timeout", () => {
    expect(parseDatabaseUrl(optimizedPostgresUrl)).toMatchObject({
      kind: "postgres",
      host: "host",
      database: "cloacina",
      poolMin: 5,
      poolMax: 20,
      poolTimeoutMs: 30_000,
    });
  });

  describePg("with PostgreSQL", () => {
    it("a runner with the optimized pool settings runs workflows", async () => {
      const schema = freshSchema();
      const runner = track(optimizedPostgresRunner(schemaUrl(schema, "pool_min_size=5&pool_max_size=20&pool_timeout=30&")));
      await runHello(runner);
      expect(runner.databaseUrl).toContain("pool_min_size=5&pool_max_size=20&pool_timeout=30");
    });
  });
});

// ------------------------------------------------------------------------------------------ environment

describe("Environment-Based Configuration", () => {
  const cwd = inTempCwd();

  it("development (the default): SQLite file dev_workflows.db", async () => {
    const runner = track(createRunnerForEnvironment({}));
    expect(runner.databaseUrl).toBe(`sqlite:///${cwd.dir()}/dev_workflows.db`);
    await runHello(runner);
    expect(existsSync(join(cwd.dir(), "dev_workflows.db"))).toBe(true);
    expect(track(createRunnerForEnvironment({ ENVIRONMENT: "development" })).databaseUrl).toBe(runner.databaseUrl);
  });

  it("testing: in-memory SQLite", async () => {
    const runner = track(createRunnerForEnvironment({ ENVIRONMENT: "testing" }));
    expect(runner.databaseUrl).toBe("sqlite:///:memory:");
    await runHello(runner);
    expect(readdirSync(cwd.dir())).toEqual([]);
  });

  it("staging and production require DATABASE_URL and say so", () => {
    expect(() => createRunnerForEnvironment({ ENVIRONMENT: "production" })).toThrow(
      "DATABASE_URL required for production environment",
    );
    expect(() => createRunnerForEnvironment({ ENVIRONMENT: "staging" })).toThrow(
      "DATABASE_URL required for staging environment",
    );
  });

  it("an unknown environment is an error", () => {
    expect(() => createRunnerForEnvironment({ ENVIRONMENT: "qa" })).toThrow("Unknown environment: qa");
  });

  describePg("with PostgreSQL", () => {
    it("production uses the PostgreSQL database of DATABASE_URL", async () => {
      const schema = freshSchema();
      const runner = track(createRunnerForEnvironment({ ENVIRONMENT: "production", DATABASE_URL: schemaUrl(schema) }));
      expect(runner.databaseUrl).toMatch(/^postgresql:\/\//);
      await runHello(runner);
      expect(await tablesIn(schema)).toEqual(ENGINE_TABLES);
    });
  });
});

// ------------------------------------------------------------------------------------------ troubleshooting

describe("Troubleshooting", () => {
  describe("SQLite Issues", () => {
    const cwd = inTempCwd();

    it("a locked database is reported as 'database is locked'; the retry succeeds once the lock is gone", async () => {
      await (await DefaultRunner.connect("sqlite:///workflows.db")).shutdown();
      // Another connection (think: another process) holds the write lock.
      const other = new Database(join(cwd.dir(), "workflows.db"));
      cleanups.push(() => other.open && other.close());
      other.exec("BEGIN EXCLUSIVE");
      const printed: string[] = [];
      vi.spyOn(console, "log").mockImplementation((msg: string) => {
        printed.push(msg);
        if (other.inTransaction) other.exec("ROLLBACK"); // the other process finishes
      });
      cleanups.push(() => vi.restoreAllMocks());

      const t0 = Date.now();
      const runner = track(await handleLockedDatabase("sqlite:///workflows.db?_busy_timeout=100"));
      expect(Date.now() - t0).toBeGreaterThanOrEqual(100); // it waited for the busy timeout first
      expect(printed).toEqual(["Database locked - check for other processes"]);
      await runHello(runner);
    });

    it("the locked error itself is a DatabaseConnectionError saying 'database is locked'", async () => {
      await (await DefaultRunner.connect("sqlite:///workflows.db")).shutdown();
      const other = new Database(join(cwd.dir(), "workflows.db"));
      cleanups.push(() => other.open && other.close());
      other.exec("BEGIN EXCLUSIVE");
      const err = await DefaultRunner.connect("sqlite:///workflows.db?_busy_timeout=50").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DatabaseConnectionError);
      expect(String(err)).toContain("database is locked");
      other.exec("ROLLBACK");
    });
  });

  describe("PostgreSQL Issues", () => {
    let printed: string[] = [];
    beforeEach(() => {
      printed = [];
      vi.spyOn(console, "log").mockImplementation((msg: string) => void printed.push(msg));
    });
    afterEach(() => vi.restoreAllMocks());

    it("nothing listening on the port: 'PostgreSQL server not running'", async () => {
      const port = await closedPort();
      const runner = await handleConnectionIssues(`postgresql://user:pass@127.0.0.1:${port}/db`);
      expect(runner).toBeUndefined();
      expect(printed).toEqual(["PostgreSQL server not running"]);
    });

    describePg("against the test server", () => {
      it("a missing database: 'Database needs to be created'", async () => {
        const missing = `docs_missing_${randomBytes(4).toString("hex")}`;
        const runner = await handleConnectionIssues(pgUrlWith((u) => (u.pathname = `/${missing}`)));
        expect(runner).toBeUndefined();
        expect(printed).toEqual(["Database needs to be created"]);
      });

      it("an unknown user or a wrong password: 'Check username/password'", async () => {
        const runner = await handleConnectionIssues(
          pgUrlWith((u) => {
            u.username = `docs_nobody_${randomBytes(4).toString("hex")}`;
            u.password = "wrong";
          }),
        );
        expect(runner).toBeUndefined();
        expect(printed).toEqual(["Check username/password"]);
      });

      it("a reachable server: the runner is returned and nothing is printed", async () => {
        const schema = freshSchema();
        const runner = track(await handleConnectionIssues(schemaUrl(schema)));
        expect(runner).toBeInstanceOf(DefaultRunner);
        await runHello(runner!);
        expect(printed).toEqual([]);
      });
    });
  });
});
