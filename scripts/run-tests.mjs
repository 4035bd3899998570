#!/usr/bin/env node
// scripts/run-tests.mjs: runs the vitest suite against SQLite *and* PostgreSQL.
//
// It picks the PostgreSQL server for the tests in this order:
//   (a) CLOACA_TEST_PG_URL, if set and non-empty. It must connect; otherwise exit 1 with
//       no fallback.
//   (b) The local server: postgresql://postgres@127.0.0.1:5432/test, then .../postgres.
//   (c) A throwaway cluster: initdb + pg_ctl (found on PATH or in /usr/lib/postgresql/*/bin)
//       in a temp dir on a free port. It is stopped and deleted on exit, SIGINT/SIGTERM or
//       failure. As root, it runs as the `postgres` OS user (runuser, else su).
//   (d) Nothing. With CI=true|1: print a loud error and exit 1. Otherwise: print a LOUD
//       banner and run the suite with CLOACA_TEST_PG=skip (SQLite only).
// Then it runs `vitest run <args passed to this script>` with CLOACA_TEST_PG_URL set for the
// child and forwards its exit code. test/support/summary-reporter.ts prints the closing line
// `N passed, N failed, N skipped`.
//
// Knobs, mostly for testing this script's own fallbacks (they never make CI pass without
// PostgreSQL):
//   CLOACA_TEST_PG_PROBE=off   skip step (b), the local 127.0.0.1:5432 probe
//   CLOACA_TEST_PG_INITDB=off  skip step (c), the throwaway initdb cluster
//   CLOACA_TEST_PG=skip        skip PostgreSQL tests on purpose (refused when CI is set)

import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const VITEST = path.join(ROOT, "node_modules", ".bin", "vitest");
const LOCAL_URLS = [
  "postgresql://postgres@127.0.0.1:5432/test",
  "postgresql://postgres@127.0.0.1:5432/postgres",
];
const isCI = ["true", "1"].includes((process.env.CI ?? "").trim().toLowerCase());
const off = (name) => ["off", "0", "false", "no"].includes((process.env[name] ?? "").trim().toLowerCase());

const say = (msg) => process.stderr.write(`[run-tests] ${msg}\n`);

// ---------------------------------------------------------------------------------------
// helpers

