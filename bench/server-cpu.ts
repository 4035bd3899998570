/**
 * CPU time of the database (or Redis) server's processes on this machine, read from `/proc`, so a
 * measured region can say how much CPU the server spent per task beside the engine's own (`process.cpuUsage`).
 * With both, a run shows which side a workload is bound by: on a machine of `k` cores no system can go
 * faster than `k / (client + server CPU per task)` tasks/s.
 *
 * It counts every process whose command name matches (PostgreSQL: the postmaster, every backend, the WAL
 * writer, the checkpointer, autovacuum), so other sessions on the same server are counted too (the bench
 * notes how many there were). Unavailable (undefined) when the server is not local or `/proc` cannot be read.
 */
import { readdirSync, readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";

/** Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`, 100 on Linux when unknown). */
const ticksPerSecond = (() => {
  try {
    const n = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/**
 * CPU time of one process so far, µs: the sum over its threads of `/proc/<pid>/task/<tid>/schedstat` (time
 * on a CPU, in ns) where the kernel has it, else user + system time from `/proc/<pid>/stat`, whose clock
 * ticks (10 ms) are too coarse for a phase of a few hundred milliseconds spread over a dozen backends.
 * (`/proc/<pid>/schedstat` alone is the main thread's: pgbench runs a thread per `-j`.)
 */
function cpuOf(pid: string, stat: string): number {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    if (Number.isFinite(ns)) return ns / 1000;
  } catch {
    // no schedstat (or the process ended meanwhile): fall back to the ticks
  }
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) / ticksPerSecond) * 1e6; // utime, stime (fields 14, 15)
}

/** CPU time so far (µs) of each process named `comm`, by pid; undefined when `/proc` cannot be read. */
export function processCpuUs(comm: string): Map<string, number> | undefined {
  let names: string[];
  try {
    names = readdirSync("/proc");
  } catch {
    return undefined;
  }
  const out = new Map<string, number>();
  for (const pid of names) {
    if (!/^\d+$/.test(pid)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile, or not ours to read
    }
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so it ends at the last ")".
    if (stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")) !== comm) continue;
    out.set(pid, cpuOf(pid, stat));
  }
  return out;
}

/** True when `host` (from a connection URL) is this machine, so its server's processes are ours to read. */
export function isLocalHost(host: string | undefined): boolean {
  return host === undefined || host === "" || host === "localhost" || host === "::1" || host === "[::1]" || host.startsWith("127.") || host.startsWith("/");
}

/**
 * A meter for one region: `stop()` gives the CPU (µs) the processes named `comm` used since the meter was
 * made, or undefined (no `comm`, nothing readable, or no such process). A process first seen inside the
 * region (a new connection's backend) counts whole. One that ended inside it counts up to its last reading:
 * with `sampleMs` the meter reads every so often (for a region whose connections close before it ends, as
 * pgbench's do), otherwise only at the ends (the engine's and the peers' pools keep their connections open
 * through a measured region, and reading costs this process CPU).
 */
export function serverCpuMeter(comm: string | undefined, options: { sampleMs?: number } = {}): { stop(): number | undefined } {
  const first = comm ? processCpuUs(comm) : undefined;
  const last = new Map(first);
  const read = () => {
    // A thread that ended takes its time out of its process's sum: keep the highest reading.
    for (const [pid, cpu] of (comm && processCpuUs(comm)) || []) last.set(pid, Math.max(cpu, last.get(pid) ?? 0));
  };
  const timer = first && options.sampleMs ? setInterval(read, options.sampleMs) : undefined;
  timer?.unref();
  return {
    stop() {
      if (timer) clearInterval(timer);
      if (!first) return undefined;
      read();
      if (!last.size) return undefined;
      let us = 0;
      for (const [pid, cpu] of last) us += Math.max(0, cpu - (first.get(pid) ?? 0));
      return us;
    },
  };
}
