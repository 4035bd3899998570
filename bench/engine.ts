/**
 * The engine the benchmarks measure: the built package in `dist/`, as users run it (`npm run bench` builds
 * it first), with the types of `src/`. Running `src/` through tsx instead measured tsx's transpiled output,
 * which wraps every function it creates in a naming helper (`keepNames`): in-process A/B against `dist/`,
 * PostgreSQL `simple`, 1.10× (N=150) and 1.19× (N=2000) for the built package.
 *
 * Every bench module takes the engine from here, so the workflows and the runners come from one copy of it.
 * A `dist/` older than `src/` is refused: it would measure code that is no longer there.
 */
import { readdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type * as Engine from "../src/index.js";

const srcDir = fileURLToPath(new URL("../src/", import.meta.url));
const built = fileURLToPath(new URL("../dist/index.js", import.meta.url));

/** The newest modification time of the sources, ms. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = `${dir}${entry.name}`;
    newest = Math.max(newest, entry.isDirectory() ? newestSource(`${path}/`) : statSync(path).mtimeMs);
  }
  return newest;
}

function builtAt(): number | undefined {
  try {
    return statSync(built).mtimeMs;
  } catch {
    return undefined;
  }
}

const at = builtAt();
if (at === undefined) throw new Error("bench: dist/ is missing: the benchmarks measure the built engine; run `npm run build` (`npm run bench` does)");
if (newestSource(srcDir) > at) throw new Error("bench: dist/ is older than src/: run `npm run build` (`npm run bench` does) so the benchmarks measure the current code");

const engine = (await import(new URL("../dist/index.js", import.meta.url).href)) as typeof Engine;

export const DefaultRunner = engine.DefaultRunner;
export type DefaultRunner = Engine.DefaultRunner;
export const WorkflowBuilder = engine.WorkflowBuilder;
export type WorkflowBuilder = Engine.WorkflowBuilder;
export const DatabaseAdmin = engine.DatabaseAdmin;
export type DatabaseAdmin = Engine.DatabaseAdmin;
export const runWorker = engine.runWorker;
export type { Context, Logger, TenantCredentials, Workflow, WorkflowResult } from "../src/index.js";
