/**
 * The PostgreSQL write ceiling on this machine, measured in the same run as the engine and the peers:
 * single-row INSERTs, each its own (autocommit) transaction, over 16 connections at once — so the server
 * can group commits — into a scratch table in a fresh schema (dropped afterwards).
 *
 * - `pgbench` (`/usr/bin/pgbench`, or `PGBENCH`): `-n -M prepared -c 16 -j 2 -T <s>` with a one-line
 *   custom script; its own process, C client, so it is the tighter bound.
 * - a `pg` loop: 16 `pg.Client`s in this Node process, each inserting in a loop (named prepared statement)
 *   — the ceiling as seen through the same driver the engine and the peers use.
 * Both check the row count afterwards.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import pg from "pg";
import { serverCpuMeter } from "../server-cpu.js";

export interface CeilingResult {
  tool: "pgbench" | "pg";
  connections: number;
  commits: number;
  elapsedMs: number;
  /** pgbench: its reported average; pg loop: p50 of every INSERT. */
  latencyMs: number;
  latencyP95Ms: number | undefined;
  /** CPU of the client (pgbench's process, or this process for the `pg` loop) while it ran, µs; undefined if unreadable. */
  clientCpuUs: number | undefined;
  /** CPU of the local server's processes meanwhile, µs (see ../server-cpu.ts); undefined if not local. */
  serverCpuUs: number | undefined;
}

const run = promisify(execFile);

async function withScratch<T>(url: string, schema: string, f: (table: string, count: () => Promise<number>) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: url, application_name: "cloaca-bench-ceiling" });
  await admin.connect();
  try {
    await admin.query(`CREATE SCHEMA "${schema}"`);
    await admin.query(`CREATE TABLE "${schema}".commits (id bigserial PRIMARY KEY, payload text NOT NULL)`);
    const count = async () => Number((await admin.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".commits`)).rows[0]!.n);
    return await f(`"${schema}".commits`, count);
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await admin.end();
  }
}

export async function pgbenchCeiling(url: string, schema: string, connections: number, seconds: number, serverProcess?: string): Promise<CeilingResult> {
  const bin = process.env.PGBENCH ?? "/usr/bin/pgbench";
  return withScratch(url, schema, async (table, count) => {
    const dir = mkdtempSync(join(tmpdir(), "cloaca-ceiling-"));
    try {
      const script = join(dir, "insert.sql");
      writeFileSync(script, `INSERT INTO ${table} (payload) VALUES ('row');\n`);
      // pgbench's connections close before it exits: read both sides every 50 ms to keep their last figures.
      const server = serverCpuMeter(serverProcess, { sampleMs: 50 });
      const client = serverCpuMeter("pgbench", { sampleMs: 50 });
      const { stdout } = await run(bin, ["-n", "-M", "prepared", "-c", String(connections), "-j", "2", "-T", String(seconds), "-f", script, url], {
        timeout: (seconds + 30) * 1000,
      });
      const serverCpuUs = server.stop();
      const clientCpuUs = client.stop();
      const processed = /number of transactions actually processed:\s*(\d+)/.exec(stdout);
      const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout);
      const lat = /latency average = ([\d.]+) ms/.exec(stdout);
      const failed = /number of failed transactions:\s*(\d+)/.exec(stdout);
      if (!processed || !tps || !lat) throw new Error(`pgbench: unexpected output:\n${stdout}`);
      if (failed && Number(failed[1]) !== 0) throw new Error(`pgbench: ${failed[1]} failed transactions`);
      const commits = Number(processed[1]);
      const rows = await count();
      if (rows !== commits) throw new Error(`pgbench: ${rows} rows for ${commits} transactions`);
      return { tool: "pgbench", connections, commits, elapsedMs: (commits / Number(tps[1])) * 1000, latencyMs: Number(lat[1]), latencyP95Ms: undefined, clientCpuUs, serverCpuUs };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

export async function pgLoopCeiling(url: string, schema: string, connections: number, durationMs: number, serverProcess?: string): Promise<CeilingResult> {
  return withScratch(url, schema, async (table, count) => {
    const clients = Array.from({ length: connections }, () => new pg.Client({ connectionString: url, application_name: "cloaca-bench-ceiling" }));
    await Promise.all(clients.map((c) => c.connect()));
    try {
      const insert = { name: "bench_ceiling_insert", text: `INSERT INTO ${table} (payload) VALUES ($1)` };
      await Promise.all(clients.map((c) => c.query({ ...insert, values: ["warm"] })));
      const latencies: number[] = [];
      const server = serverCpuMeter(serverProcess);
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const end = t0 + durationMs;
      await Promise.all(
        clients.map(async (c) => {
          while (performance.now() < end) {
            const s = performance.now();
            await c.query({ ...insert, values: ["row"] });
            latencies.push(performance.now() - s);
          }
        }),
      );
      const elapsedMs = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const serverCpuUs = server.stop();
      const rows = await count();
      if (rows !== latencies.length + connections) throw new Error(`pg loop: ${rows} rows, expected ${latencies.length + connections}`);
      latencies.sort((a, b) => a - b);
      const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.max(0, Math.ceil((p / 100) * latencies.length) - 1))]!;
      return { tool: "pg", connections, commits: latencies.length, elapsedMs, latencyMs: pct(50), latencyP95Ms: pct(95), clientCpuUs: cpu.user + cpu.system, serverCpuUs };
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });
}
