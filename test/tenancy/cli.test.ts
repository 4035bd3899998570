/**
 * The `cloaca` command line: tenant create/list/remove against the real PostgreSQL server with
 * DATABASE_URL, `migrate`, `worker`, exit codes (0 done, 1 failure, 2 usage) and error output without stack
 * traces or passwords.
 *
 * Real processes (`node --import tsx src/cli/main.ts …`, and the built `bin/cloaca.mjs`) where the process
 * matters: exit codes, stdin, `worker`. The many argument cases run the same `main()` in this process
 * (`cloaca()` below with `inProcess`), since a tsx process start costs ~1 s each.
 */
import Database from "better-sqlite3";
import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import type { CliIO } from "../../src/cli/io.js";
import { DefaultRunner } from "../../src/index.js";
import { workflows as workerWorkflows } from "./fixtures/cli-worker-workflow.js";
import { pgUrl } from "../support/backends.js";
import { adminUrl, cleanupLater, freshName, freshTenant, isRolePassword, roleExists, schemaExists, su } from "./support.js";
import { closedPort } from "../support/net.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const MAIN = join(ROOT, "src", "cli", "main.ts");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const children = new Set<ChildProcess>();
const tempDirs: string[] = [];
afterEach(() => {
  for (const child of children) child.kill("SIGKILL");
  children.clear();
});
afterAll(async () => {
  await builtPackage;
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "cloaca-cli-"));
  tempDirs.push(dir);
  return dir;
}

/** A clean environment: no DATABASE_URL / CLOACA_* / PG* unless the test gives them. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === "DATABASE_URL" || k.startsWith("CLOACA_") || k.startsWith("PG")) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

function start(args: readonly string[], env: NodeJS.ProcessEnv, entry: string[] = ["--import", "tsx", MAIN]): ChildProcess {
  const child = spawn(process.execPath, [...entry, ...args], { cwd: ROOT, env, stdio: ["pipe", "pipe", "pipe"] });
  children.add(child);
  child.on("exit", () => children.delete(child));
  return child;
}

/** Runs `cloaca …` to the end. */
function cloaca(args: readonly string[], opts: { env?: Record<string, string>; input?: string; entry?: string[] } = {}): Promise<Run> {
  const child = start(args, cleanEnv(opts.env), opts.entry);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  child.stdin!.end(opts.input ?? "");
  return new Promise((resolveRun, reject) => {
    const timer = setTimeout(() => reject(new Error(`cloaca ${args.join(" ")} did not finish in 30 s\n${stdout}\n${stderr}`)), 30_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      // Let the pipes drain.
      setImmediate(() => resolveRun({ code, stdout, stderr }));
    });
  });
}

/** Runs the same `main()` in this process, with the given environment and stdin. */
async function cloacaHere(args: readonly string[], opts: { env?: Record<string, string>; input?: string } = {}): Promise<Run> {
  let stdout = "";
  let stderr = "";
  const io: CliIO = { out: (t) => void (stdout += t), err: (t) => void (stderr += t), readStdin: async () => opts.input ?? "" };
  const code = await main(args, cleanEnv(opts.env), io);
  return { code, stdout, stderr };
}

/** No stack trace lines in the output. */
const NO_STACK = /^\s+at\s.+\(.*:\d+:\d+\)|^\s+at\s.+:\d+:\d+$/m;

/**
 * The built package layout (bin/ + dist/ + package.json, node_modules linked), so that the real
 * bin/cloaca.mjs runs. Started when the file loads, so the compile overlaps the other tests.
 */
