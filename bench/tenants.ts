/**
 * `npx tsx bench/tenants.ts`: what many tenants in one process cost. Prints one markdown table.
 *
 * Each row runs in a fresh child process (so RSS is that row's alone):
 * - `withSchema`: N runners `DefaultRunner.withSchema(url, "<prefix>_<i>")` on ONE login — they share one
 *   pool (sized by the largest `dbPoolSize`, default 10) and one LISTEN connection;
 * - `role per tenant`: N tenants made by `DatabaseAdmin.createTenant`, each runner on its own
 *   credentials' connection string — one pool and one LISTEN connection per tenant (`dbPoolSize` 2 here).
 *
 * Columns: connections used = peak of pg_stat_activity rows with this child's application_name, sampled
 * every 10 ms from another connection while starting and running; RSS before (no runner yet) and after
 * (all started, all executions done); start = constructing every runner until all are `ready()` (fresh
 * schemas: includes creating the engine tables); executions/s = `-e` executions of a 3-task chain per
 * tenant, all submitted at once (after one untimed warm-up execution per tenant), until the last one is
 * done. Every result is checked (status Completed,
 * final context `{ tenant, a, b, c }` with the right values) before a figure is printed; a wrong one fails
 * the run (exit 1). Schemas and roles are dropped afterwards.
 *
 * Flags: --tenants 1,10,50,100,200 (withSchema rows; 1 = the single-tenant baseline), --roles 10 (role-per-tenant rows; 0 = none),
 * -e 20 (executions per tenant), --write-lanes L (each withSchema runner's `writeLanes`; default: the engine's),
 * --pg-url postgresql://postgres@127.0.0.1:5432/test.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import pg from "pg";
import { DatabaseAdmin, DefaultRunner, WorkflowBuilder, type TenantCredentials } from "./engine.js";

type Mode = "withSchema" | "role per tenant";

interface Row {
  mode: Mode;
  tenants: number;
  bound: string;
  peakConnections: number;
  rssBeforeMb: number;
  rssAfterMb: number;
  startMs: number;
  executions: number;
  executionsPerSecond: number;
}

const USAGE = "usage: npx tsx bench/tenants.ts [--tenants 1,10,50,100,200] [--roles 10] [-e 20] [--write-lanes L] [--pg-url URL]";

const { values } = parseArgs({
  options: {
    tenants: { type: "string", default: "1,10,50,100,200" },
    roles: { type: "string", default: "10" },
    e: { type: "string", short: "e", default: "20" },
    "write-lanes": { type: "string" },
    "pg-url": { type: "string", default: "postgresql://postgres@127.0.0.1:5432/test" },
    child: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});

function counts(text: string, flag: string): number[] {
  const list = text.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  if (list.some((n) => !Number.isInteger(n) || n < 0)) {
    process.stderr.write(`bench/tenants: ${flag} wants whole numbers, got ${JSON.stringify(text)}\n${USAGE}\n`);
    process.exit(2);
  }
  return list.filter((n) => n > 0);
}

const withParam = (url: string, key: string, value: string) => `${url}${url.includes("?") ? "&" : "?"}${key}=${encodeURIComponent(value)}`;

// ------------------------------------------------------------------ one row (child process)

if (values["write-lanes"] !== undefined && !/^[1-9][0-9]*$/.test(values["write-lanes"])) {
  process.stderr.write(`bench/tenants: --write-lanes wants a positive whole number, got ${JSON.stringify(values["write-lanes"])}\n${USAGE}\n`);
  process.exit(2);
}
/** The withSchema runners' `writeLanes` (`--write-lanes`), or the engine's default. */
const lanes = values["write-lanes"] === undefined ? {} : { writeLanes: Number(values["write-lanes"]) };

