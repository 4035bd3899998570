/**
 * The quick-start demo: an ETL-shaped workflow on the embedded SQLite default.
 *   extract → (clean, enrich, score) in parallel → merge → load
 * `enrich` fails on its first attempt (a simulated flaky API) and is retried.
 * Run it with `npm run demo`; pass a database URL as the first argument to use another database.
 */
import { Context, DefaultRunner, WorkflowBuilder } from "../src/index.js";

const url = process.argv[2] ?? "sqlite:///.demo/workflows.db";
let enrichCalls = 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

new WorkflowBuilder("etl-demo")
  .description("extract → three parallel transforms → merge → load")
  .task("extract", async (ctx) => {
    await sleep(50);
    ctx.set("rows", [3, 1, 4, 1, 5, 9, 2, 6]);
  })
  .task("clean", { dependencies: ["extract"] }, async (ctx) => {
    await sleep(30);
    ctx.set("clean", [...new Set(ctx.get<number[]>("rows"))]);
  })
  .task(
    "enrich",
    { dependencies: ["extract"], retry: { maxAttempts: 3, backoff: "fixed", initialDelayMs: 200, jitter: false } },
    async (ctx, handle) => {
      enrichCalls++;
      await sleep(30);
      if (handle.attempt === 1) throw new Error("upstream API unavailable (simulated, first attempt only)");
      ctx.set("enriched", ctx.get<number[]>("rows")!.map((r) => ({ value: r, square: r * r })));
    },
  )
  .task("score", { dependencies: ["extract"] }, async (ctx) => {
    await sleep(30);
    ctx.set("score", ctx.get<number[]>("rows")!.reduce((a, b) => a + b, 0));
  })
  .task("merge", { dependencies: ["clean", "enrich", "score"] }, async (ctx) => {
    ctx.set("report", {
      distinct: ctx.get<number[]>("clean")!.length,
      enriched: ctx.get<unknown[]>("enriched")!.length,
      score: ctx.get<number>("score")!,
    });
  })
  .task("load", { dependencies: ["merge"] }, async (ctx) => {
    await sleep(20);
    ctx.set("loadedAt", new Date().toISOString());
  })
  .build();

const t0 = Date.now();
const stamp = () => `+${String(Date.now() - t0).padStart(5)} ms`;
const runner = await DefaultRunner.connect(url, { maxConcurrentTasks: 4 });
console.log(`cloaca demo — database ${runner.databaseUrl}`);
runner
  .on("taskStarted", (e) => console.log(`${stamp()}  ▶ ${e.taskId.padEnd(8)} attempt ${e.attempt}`))
  .on("taskCompleted", (e) => console.log(`${stamp()}  ✔ ${e.taskId.padEnd(8)} ${e.durationMs} ms`))
  .on("taskRetrying", (e) => console.log(`${stamp()}  ↻ ${e.taskId.padEnd(8)} failed: ${e.error}; retry in ${e.delayMs} ms`))
  .on("taskFailed", (e) => console.log(`${stamp()}  ✘ ${e.taskId.padEnd(8)} ${e.error}`));

try {
  const result = await runner.execute("etl-demo", new Context({ day: "2026-11-26" }));
  console.log("");
  console.log(`execution ${result.executionId}: ${result.status} in ${result.durationMs} ms`);
  for (const t of result.taskResults) {
    console.log(`  ${t.taskId.padEnd(8)} ${t.status.padEnd(9)} attempts=${t.attempts}${t.errorMessage ? `  last error: ${t.errorMessage}` : ""}`);
  }
  console.log(`final context: ${JSON.stringify(result.finalContext.get("report"))} (day=${result.finalContext.get("day")})`);
  if (result.status !== "Completed" || enrichCalls !== 2) process.exitCode = 1;
} finally {
  await runner.shutdown();
}