const builtPackage: Promise<{ bin: string } | { error: string }> = (async () => {
  const pkg = mkdtempSync(join(tmpdir(), "cloaca-cli-pkg-"));
  tempDirs.push(pkg);
  const build = spawn(
    process.execPath,
    [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", join(ROOT, "tsconfig.build.json"), "--outDir", join(pkg, "dist")],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  build.stdout!.on("data", (d) => (out += d));
  build.stderr!.on("data", (d) => (out += d));
  const code = await new Promise((r) => build.on("exit", r));
  if (code !== 0) return { error: `tsc exited with ${code}: ${out}` };
  mkdirSync(join(pkg, "bin"));
  cpSync(join(ROOT, "bin", "cloaca.mjs"), join(pkg, "bin", "cloaca.mjs"));
  cpSync(join(ROOT, "package.json"), join(pkg, "package.json"));
  symlinkSync(join(ROOT, "node_modules"), join(pkg, "node_modules"), "dir");
  return { bin: join(pkg, "bin", "cloaca.mjs") };
})();

const packageJson = () => JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string; bin: Record<string, string> };

describe("cloaca as a process (node --import tsx src/cli/main.ts)", () => {
  it("--help lists the commands (exit 0), a usage error exits 2, a failure exits 1 — no stack traces, no passwords", async () => {
    const port = await closedPort();
    const [help, version, usage, failure] = await Promise.all([
      cloaca(["--help"]),
      cloaca(["--version"]),
      cloaca(["tenant", "create", "--user", "u"], { env: { DATABASE_URL: "postgresql://x@127.0.0.1/db" } }),
      cloaca(["tenant", "list"], { env: { DATABASE_URL: `postgresql://admin:TopSecretPw1@127.0.0.1:${port}/db` } }),
    ]);
    expect(help.code).toBe(0);
    for (const cmd of ["tenant", "migrate", "worker"]) expect(help.stdout).toMatch(new RegExp(`^\\s+${cmd}\\b`, "m"));
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toBe(packageJson().version);

    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^cloaca: error: required option '--schema <name>' not specified/m);
    expect(usage.stderr).not.toMatch(NO_STACK);

    expect(failure.code).toBe(1);
    expect(failure.stderr).toMatch(/^cloaca: error: connection refused/m);
    expect(failure.stderr).toContain("admin:***@");
    expect(failure.stderr + failure.stdout).not.toContain("TopSecretPw1");
    expect(failure.stderr).not.toMatch(NO_STACK);
  });
});

describe("cloaca arguments (main() in process)", () => {
  it("tenant create --help shows every flag", async () => {
    const run = await cloacaHere(["tenant", "create", "--help"]);
    expect(run.code).toBe(0);
    for (const flag of ["--schema", "--user", "--password", "--password-stdin", "--show-password", "--db"]) expect(run.stdout).toContain(flag);
  });

  it.each<[string, string[], Record<string, string>, RegExp]>([
    ["an unknown command", ["bogus"], {}, /unknown command 'bogus'/],
    ["no --db and no DATABASE_URL", ["tenant", "list"], {}, /no database: pass --db URL or set DATABASE_URL/],
    ["an empty DATABASE_URL", ["tenant", "list"], { DATABASE_URL: " " }, /set DATABASE_URL \(it is empty\)/],
    ["a bad schema name", ["tenant", "create", "--schema", "a;b", "--user", "u"], { DATABASE_URL: "postgresql://x@127.0.0.1/db" }, /invalid schema name "a;b"/],
    ["a SQLite URL for tenants", ["tenant", "list", "--db", "sqlite:///:memory:"], {}, /Admin API requires PostgreSQL/],
    ["--schema with SQLite in migrate", ["migrate", "--db", "sqlite:///:memory:", "--schema", "s"], {}, /multi-tenancy requires PostgreSQL/],
    ["a malformed URL", ["migrate", "--db", "mysql://x/y"], {}, /unsupported database URL/],
    ["both --password and --password-stdin", ["tenant", "create", "--schema", "s", "--user", "u", "--password", "p", "--password-stdin"], { DATABASE_URL: "postgresql://x@127.0.0.1/db" }, /not both/],
    ["remove without --user", ["tenant", "remove", "--schema", "s"], { DATABASE_URL: "postgresql://x@127.0.0.1/db" }, /required option '--user <name>'/],
    ["worker without a module", ["worker"], {}, /missing required argument 'module'/],
  ])("%s is a usage error: exit 2, a clear message, no stack trace", async (_what, args, env, message) => {
    const run = await cloacaHere(args, { env });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toMatch(/^cloaca: error: /m);
    expect(run.stderr).not.toMatch(NO_STACK);
    expect(run.stdout).toBe("");
  });

  it("migrate creates the engine tables in a new SQLite file, then reports it up to date", async () => {
    const file = join(tempDir(), "wf.db");
    const first = await cloacaHere(["migrate", "--db", `sqlite:///${file}`]);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^Migrated sqlite:\/\/\/.*wf\.db: applied 1 \(core tables\), 2 \(fewer pages per commit\)$/m);
    const db = new Database(file, { readonly: true });
    try {
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'cloaca_%' ORDER BY name").all() as Array<{ name: string }>;
      expect(tables.map((t) => t.name)).toEqual(["cloaca_events", "cloaca_executions", "cloaca_meta", "cloaca_migrations", "cloaca_runners", "cloaca_tasks"]);
    } finally {
      db.close();
    }
    const second = await cloacaHere(["migrate"], { env: { DATABASE_URL: `sqlite:///${file}` } });
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/is up to date \(migration 2: fewer pages per commit\)/);
  });
});