async function measure(mode: Mode, tenants: number, perTenant: number, baseUrl: string): Promise<Row> {
  const app = `cloaca_bench_tenants_${process.pid}`;
  const url = withParam(baseUrl, "application_name", app);
  const prefix = `bt_${randomBytes(3).toString("hex")}`;
  const names = Array.from({ length: tenants }, (_, i) => ({ schemaName: `${prefix}_${i}`, username: `${prefix}_u${i}` }));
  const POOL = mode === "withSchema" ? 10 : 2;

  const watcher = new pg.Client({ connectionString: withParam(baseUrl, "application_name", `${app}_watch`) });
  await watcher.connect();
  const admin = mode === "role per tenant" ? new DatabaseAdmin(withParam(baseUrl, "application_name", `${app}_admin`)) : undefined;
  const runners: DefaultRunner[] = [];
  try {
    // Role-per-tenant: provision first (not timed); connection strings inherit application_name=app.
    const tenantUrls: string[] = [];
    if (admin) {
      for (const n of names) {
        const creds: TenantCredentials = await admin.createTenant(n);
        tenantUrls.push(creds.connectionString.replace(`application_name=${encodeURIComponent(`${app}_admin`)}`, `application_name=${app}`));
      }
    }
    const flow = new WorkflowBuilder("tenant_chain")
      .task("a", (ctx) => ctx.set("a", 1))
      .task("b", { dependencies: ["a"] }, (ctx) => ctx.set("b", ctx.get<number>("a")! + 1))
      .task("c", { dependencies: ["b"] }, (ctx) => ctx.set("c", ctx.get<number>("b")! + 1))
      .build({ register: false });

    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const { rows } = await watcher.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1", [app]);
        peak = Math.max(peak, rows[0]!.n);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();

    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    const t0 = performance.now();
    for (let i = 0; i < tenants; i++) {
      runners.push(
        admin
          ? new DefaultRunner(tenantUrls[i]!, { workflows: [flow], dbPoolSize: POOL })
          : DefaultRunner.withSchema(url, names[i]!.schemaName, { workflows: [flow], ...lanes }),
      );
    }
    await Promise.all(runners.map((r) => r.ready()));
    const startMs = performance.now() - t0;

    // Warm-up (not timed): one execution per tenant.
    const warm = await Promise.all(runners.map((r, i) => r.execute("tenant_chain", { tenant: names[i]!.schemaName })));

    const t1 = performance.now();
    const results = await Promise.all(
      runners.flatMap((r, i) => Array.from({ length: perTenant }, () => r.execute("tenant_chain", { tenant: names[i]!.schemaName }))),
    );
    const runMs = performance.now() - t1;
    const rssAfter = process.memoryUsage().rss;
    sampling = false;
    await sampler;

    [...warm, ...results].forEach((res, k) => {
      const tenant = names[k < tenants ? k : Math.floor((k - tenants) / perTenant)]!.schemaName;
      const ctx = res.finalContext.toObject();
      if (res.status !== "Completed" || JSON.stringify(ctx) !== JSON.stringify({ tenant, a: 1, b: 2, c: 3 })) {
        throw new Error(`wrong result for ${tenant}: ${res.status} ${JSON.stringify(ctx)}`);
      }
    });
    // Each tenant's executions are in its own schema.
    for (const [i, n] of names.entries()) {
      const { rows } = await watcher.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${n.schemaName}".cloaca_executions`);
      if (rows[0]!.n !== perTenant + 1) throw new Error(`tenant ${i}: ${rows[0]!.n} executions in its schema, expected ${perTenant + 1}`);
    }
    return {
      mode,
      tenants,
      bound: mode === "withSchema" ? `${POOL} + 1` : `${tenants} × (${POOL} + 1)`,
      peakConnections: peak,
      rssBeforeMb: rssBefore / 2 ** 20,
      rssAfterMb: rssAfter / 2 ** 20,
      startMs,
      executions: results.length,
      executionsPerSecond: results.length / (runMs / 1000),
    };
  } finally {
    await Promise.all(runners.map((r) => r.shutdown({ timeoutMs: 5_000 })));
    if (admin) {
      for (const n of names) await admin.removeTenant(n.schemaName, n.username).catch(() => undefined);
      await admin.close();
    } else {
      for (const n of names) await watcher.query(`DROP SCHEMA IF EXISTS "${n.schemaName}" CASCADE`);
    }
    await watcher.end();
  }
}

// ------------------------------------------------------------------ driver

function runChild(mode: Mode, tenants: number): Promise<Row> {
  const self = fileURLToPath(import.meta.url);
  const args = ["--import", "tsx", self, "--child", `${mode === "withSchema" ? "schema" : "role"}:${tenants}`, "-e", values.e!, "--pg-url", values["pg-url"]!];
  if (values["write-lanes"] !== undefined) args.push("--write-lanes", values["write-lanes"]);
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  return new Promise((resolve, reject) => {
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`the ${mode} row with ${tenants} tenants failed (exit ${code})`));
      try {
        resolve(JSON.parse(out.trim().split("\n").pop()!) as Row);
      } catch (err) {
        reject(err);
      }
    });
  });
}

if (values.help) {
  process.stdout.write(`${USAGE}\n`);
} else if (values.child) {
  const [kind, n] = values.child.split(":");
  const row = await measure(kind === "role" ? "role per tenant" : "withSchema", Number(n), Number(values.e), values["pg-url"]!);
  process.stdout.write(`${JSON.stringify(row)}\n`);
} else {
  const perTenant = counts(values.e!, "-e")[0] ?? 10;
  const plan: Array<[Mode, number]> = [
    ...counts(values.tenants!, "--tenants").map((n): [Mode, number] => ["withSchema", n]),
    ...counts(values.roles!, "--roles").map((n): [Mode, number] => ["role per tenant", n]),
  ];
  const rows: Row[] = [];
  try {
    for (const [mode, n] of plan) {
      process.stderr.write(`bench/tenants: ${mode}, ${n} tenants, ${perTenant} executions each …\n`);
      rows.push(await runChild(mode, n));
    }
  } catch (err) {
    process.stderr.write(`bench/tenants: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const line = (cells: Array<string | number>) => `| ${cells.join(" | ")} |`;
  const out = [
    `cloaca tenants in one process — ${new Date().toISOString()}, Node ${process.version}, ${cpus().length} CPUs, load average ${loadavg()[0]!.toFixed(1)} at the end; ${perTenant} executions of a 3-task chain per tenant`,
    "",
    line(["tenants", "mode", "connection bound", "connections used (peak)", "RSS MB before → after", "start all (ms)", "executions", "executions/s"]),
    line(["---:", "---", "---", "---:", "---", "---:", "---:", "---:"]),
    ...rows.map((r) =>
      line([
        r.tenants,
        r.mode,
        r.bound,
        r.peakConnections,
        `${r.rssBeforeMb.toFixed(0)} → ${r.rssAfterMb.toFixed(0)}`,
        r.startMs.toFixed(0),
        r.executions,
        r.executionsPerSecond.toFixed(0),
      ]),
    ),
  ];
  process.stdout.write(`${out.join("\n")}\n`);
}