/** Hides any password in a connection URL (or key=value conninfo string). */
function mask(conn) {
  try {
    const u = new URL(conn);
    if (u.password) u.password = "***";
    for (const k of [...u.searchParams.keys()]) {
      if (/pass/i.test(k)) u.searchParams.set(k, "***");
    }
    return u.toString();
  } catch {
    return conn
      .replace(/(\/\/[^/@:]*:)[^@/]*@/, "$1***@")
      .replace(/(password\s*=\s*)('[^']*'|\S+)/gi, "$1***");
  }
}

/** Removes the password (if any) of `conn` from an arbitrary message. */
function scrub(message, conn) {
  let out = String(message);
  try {
    const pw = decodeURIComponent(new URL(conn).password);
    if (pw) out = out.split(pw).join("***");
  } catch {
    /* not a URL; nothing to scrub */
  }
  return out;
}

const TIMED_OUT = Symbol("timed out");

function withTimeout(promise, ms) {
  let t;
  return Promise.race([
    promise,
    new Promise((resolve) => {
      t = setTimeout(() => resolve(TIMED_OUT), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/** Connects and runs SELECT 1. Resolves to null on success, else to an error message. */
async function probe(conn, timeoutMs = 3000) {
  const client = new pg.Client({ connectionString: conn, connectionTimeoutMillis: timeoutMs });
  client.on("error", () => {});
  try {
    const r = await withTimeout(
      client.connect().then(() => client.query("SELECT 1")),
      timeoutMs + 2000,
    );
    if (r === TIMED_OUT) throw new Error(`no answer within ${timeoutMs + 2000} ms`);
    return null;
  } catch (err) {
    const code = err && typeof err === "object" && "code" in err && err.code ? ` (${err.code})` : "";
    const msg = err instanceof Error ? err.message || err.constructor.name : String(err);
    return scrub(`${msg}${code}`, conn);
  } finally {
    await withTimeout(client.end().catch(() => {}), 1000);
  }
}

function banner(lines) {
  const width = Math.max(...lines.map((l) => l.length)) + 8;
  const bar = "#".repeat(width);
  const body = lines.map((l) => `###  ${l.padEnd(width - 8)}  ###`);
  process.stderr.write(`\n${bar}\n${bar}\n${body.join("\n")}\n${bar}\n${bar}\n\n`);
}

// ---------------------------------------------------------------------------------------
// (c) throwaway cluster

function isExecutable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Finds a directory holding both initdb and pg_ctl: PATH first, then the newest Debian layout. */
function findPgBinDir() {
  const dirs = (process.env.PATH ?? "").split(path.delimiter).filter(Boolean);
  try {
    const versions = fs
      .readdirSync("/usr/lib/postgresql")
      .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a) || b.localeCompare(a));
    for (const v of versions) dirs.push(path.join("/usr/lib/postgresql", v, "bin"));
  } catch {
    /* no Debian-style install */
  }
  for (const dir of dirs) {
    if (isExecutable(path.join(dir, "initdb")) && isExecutable(path.join(dir, "pg_ctl"))) {
      return dir;
    }
  }
  return undefined;
}

function which(cmd) {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter).filter(Boolean)) {
    if (isExecutable(path.join(dir, cmd))) return path.join(dir, cmd);
  }
  for (const dir of ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]) {
    if (isExecutable(path.join(dir, cmd))) return path.join(dir, cmd);
  }
  return undefined;
}

const shq = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

/**
 * How to run PostgreSQL server binaries: directly, or (as root, which initdb/pg_ctl refuse)
 * as the `postgres` OS user. Returns { wrap(cmd, args) => [file, args], uid, gid } or a string
 * explaining why it is impossible.
 */
function serverRunner() {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) {
    return { wrap: (cmd, args) => [cmd, args], uid: undefined, gid: undefined, as: "current user" };
  }
  const id = (flag) => spawnSync("id", [flag, "postgres"], { encoding: "utf8" });
  const u = id("-u");
  const g = id("-g");
  if (u.status !== 0 || g.status !== 0) {
    return "running as root and there is no `postgres` OS user to run initdb/pg_ctl as";
  }
  const uid = Number(u.stdout.trim());
  const gid = Number(g.stdout.trim());
  const runuser = which("runuser");
  if (runuser) {
    return { wrap: (cmd, args) => [runuser, ["-u", "postgres", "--", cmd, ...args]], uid, gid, as: "postgres (runuser)" };
  }
  const su = which("su");
  if (su) {
    return {
      wrap: (cmd, args) => [su, ["postgres", "-s", "/bin/sh", "-c", [cmd, ...args].map(shq).join(" ")]],
      uid,
      gid,
      as: "postgres (su)",
    };
  }
  return "running as root and neither runuser nor su is available to switch to `postgres`";
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** The throwaway cluster, if one was created; cleaned up by stopCluster(). */
let cluster = null;

function stopCluster() {
  if (!cluster) return;
  const c = cluster;
  cluster = null;
  if (fs.existsSync(path.join(c.data, "postmaster.pid"))) {
    const [file, args] = c.runner.wrap(c.pgCtl, ["-D", c.data, "-m", "immediate", "-w", "-t", "30", "stop"]);
    const r = spawnSync(file, args, { cwd: c.base, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    if (r.status !== 0) {
      say(`WARNING: could not stop the throwaway PostgreSQL cluster in ${c.base}:`);
      process.stderr.write(`${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}\n`);
    }
  }
  try {
    fs.rmSync(c.base, { recursive: true, force: true });
  } catch (err) {
    say(`WARNING: could not delete ${c.base}: ${err instanceof Error ? err.message : err}`);
  }
}

/** Creates and starts a throwaway cluster. Resolves to its URL, or to { error } explaining why not. */
async function startThrowawayCluster() {
  const binDir = findPgBinDir();
  if (!binDir) return { error: "initdb/pg_ctl not found (PATH, /usr/lib/postgresql/*/bin)" };
  const runner = serverRunner();
  if (typeof runner === "string") return { error: runner };

  const initdb = path.join(binDir, "initdb");
  const pgCtl = path.join(binDir, "pg_ctl");
  // As root, use /tmp: it is traversable by the postgres user, unlike e.g. a TMPDIR under /root.
  const tmpRoot = runner.uid !== undefined && fs.existsSync("/tmp") ? "/tmp" : os.tmpdir();
  const base = fs.mkdtempSync(path.join(tmpRoot, "cloaca-pg-"));
  const data = path.join(base, "data");
  const logFile = path.join(base, "postgres.log");
  cluster = { base, data, pgCtl, runner };
  if (runner.uid !== undefined) fs.chownSync(base, runner.uid, runner.gid);
  fs.chmodSync(base, 0o700);

  const run = (cmd, args) => {
    const [file, argv] = runner.wrap(cmd, args);
    return spawnSync(file, argv, { cwd: base, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  };
  const failed = (what, r) => {
    const out = `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}`.trim();
    let log = "";
    try {
      log = fs.readFileSync(logFile, "utf8").trim();
    } catch {
      /* no log yet */
    }
    stopCluster();
    return { error: `${what} failed (exit ${r.status}):\n${out}${log ? `\n--- server log ---\n${log}` : ""}` };
  };

  say(`starting a throwaway PostgreSQL cluster with ${binDir} as ${runner.as} in ${base} ...`);
  const init = run(initdb, ["-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"]);
  if (init.status !== 0) return failed("initdb", init);

  const port = await freePort();
  const serverOpts = `-p ${port} -k ${shq(base)} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  const start = run(pgCtl, ["-D", data, "-l", logFile, "-w", "-t", "60", "-o", serverOpts, "start"]);
  if (start.status !== 0) return failed("pg_ctl start", start);

  const url = `postgresql://postgres@127.0.0.1:${port}/postgres`;
  const err = await probe(url, 5000);
  if (err) return failed(`connecting to the throwaway cluster (${err})`, { status: "-", stdout: "", stderr: "" });
  return { url };
}

// ---------------------------------------------------------------------------------------
// choose the server

async function choosePostgres() {
  const explicit = process.env.CLOACA_TEST_PG_URL?.trim();
  if (explicit) {
    const err = await probe(explicit, 5000);
    if (err) {
      say(`ERROR: CLOACA_TEST_PG_URL=${mask(explicit)} is set but PostgreSQL cannot be reached there:`);
      say(`       ${err}`);
      say("       Fix the URL or the server, or unset CLOACA_TEST_PG_URL to use the local server.");
      process.exit(1);
    }
    return { url: explicit, how: "CLOACA_TEST_PG_URL" };
  }

  if (process.env.CLOACA_TEST_PG === "skip") return { url: undefined, how: "CLOACA_TEST_PG=skip", tried: [] };

  const tried = [];
  if (off("CLOACA_TEST_PG_PROBE")) {
    tried.push("local server: not probed (CLOACA_TEST_PG_PROBE=off)");
  } else {
    for (const url of LOCAL_URLS) {
      const err = await probe(url, 3000);
      if (!err) return { url, how: "local server" };
      tried.push(`${mask(url)}: ${err}`);
    }
  }

  if (off("CLOACA_TEST_PG_INITDB")) {
    tried.push("throwaway cluster: not attempted (CLOACA_TEST_PG_INITDB=off)");
  } else {
    const r = await startThrowawayCluster();
    if (r.url) return { url: r.url, how: "throwaway initdb cluster (deleted on exit)" };
    tried.push(`throwaway cluster: ${r.error}`);
  }
  return { url: undefined, how: "none", tried };
}

// ---------------------------------------------------------------------------------------
// main

let child = null;
let caughtSignal = null;

for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    caughtSignal = sig;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill(sig); // the exit handler below cleans up once vitest is gone
    } else {
      stopCluster();
      process.exit(128 + (os.constants.signals[sig] ?? 1));
    }
  });
}
process.on("exit", stopCluster);

const skipBanner = (why) => [
  "POSTGRESQL TESTS SKIPPED: ONLY SQLITE IS BEING TESTED",
  "",
  ...why,
  "",
  "Every engine behaviour must pass on PostgreSQL too. Start a server",
  `(e.g. pg_ctlcluster --skip-systemctl-redirect <version> main start), or set`,
  "CLOACA_TEST_PG_URL=postgresql://user@host:port/db, or install initdb.",
  "In CI (CI=true) this is an error, not a skip.",
];

const choice = await choosePostgres();
const env = { ...process.env };
let skipped = false;

if (choice.url) {
  say(`PostgreSQL for tests: ${mask(choice.url)}  [${choice.how}]`);
  env.CLOACA_TEST_PG_URL = choice.url;
  delete env.CLOACA_TEST_PG;
} else {
  const why = choice.tried.length
    ? ["Tried:", ...choice.tried.flatMap((t) => t.split("\n").map((l, i) => (i ? `    ${l}` : `  - ${l}`)))]
    : ["CLOACA_TEST_PG=skip was set."];
  if (isCI) {
    banner([
      choice.tried.length
        ? "ERROR: POSTGRESQL IS UNREACHABLE AND CI IS SET"
        : "ERROR: POSTGRESQL TESTS CANNOT BE SKIPPED WHEN CI IS SET",
      "",
      ...why,
      "",
      "PostgreSQL tests may not be skipped in CI. Start the server",
      "(pg_ctlcluster --skip-systemctl-redirect <version> main start) or set CLOACA_TEST_PG_URL.",
    ]);
    process.exit(1);
  }
  banner(skipBanner(why));
  skipped = true;
  env.CLOACA_TEST_PG = "skip";
  // The closing line must come after the second banner, so the reporter leaves it to us.
  env.CLOACA_TEST_SUMMARY_DEFER = "1";
  delete env.CLOACA_TEST_PG_URL;
}

const summaryFile = path.join(os.tmpdir(), `cloaca-test-summary-${process.pid}-${randomBytes(4).toString("hex")}.json`);
env.CLOACA_TEST_SUMMARY_FILE = summaryFile;

if (!fs.existsSync(VITEST)) {
  say(`ERROR: ${VITEST} not found; run \`npm ci\` first.`);
  process.exit(1);
}

child = spawn(process.execPath, [VITEST, "run", ...process.argv.slice(2)], {
  cwd: ROOT,
  env,
  stdio: "inherit",
});

child.on("error", (err) => {
  say(`ERROR: could not start vitest: ${err.message}`);
  stopCluster();
  process.exit(1);
});

child.on("exit", (code, signal) => {
  stopCluster();
  let summary = null;
  try {
    summary = JSON.parse(fs.readFileSync(summaryFile, "utf8"));
    fs.rmSync(summaryFile, { force: true });
  } catch {
    /* vitest did not get as far as the end of the run */
  }
  let exitCode = code ?? 128 + (os.constants.signals[signal ?? caughtSignal ?? "SIGTERM"] ?? 1);
  if (caughtSignal && exitCode === 0) exitCode = 128 + (os.constants.signals[caughtSignal] ?? 1);

  if (skipped) {
    banner(skipBanner(["(see the top of this output for why)"]));
  }
  if (summary && skipped) {
    process.stdout.write(`${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped\n`);
  } else if (!summary && exitCode !== 0) {
    say(`ERROR: vitest exited with ${signal ?? `code ${code}`} before finishing the run.`);
    process.stdout.write("0 passed, 1 failed, 0 skipped\n");
  }
  process.exit(exitCode);
});
