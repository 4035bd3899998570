/**
 * The benchmark workflows: the shapes of the reference's `examples/performance` (simple, pipeline,
 * parallel), with trivial JSON task bodies, and a strict check of every result (status, every task
 * Completed on its first attempt, and the final-context keys and values for *this* input, so a result
 * delivered to the wrong caller is caught too).
 */
import { WorkflowBuilder, type Context, type Workflow, type WorkflowResult } from "./engine.js";

export type WorkloadName = "simple" | "pipeline" | "parallel";

export interface Workload {
  readonly name: WorkloadName;
  readonly workflow: Workflow;
  /** Tasks per execution. */
  readonly tasks: number;
  /** The input of the i-th execution. */
  input(i: number): Record<string, number>;
  /** Undefined when `result` is right for `input`; otherwise what is wrong. */
  verify(result: WorkflowResult, input: Record<string, number>): string | undefined;
}

const NO_RETRY = { maxAttempts: 1 } as const;

function num(ctx: { get<T>(key: string): T | undefined }, key: string): number {
  const v = ctx.get<number>(key);
  if (typeof v !== "number") throw new Error(`context key "${key}" is missing or not a number (got ${JSON.stringify(v)})`);
  return v;
}

/** Common checks: status Completed, every task Completed once, the input key `i` carried through. */
function verifyCommon(result: WorkflowResult, input: Record<string, number>, tasks: number): string | undefined {
  if (result.status !== "Completed") return `status ${result.status}${result.errorMessage ? ` (${result.errorMessage})` : ""}`;
  if (result.taskResults.length !== tasks) return `${result.taskResults.length} task results, expected ${tasks}`;
  for (const t of result.taskResults) {
    if (t.status !== "Completed") return `task ${t.taskId} is ${t.status}`;
    if (t.attempts !== 1) return `task ${t.taskId} ran ${t.attempts} attempts`;
  }
  const i = result.finalContext.get("i");
  if (i !== input.i) return `final context i=${JSON.stringify(i)}, expected ${input.i} (result of another execution?)`;
  return undefined;
}

function expectKey(result: WorkflowResult, key: string, expected: unknown): string | undefined {
  const got = result.finalContext.get(key);
  return JSON.stringify(got) === JSON.stringify(expected)
    ? undefined
    : `final context ${key}=${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`;
}

const simple: Workload = {
  name: "simple",
  tasks: 1,
  workflow: new WorkflowBuilder("bench-simple")
    .task("hello_world", { retry: NO_RETRY }, (ctx) => {
      ctx.set("message", "Hello World!");
    })
    .build({ register: false }),
  input: (i) => ({ i }),
  verify: (r, input) => verifyCommon(r, input, 1) ?? expectKey(r, "message", "Hello World!"),
};

const pipeline: Workload = {
  name: "pipeline",
  tasks: 3,
  workflow: new WorkflowBuilder("bench-pipeline")
    .task("a", { retry: NO_RETRY }, (ctx) => {
      ctx.set("x", num(ctx, "x0") + 1);
    })
    .task("b", { dependencies: ["a"], retry: NO_RETRY }, (ctx) => {
      ctx.set("x", num(ctx, "x") + 1);
    })
    .task("c", { dependencies: ["b"], retry: NO_RETRY }, (ctx) => {
      ctx.set("x", num(ctx, "x") + 1);
      ctx.set("load_status", "success");
    })
    .build({ register: false }),
  input: (i) => ({ i, x0: 1000 * i + 7 }),
  verify: (r, input) =>
    verifyCommon(r, input, 3) ?? expectKey(r, "x", input.x0! + 3) ?? expectKey(r, "load_status", "success"),
};

const batch = (i: number, k: number) => [0, 1, 2, 3, 4].map((j) => i + 10 * k + j);
const parallelSum = (i: number) => [1, 2, 3].reduce((s, k) => s + batch(i, k).reduce((a, b) => a + b, 0) * (k + 1), 0);

const processBatch = (k: 1 | 2 | 3) => (ctx: Context) => {
  const b = ctx.get<number[]>(`batch_${k}`);
  if (!Array.isArray(b) || b.length !== 5) throw new Error(`batch_${k} missing`);
  ctx.set(`result_batch_${k}`, b.map((v) => v * (k + 1)));
};
const parallelBuilder = new WorkflowBuilder("bench-parallel")
  .task("setup_data", { retry: NO_RETRY }, (ctx) => {
    const i = num(ctx, "i");
    for (const k of [1, 2, 3]) ctx.set(`batch_${k}`, batch(i, k));
  })
  .task("process_batch_1", { dependencies: ["setup_data"], retry: NO_RETRY }, processBatch(1))
  .task("process_batch_2", { dependencies: ["setup_data"], retry: NO_RETRY }, processBatch(2))
  .task("process_batch_3", { dependencies: ["setup_data"], retry: NO_RETRY }, processBatch(3));
const parallel: Workload = {
  name: "parallel",
  tasks: 5,
  workflow: parallelBuilder
    .task(
      "merge_results",
      { dependencies: ["process_batch_1", "process_batch_2", "process_batch_3"], retry: NO_RETRY },
      (ctx) => {
        let items = 0;
        let sum = 0;
        for (const k of [1, 2, 3]) {
          const r = ctx.get<number[]>(`result_batch_${k}`);
          if (!Array.isArray(r)) throw new Error(`merge: result_batch_${k} missing from the merged context`);
          items += r.length;
          sum += r.reduce((a, b) => a + b, 0);
        }
        ctx.set("total_items_processed", items);
        ctx.set("sum", sum);
        ctx.set("merge_status", "success");
      },
    )
    .build({ register: false }),
  input: (i) => ({ i }),
  verify: (r, input) =>
    verifyCommon(r, input, 5) ??
    expectKey(r, "merge_status", "success") ??
    expectKey(r, "total_items_processed", 15) ??
    expectKey(r, "sum", parallelSum(input.i!)) ??
    expectKey(r, "result_batch_3", batch(input.i!, 3).map((v) => v * 4)),
};

export const WORKLOADS: Record<WorkloadName, Workload> = { simple, pipeline, parallel };
export const ALL_WORKFLOWS: Workflow[] = [simple.workflow, pipeline.workflow, parallel.workflow];
