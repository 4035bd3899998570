/**
 * The bench's server CPU meter (bench/server-cpu.ts) reads other processes' CPU time from /proc. Here it
 * meters this very process by its command name, around a known amount of busy work, and a running
 * PostgreSQL server's backends around a query that keeps one busy.
 */
import { readFileSync } from "node:fs";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { isLocalHost, processCpuUs, serverCpuMeter } from "../../bench/server-cpu.js";
import { pgUrl } from "../support/backends.js";

/** This process's command name, as /proc/<pid>/stat gives it. */
function ownComm(): string {
  const stat = readFileSync("/proc/self/stat", "utf8");
  return stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
}

/** Busy until this process has used `ms` more of CPU time (not wall time: other tests share the cores). */
function spin(ms: number): void {
  const start = process.cpuUsage();
  for (;;) {
    const used = process.cpuUsage(start);
    if ((used.user + used.system) / 1000 >= ms) return;
  }
}

describe("bench server CPU meter", () => {
  it("finds this process by its command name and counts the CPU it spends in the region", () => {
    const all = processCpuUs(ownComm());
    expect(all?.has(String(process.pid))).toBe(true);
    const meter = serverCpuMeter(ownComm());
    spin(60);
    const us = meter.stop();
    // At least the 60 ms spun (schedstat and rusage round differently, hence 50), and not wildly more:
    // any other process with the same name (another test worker) counts too, so the upper bound is loose.
    expect(us).toBeGreaterThanOrEqual(50_000);
    expect(us).toBeLessThan(60_000 * 40);
  });

  it("gives nothing for a name no process has, and no meter without a name", () => {
    expect(processCpuUs("no-such-process-name")?.size).toBe(0);
    expect(serverCpuMeter("no-such-process-name").stop()).toBeUndefined();
    expect(serverCpuMeter(undefined).stop()).toBeUndefined();
  });

  it("knows which hosts are this machine", () => {
    for (const host of ["", "localhost", "127.0.0.1", "127.0.1.1", "::1", "[::1]", "/var/run/postgresql"]) expect(isLocalHost(host)).toBe(true);
    for (const host of ["db.example.com", "10.0.0.5", "[2001:db8::1]"]) expect(isLocalHost(host)).toBe(false);
  });

  // The test server is on this machine (scripts/run-tests.mjs uses or starts a local one).
  if (pgUrl && isLocalHost(new URL(pgUrl).hostname)) {
    it("counts the local PostgreSQL server's CPU while a backend works", async () => {
      const client = new pg.Client({ connectionString: pgUrl });
      await client.connect();
      try {
        const meter = serverCpuMeter("postgres");
        // Some 100 ms of server CPU: a backend summing a generated series.
        const started = performance.now();
        await client.query("SELECT sum(i) FROM generate_series(1, 3000000) AS i");
        const wallMs = performance.now() - started;
        const us = meter.stop();
        // The backend computed for most of the query's wall time; on a machine shared with other tests it
        // may have waited for a core, so only a loose lower bound holds.
        expect(us! / 1000).toBeGreaterThan(wallMs * 0.3);
      } finally {
        await client.end();
      }
    });
  }
});
