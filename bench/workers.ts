/**
 * Scale-out benchmark: tasks/s of the `parallel` workload (setup → 3 branches → merge) on PostgreSQL with
 * 1, 2 and 4 worker processes sharing one schema. A submit-only runner (maxConcurrentTasks 0) in this
 * process starts N executions at once and waits for all; every result is verified before any figure is
 * printed. Usage: npx tsx bench/workers.ts [--workers 1,2,4] [-n 1000] [-c 32] [--reps 3] [--write-lanes L]
 * [--pg-url URL] [--out FILE] (`--write-lanes`: each worker's `writeLanes`; default: the engine's default).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import pg from "pg";
import { DefaultRunner } from "./engine.js";
import { WORKLOADS } from "./workloads.js";

const { values } = parseArgs({
  options: {
    workers: { type: "string", default: "1,2,4" },
    n: { type: "string", short: "n", default: "1000" },
    c: { type: "string", short: "c", default: "32" },
    reps: { type: "string", default: "3" },
    "write-lanes": { type: "string" },
    "pg-url": { type: "string", default: "postgresql://postgres@127.0.0.1:5432/test" },
    out: { type: "string" },
  },
});
const counts = values.workers!.split(",").map(Number);
const N = Number(values.n);
const C = Number(values.c);
const REPS = Number(values.reps);
const LANES = values["write-lanes"];
if (LANES !== undefined && !/^[1-9][0-9]*$/.test(LANES)) throw new Error(`--write-lanes must be a positive integer (got "${LANES}")`);
const url = values["pg-url"]!;
const entry = fileURLToPath(new URL("./worker-process.ts", import.meta.url));
const parallel = WORKLOADS.parallel;

function startWorker(schema: string): Promise<ChildProcess> {
  const args = [entry, url, schema, String(C), ...(LANES ? [LANES] : [])];
  const proc = spawn(process.execPath, ["--import", "tsx", ...args], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    proc.once("exit", (code) => reject(new Error(`worker exited (${code}) before READY`)));
    createInterface({ input: proc.stdout! }).on("line", (l) => l.startsWith("READY") && resolve(proc));
  });
}

async function once(workers: number): Promise<number> {
  const schema = `bench_w_${randomBytes(4).toString("hex")}`;
  const submitter = DefaultRunner.withSchema(url, schema, { maxConcurrentTasks: 0, workflows: [parallel.workflow] });
  await submitter.ready();
  const procs = await Promise.all(Array.from({ length: workers }, () => startWorker(schema)));
  try {
    // warm-up
    for (const r of await Promise.all(Array.from({ length: 20 }, (_, i) => submitter.execute(parallel.workflow.name, parallel.input(i))))) {
      const bad = parallel.verify(r, parallel.input(r.finalContext.get<number>("i")!));
      if (bad) throw new Error(`warm-up result wrong: ${bad}`);
    }
    const t0 = performance.now();
    const execs = await Promise.all(Array.from({ length: N }, (_, i) => submitter.start(parallel.workflow.name, parallel.input(i))));
    const results = await Promise.all(execs.map((e) => e.wait({ timeoutMs: 600_000 })));
    const seconds = (performance.now() - t0) / 1000;
    results.forEach((r, i) => {
      const bad = parallel.verify(r, parallel.input(i));
      if (bad) throw new Error(`result ${i} wrong: ${bad}`);
    });
    return (N * parallel.tasks) / seconds;
  } finally {
    for (const p of procs) p.kill("SIGTERM");
    await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once("exit", r)))));
    await submitter.shutdown();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await c.end();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rows: string[] = [];
let base: number | undefined;
for (const k of counts) {
  const samples: number[] = [];
  for (let r = 0; r < REPS; r++) samples.push(await once(k));
  const m = median(samples);
  base ??= m;
  rows.push(`| ${k} | ${N} | ${C} | ${Math.round(m / parallel.tasks)} | ${Math.round(m)} | ${(m / base).toFixed(2)}× | ${Math.round(Math.min(...samples))}–${Math.round(Math.max(...samples))} |`);
  console.error(`workers=${k}: ${samples.map(Math.round).join(", ")} tasks/s`);
}
const table = [
  `Scale-out, \`parallel\` workload on PostgreSQL (${new Date().toISOString().slice(0, 16)}Z, medians of ${REPS}${LANES ? `, writeLanes ${LANES}` : ""}; every result verified)`,
  "",
  "| worker processes | N | C per worker | workflows/s | tasks/s | vs 1 worker | tasks/s min–max |",
  "|--:|--:|--:|--:|--:|--:|--:|",
  ...rows,
  "",
  `Command: \`npx tsx bench/workers.ts --workers ${values.workers} -n ${N} -c ${C} --reps ${REPS}\``,
].join("\n");
console.log(table);
if (values.out) writeFileSync(values.out, table + "\n");