if (pgUrl) {
  describe("cloaca tenant, migrate and worker (PostgreSQL)", () => {
    const admin = () => adminUrl("tenancy_cli");

    it("tenant create (DATABASE_URL, no --db) masks the generated password and hints; list shows it; remove drops it", async () => {
      const names = freshTenant();
      const env = { DATABASE_URL: admin() };
      // As a process: what a user types.
      const created = await cloaca(["tenant", "create", "--schema", names.schemaName, "--user", names.username], { env });
      expect(created.code).toBe(0);
      expect(created.stdout).toContain(`Created tenant ${names.schemaName}`);
      expect(created.stdout).toMatch(new RegExp(`^\\s+username\\s+${names.username}$`, "m"));
      expect(created.stdout).toMatch(/^\s+password\s+\*\*\* \(generated, hidden\)$/m);
      expect(created.stdout).toMatch(new RegExp(`connection string\\s+postgresql://${names.username}:\\*\\*\\*@`));
      expect(created.stderr).toMatch(/hint: .*--show-password/);
      // No 32-character alphanumeric token (the generated password's shape) anywhere in the output.
      expect(`${created.stdout}\n${created.stderr}`).not.toMatch(/(?<![A-Za-z0-9])[A-Za-z0-9]{32}(?![A-Za-z0-9])/);
      expect(await roleExists(names.username)).toBe(true);

      const listed = await cloacaHere(["tenant", "list"], { env });
      expect(listed.code).toBe(0);
      expect(listed.stdout).toMatch(/^SCHEMA\s+OWNER$/m);
      expect(listed.stdout).toMatch(new RegExp(`^${names.schemaName}\\s+${names.username}$`, "m"));
      const json = await cloacaHere(["tenant", "list", "--json"], { env });
      expect(JSON.parse(json.stdout)).toContainEqual({ schemaName: names.schemaName, username: names.username });

      const again = await cloacaHere(["tenant", "create", "--schema", names.schemaName, "--user", names.username], { env });
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/^cloaca: error: cannot create tenant .*already exists/m);
      expect(again.stderr).not.toMatch(NO_STACK);

      const removed = await cloaca(["tenant", "remove", "--schema", names.schemaName, "--user", names.username], { env });
      expect(removed.code).toBe(0);
      expect(removed.stdout).toContain(`Removed tenant ${names.schemaName}`);
      expect(await schemaExists(names.schemaName)).toBe(false);
      expect(await roleExists(names.username)).toBe(false);

      const missing = await cloacaHere(["tenant", "remove", "--schema", names.schemaName, "--user", names.username], { env });
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/^cloaca: error: cannot remove tenant .*neither schema/m);
      expect(missing.stderr).not.toMatch(NO_STACK);
    });

    it("--password-stdin (a process reading stdin) sets that password and keeps it out of the output; --show-password prints the real generated one", async () => {
      const given = freshTenant();
      const shown = freshTenant();
      const password = "GivenOnStdin_42";
      const [a, b] = await Promise.all([
        cloaca(["tenant", "create", "--db", admin(), "--schema", given.schemaName, "--user", given.username, "--password-stdin"], {
          input: `${password}\n`,
        }),
        cloacaHere(["tenant", "create", "--db", admin(), "--schema", shown.schemaName, "--user", shown.username, "--show-password"]),
      ]);
      expect(a.code).toBe(0);
      expect(a.stdout + a.stderr).not.toContain(password);
      expect(a.stdout).toMatch(/^\s+password\s+\*\*\* \(hidden\)$/m);
      expect(await isRolePassword(given.username, password)).toBe(true);

      expect(b.code).toBe(0);
      const pw = /^\s+password\s+([A-Za-z0-9]{32})$/m.exec(b.stdout)?.[1];
      expect(pw).toBeDefined();
      expect(await isRolePassword(shown.username, pw!)).toBe(true);
      const conn = /^\s+connection string\s+(\S+)$/m.exec(b.stdout)?.[1];
      expect(conn).toContain(`${shown.username}:${pw}@`);
      expect(b.stderr).toMatch(/only time the password is shown/);
    });

    it("migrate --schema creates the engine tables in that schema, then reports it up to date", async () => {
      const schema = freshName("tcli");
      cleanupLater({ schema });
      const first = await cloacaHere(["migrate", "--db", admin(), "--schema", schema]);
      expect(first.code).toBe(0);
      expect(first.stdout).toContain(`(schema ${schema}): applied 1 (core tables)`);
      const tables = await su<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
        [schema],
      );
      expect(tables.map((t) => t.table_name)).toEqual(["cloaca_events", "cloaca_executions", "cloaca_meta", "cloaca_migrations", "cloaca_runners", "cloaca_tasks"]);
      const second = await cloacaHere(["migrate", "--db", admin(), "--schema", schema]);
      expect(second.code).toBe(0);
      expect(second.stdout).toContain("is up to date");
    });

    it("worker <module> (a process) on a tenant's connection string runs the tenant's workflows and stops cleanly on SIGTERM", async () => {
      const shown = freshTenant();
      const created = await cloacaHere(["tenant", "create", "--db", admin(), "--schema", shown.schemaName, "--user", shown.username, "--show-password"]);
      const conn = /^\s+connection string\s+(\S+)$/m.exec(created.stdout)![1]!;
      const password = /:([A-Za-z0-9]{32})@/.exec(conn)![1]!;

      const worker = start(["worker", "test/tenancy/fixtures/cli-worker-workflow.ts", "--concurrency", "2"], cleanEnv({ DATABASE_URL: conn }));
      let stderr = "";
      worker.stderr!.on("data", (d) => (stderr += d));
      const exited = new Promise<number | null>((res) => worker.on("exit", (code) => res(code)));
      await Promise.race([
        new Promise<void>((res) => {
          const check = () => (stderr.includes("worker ready") ? res() : setTimeout(check, 20));
          check();
        }),
        exited.then((code) => Promise.reject(new Error(`worker exited early (${code}): ${stderr}`))),
      ]);

      // A submit-only runner in this process (same tenant, same connection string) hands the work over.
      const submitter = new DefaultRunner(conn, { maxConcurrentTasks: 0, workflows: workerWorkflows });
      try {
        const result = await submitter.execute("cli_worker_flow", {});
        expect(result.status).toBe("Completed");
        expect(result.finalContext.get("pid")).toBe(worker.pid);
      } finally {
        await submitter.shutdown({ timeoutMs: 5_000 });
      }
      worker.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(stderr).toMatch(/worker stopped/);
      expect(stderr).not.toContain(password);
    });
  });
}

describe("bin/cloaca.mjs (the published entry point)", () => {
  it("package.json names it as the cloaca bin, and the built CLI runs: --version, and a usage error exits 2", async () => {
    expect(packageJson().bin.cloaca).toBe("bin/cloaca.mjs");
    expect(packageJson().bin["cloaca-worker"]).toBe("bin/cloaca-worker.mjs");
    const built = await builtPackage;
    if ("error" in built) throw new Error(built.error);
    const [version, usage] = await Promise.all([
      cloaca(["--version"], { entry: [built.bin] }),
      cloaca(["tenant", "list"], { entry: [built.bin] }),
    ]);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toBe(packageJson().version);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^cloaca: error: no database: pass --db URL or set DATABASE_URL/m);
  }, 60_000);
});
