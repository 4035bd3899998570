/**
 * Connection failures (SPEC §2.11): each plain phrase — `connection refused`, `authentication failed`,
 * `database does not exist`, `timeout`, `database is locked` — against a REAL failure, never a mock:
 * a closed port, a role or database the server does not have, a wrong password on a password-checking
 * server, a TCP peer that never answers, a SQLite file another connection holds exclusively.
 *
 * Each is checked on both ways of starting a runner (`DefaultRunner.connect(url)` rejects, and
 * `new DefaultRunner(url).ready()` rejects): error class, `code`, phrase, and that the URL's password
 * never shows in `String(err)`, `err.message`, `err.stack` or `util.inspect(err)` (what console.error prints,
 * causes included). Then the troubleshooting code of reference/backend-selection.md, in TypeScript.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, chmodSync, chownSync, constants, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { inspect } from "node:util";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CloacaError, DatabaseConnectionError, DefaultRunner, WorkflowBuilder } from "../../src/index.js";
import { forEachBackend, pgUrl } from "../support/backends.js";
import { freshDatabase } from "../support/runner.js";
import { closedPort } from "../support/net.js";

const SECRET = `Pw-${randomBytes(6).toString("hex")}-s3cret`;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** Resolves with the rejection of `p` (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected the promise to reject, but it resolved");
}

/** The failure of both ways of starting a runner on `url`. */
async function bothFailures(url: string): Promise<unknown[]> {
  const viaConnect = await rejection(DefaultRunner.connect(url));
  const runner = new DefaultRunner(url); // synchronous: it only throws for a bad URL or config
  cleanups.push(() => runner.shutdown({ timeoutMs: 0 }));
  const viaReady = await rejection(runner.ready());
  return [viaConnect, viaReady];
}

function expectConnectionError(err: unknown, phrase: string, secret?: string): void {
  expect(err).toBeInstanceOf(DatabaseConnectionError);
  expect(err).toBeInstanceOf(CloacaError);
  const e = err as DatabaseConnectionError;
  expect(e.code).toBe("DATABASE_CONNECTION");
  expect(e.name).toBe("DatabaseConnectionError");
  expect(String(e)).toContain(phrase);
  expect(e.message).toContain(phrase);
  if (secret !== undefined) {
    for (const [where, text] of [
      ["String(err)", String(e)],
      ["err.message", e.message],
      ["err.stack", e.stack ?? ""],
      ["util.inspect(err)", inspect(e, { depth: 10 })],
    ] as const) {
      expect(text, `${where} leaks the password`).not.toContain(secret);
    }
  }
}

/** A TCP server that accepts connections and never says a word (a black hole for the PostgreSQL handshake). */
async function silentServer(): Promise<{ port: number; accepted: () => number }> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const srv = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        srv.close(() => resolve());
      }),
  );
  return { port: (srv.address() as net.AddressInfo).port, accepted: () => accepted };
}

/** `pgUrl` with another user/password/database (the host and port of the test server). */
function testServerUrl(parts: { user?: string; password?: string; database?: string; query?: string }): string {
  const u = new URL(pgUrl!);
  if (parts.user !== undefined) u.username = encodeURIComponent(parts.user);
  if (parts.password !== undefined) u.password = encodeURIComponent(parts.password);
  if (parts.database !== undefined) u.pathname = `/${encodeURIComponent(parts.database)}`;
  u.search = parts.query ?? "";
  return u.toString();
}

// ------------------------------------------------------------------------------------------ a password-checking server

/**
 * The shared test server authenticates 127.0.0.1 with `trust`, so it accepts ANY password for an existing
 * role: a wrong password cannot fail there (and its pg_hba.conf is not ours to change). To get a real
 * `password authentication failed` (SQLSTATE 28P01), this starts a throwaway cluster with scram-sha-256
 * authentication (initdb + pg_ctl, as the `postgres` OS user when running as root, like
 * scripts/run-tests.mjs does), and removes it afterwards.
 */
class ScramCluster {
  private constructor(
    readonly port: number,
    readonly password: string,
    private readonly base: string,
    private readonly data: string,
    private readonly pgCtl: string,
    private readonly wrap: (cmd: string, args: string[]) => [string, string[]],
  ) {}

