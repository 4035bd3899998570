/**
 * One worker process of the scale-out benchmark: `runWorker` on bench/worker-module.ts, printing
 * `READY <pid>` once it is working. Usage: worker-process.ts <url> <schema> <concurrency> [writeLanes].
 */
import { fileURLToPath } from "node:url";
import { runWorker } from "./engine.js";

const [url, schema, concurrency, lanes] = process.argv.slice(2);
if (!url || !schema || !concurrency) throw new Error("usage: worker-process.ts <url> <schema> <concurrency> [writeLanes]");
await runWorker({
  url,
  schema,
  modulePath: fileURLToPath(new URL("./worker-module.ts", import.meta.url)),
  config: { maxConcurrentTasks: Number(concurrency), ...(lanes ? { writeLanes: Number(lanes) } : {}), logger: { debug() {}, info() {}, warn() {}, error: (o, m) => console.error(m, o) } },
  onReady: () => void process.stdout.write(`READY ${process.pid}\n`),
});