  static binDir(): string {
    const dirs = (process.env.PATH ?? "").split(delimiter).filter(Boolean);
    try {
      for (const v of readdirSync("/usr/lib/postgresql").sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))) {
        dirs.push(join("/usr/lib/postgresql", v, "bin"));
      }
    } catch {
      /* no Debian layout */
    }
    const ok = (f: string) => {
      try {
        accessSync(f, constants.X_OK);
        return statSync(f).isFile();
      } catch {
        return false;
      }
    };
    const dir = dirs.find((d) => ok(join(d, "initdb")) && ok(join(d, "pg_ctl")));
    if (!dir) {
      throw new Error(
        "initdb/pg_ctl not found (PATH, /usr/lib/postgresql/*/bin): the wrong-password test needs PostgreSQL's server " +
          "binaries to start a scram-sha-256 cluster, because the shared test server trusts every password",
      );
    }
    return dir;
  }

  static async start(): Promise<ScramCluster> {
    const bin = ScramCluster.binDir();
    const root = typeof process.getuid === "function" && process.getuid() === 0;
    let uid: number | undefined;
    let gid: number | undefined;
    if (root) {
      uid = Number(spawnSync("id", ["-u", "postgres"], { encoding: "utf8" }).stdout.trim());
      gid = Number(spawnSync("id", ["-g", "postgres"], { encoding: "utf8" }).stdout.trim());
      if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error("running as root without a postgres OS user");
    }
    const wrap = (cmd: string, args: string[]): [string, string[]] =>
      root ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args];
    const base = mkdtempSync(join(existsSync("/tmp") ? "/tmp" : tmpdir(), "cloaca-scram-"));
    const data = join(base, "data");
    const password = `Cluster-${randomBytes(6).toString("hex")}`;
    writeFileSync(join(base, "pw"), `${password}\n`);
    if (uid !== undefined) {
      chownSync(base, uid, gid!);
      chownSync(join(base, "pw"), uid, gid!);
    }
    chmodSync(base, 0o700);
    const run = (cmd: string, args: string[]) => {
      const [file, argv] = wrap(cmd, args);
      const r = spawnSync(file, argv, { cwd: base, encoding: "utf8" });
      if (r.status !== 0) throw new Error(`${cmd} failed (${r.status}): ${r.stdout}${r.stderr}${r.error ?? ""}`);
    };
    run(join(bin, "initdb"), ["-D", data, "-A", "scram-sha-256", "-U", "postgres", `--pwfile=${join(base, "pw")}`, "-E", "UTF8", "--locale=C", "--no-sync"]);
    const port = await closedPort();
    run(join(bin, "pg_ctl"), ["-D", data, "-l", join(base, "log"), "-w", "-t", "60", "-o", `-p ${port} -k ${base} -c listen_addresses=127.0.0.1 -c fsync=off`, "start"]);
    return new ScramCluster(port, password, base, data, join(bin, "pg_ctl"), wrap);
  }

  stop(): void {
    const [file, argv] = this.wrap(this.pgCtl, ["-D", this.data, "-m", "immediate", "-w", "stop"]);
    spawnSync(file, argv, { cwd: this.base });
    rmSync(this.base, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------------------------------ tests

forEachBackend((backend) => {
  if (backend.name === "sqlite") {
    /** A cloaca database file (created and migrated by a runner that then shut down). */
    async function existingDatabase(): Promise<{ url: string; path: string }> {
      const db = await freshDatabase(backend);
      const first = await DefaultRunner.connect(db.url);
      await first.shutdown();
      return { url: db.url, path: db.url.slice("sqlite:///".length) };
    }

    /** Another connection (as another process would) holding the file with BEGIN EXCLUSIVE. */
    function holdExclusive(path: string): { release: () => void } {
      const other = new Database(path);
      other.exec("BEGIN EXCLUSIVE");
      const release = () => {
        if (other.open) {
          if (other.inTransaction) other.exec("ROLLBACK");
          other.close();
        }
      };
      cleanups.push(release);
      return { release };
    }

    it("database is locked: another connection holds the file exclusively beyond _busy_timeout", async () => {
      const { url, path } = await existingDatabase();
      const lock = holdExclusive(path);
      for (const err of await bothFailures(`${url}?_busy_timeout=100`)) expectConnectionError(err, "database is locked");
      // Once the other connection lets go, the same URL works.
      lock.release();
      const runner = await DefaultRunner.connect(`${url}?_busy_timeout=100`);
      await runner.shutdown();
    });

    it("database is locked: also when a new file is locked by another program before the runner first opens it", async () => {
      const db = await freshDatabase(backend);
      const path = db.url.slice("sqlite:///".length);
      // A rollback-journal database with an exclusive lock: the runner cannot even switch it to WAL.
      const other = new Database(path);
      other.exec("CREATE TABLE app (x INTEGER)");
      const lock = holdExclusive(path);
      other.close();
      for (const err of await bothFailures(`${db.url}?_busy_timeout=100`)) expectConnectionError(err, "database is locked");
      lock.release();
    });

    it('the troubleshooting code of backend-selection.md works as written ("database is locked", then WAL)', async () => {
      const { url, path } = await existingDatabase();
      const lock = holdExclusive(path);
      const printed: string[] = [];
      // The "other process" finishes when we tell the user to check for it.
      const print = (line: string) => {
        printed.push(line);
        lock.release();
      };

      // --- reference/backend-selection.md, "SQLite Issues", in TypeScript ---
      let runner: DefaultRunner | undefined;
      try {
        runner = await DefaultRunner.connect(url);
      } catch (e) {
        if (String(e).includes("database is locked")) {
          print("Database locked - check for other processes");
          // Try with WAL mode
          runner = await DefaultRunner.connect(`${url}?_journal_mode=WAL`);
        }
      }
      // --- end ---

      expect(printed).toEqual(["Database locked - check for other processes"]);
      expect(runner).toBeDefined();
      cleanups.push(() => runner!.shutdown());
      const wf = new WorkflowBuilder(`after-lock-${process.pid}`).task("t", (ctx) => ctx.set("ok", true)).build({ register: false });
      runner!.register(wf);
      const result = await runner!.execute(wf.name);
      expect(result.status).toBe("Completed");
    });
  } else {
    it("connection refused: nothing listens on the port", async () => {
      const port = await closedPort();
      const url = `postgresql://app:${SECRET}@127.0.0.1:${port}/appdb`;
      for (const err of await bothFailures(url)) expectConnectionError(err, "connection refused", SECRET);
    });

    it("authentication failed: the role does not exist (with a password in the URL)", async () => {
      const url = testServerUrl({ user: `cloaca_no_such_role_${process.pid}`, password: SECRET });
      for (const err of await bothFailures(url)) {
        expectConnectionError(err, "authentication failed", SECRET);
        expect(String(err)).toContain(`cloaca_no_such_role_${process.pid}`);
      }
    });

    it("database does not exist", async () => {
      // The test server's user, with a password in the URL (trust authentication ignores it).
      const url = testServerUrl({ password: SECRET, database: `cloaca_no_such_db_${process.pid}` });
      for (const err of await bothFailures(url)) {
        expectConnectionError(err, "database does not exist", SECRET);
        expect(String(err)).toContain(`cloaca_no_such_db_${process.pid}`);
      }
    });

    it("timeout: the peer accepts TCP and never answers, connect_timeout=1", async () => {
      const server = await silentServer();
      const url = `postgresql://app:${SECRET}@127.0.0.1:${server.port}/appdb?connect_timeout=1`;
      for (const err of await bothFailures(url)) expectConnectionError(err, "timeout", SECRET);
      expect(server.accepted()).toBeGreaterThanOrEqual(2); // the handshake really reached our silent peer
    });

    describe("on a server with scram-sha-256 authentication", () => {
      let cluster: ScramCluster | undefined;
      beforeAll(async () => {
        cluster = await ScramCluster.start();
      });
      afterAll(() => cluster?.stop());

      it("authentication failed: a wrong password", async () => {
        const c = cluster!;
        const url = `postgresql://postgres:${SECRET}@127.0.0.1:${c.port}/postgres`;
        for (const err of await bothFailures(url)) expectConnectionError(err, "authentication failed", SECRET);
      });

      it("the right password works: pooled and notification connections authenticate, a workflow runs", async () => {
        const c = cluster!;
        const runner = await DefaultRunner.connect(
          `postgresql://postgres:${encodeURIComponent(c.password)}@127.0.0.1:${c.port}/postgres?pool_min_size=2&pool_max_size=4`,
        );
        cleanups.push(() => runner.shutdown());
        const wf = new WorkflowBuilder(`scram-${process.pid}`)
          .task("a", (ctx) => ctx.set("a", 1))
          .task("b", { dependencies: ["a"] }, (ctx) => ctx.set("b", ctx.get<number>("a")! + 1))
          .build({ register: false });
        runner.register(wf);
        const result = await runner.execute(wf.name);
        expect(result.status).toBe("Completed");
        expect(result.finalContext.get("b")).toBe(2);
      });

      it("authentication failed: the server asks for a password and the URL has none", async () => {
        const c = cluster!;
        for (const err of await bothFailures(`postgresql://postgres@127.0.0.1:${c.port}/postgres`)) {
          expectConnectionError(err, "authentication failed");
        }
      });

      it("a password with URL-special characters is percent-decoded, and masked when it is wrong", async () => {
        const c = cluster!;
        const tricky = `p@ss:w/rd?#${randomBytes(3).toString("hex")}`;
        const url = `postgresql://postgres:${encodeURIComponent(tricky)}@127.0.0.1:${c.port}/postgres`;
        for (const err of await bothFailures(url)) {
          expectConnectionError(err, "authentication failed", tricky);
          expect(String(err)).not.toContain(encodeURIComponent(tricky));
        }
      });
    });

    it("the troubleshooting code of backend-selection.md works as written (PostgreSQL issues)", async () => {
      const print: string[] = [];
      // --- reference/backend-selection.md, "PostgreSQL Issues", in TypeScript ---
      async function tryConnect(url: string): Promise<void> {
        try {
          const runner = await DefaultRunner.connect(url);
          await runner.shutdown();
        } catch (e) {
          if (String(e).includes("connection refused")) {
            print.push("PostgreSQL server not running");
          } else if (String(e).includes("authentication failed")) {
            print.push("Check username/password");
          } else if (String(e).includes("database does not exist")) {
            print.push("Database needs to be created");
          }
        }
      }
      // --- end ---
      await tryConnect(`postgresql://user:pass@127.0.0.1:${await closedPort()}/db`);
      await tryConnect(testServerUrl({ user: `cloaca_no_such_role_${process.pid}`, password: "pass" }));
      await tryConnect(testServerUrl({ database: `cloaca_no_such_db_${process.pid}` }));
      expect(print).toEqual(["PostgreSQL server not running", "Check username/password", "Database needs to be created"]);
    });
  }
});
