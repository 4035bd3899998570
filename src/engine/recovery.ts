/**
 * Takeover of dead runners' work. A runner is dead when its lease is older than the
 * `staleClaimThresholdMs` it registered with, by the database clock, or — on this same host — when its process no longer exists (so a restart resumes
 * at once instead of waiting for the lease). Its running attempts go back to the queue; an attempt taken
 * over more than `maxTaskRecoveries` times fails as abandoned instead of looping forever.
 */
import type { ResolvedConfig } from "../config.js";
import { WriteSet, type SqlStore } from "../store/sql-store.js";
import type { Workflow } from "../workflow/workflow.js";
import type { RunnerEvents } from "./events.js";
import { recordOutcomes } from "./completion.js";
import { finishedPayloads } from "./notifications.js";

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === "EPERM";
  }
}

/** Inputs of {@link sweepDeadRunners}. */
export interface SweepInput {
  readonly store: SqlStore;
  readonly self: string;
  readonly host: string;
  readonly config: ResolvedConfig;
  readonly lookup: (workflowName: string) => Workflow | undefined;
  readonly onRecovered: (e: RunnerEvents["taskRecovered"]) => void;
  /** An abandonment finished an execution: wake its local waiters. */
  readonly onFinished: (executionId: string, workflowName: string, status: "Completed" | "Failed") => void;
}

/** Requeues (or abandons) the attempts of dead runners; returns how many attempts it handled. */
export async function sweepDeadRunners(input: SweepInput): Promise<number> {
  const { store, self, config } = input;
  const dead = new Set<string>();
  for (const r of await store.runners()) {
    if (r.id === self) continue;
    // Each runner is judged by the lease it declared, not by ours: a runner on default settings is not
    // declared dead by a neighbour tuned for fast takeover.
    const expired = r.ageMs > r.staleAfterMs;
    const gone = r.hostname === input.host && r.pid !== process.pid && !processAlive(r.pid);
    if (expired || gone) dead.add(r.id);
  }
  for (const owner of await store.orphanOwners()) if (owner !== self) dead.add(owner);

  let handled = 0;
  for (const runner of dead) {
    let leftBehind = 0;
    for (const claim of await store.claimedBy(runner)) {
      const wf = input.lookup(claim.workflowName);
      const abandon = claim.recoveries >= config.maxTaskRecoveries;
      if (abandon && !wf) {
        leftBehind++; // a runner that knows this workflow will fail it properly
        continue;
      }
      let finished: "Completed" | "Failed" | undefined;
      const done = await store.driver.transaction(async (tx) => {
        finished = undefined;
        const now = Date.now();
        const ws = new WriteSet();
        let ok: boolean;
        if (abandon) {
          const error = `abandoned: its runner stopped ${claim.recoveries + 1} times while running it (maxTaskRecoveries = ${config.maxTaskRecoveries})`;
          const [eff] = await recordOutcomes(store, tx, ws, runner, now, [{ workflow: wf!, claim, write: { kind: "failed", error } }], () => false);
          ok = !eff!.lost;
          finished = eff!.finished;
          if (finished) for (const payload of finishedPayloads(self, [claim.executionId])) ws.notifications.add(payload);
        } else {
          ok = await store.requeue(tx, claim, runner, now);
          ws.events.push({ executionId: claim.executionId, taskId: claim.taskId, type: "task_recovered", data: { fromRunner: runner } });
        }
        if (!ok) return false;
        ws.notifications.add(`r:${self}`);
        await store.flush(tx, ws, self, now);
        return true;
      });
      if (done) {
        handled++;
        input.onRecovered({ executionId: claim.executionId, taskId: claim.taskId, fromRunner: runner, abandoned: abandon });
        if (finished) input.onFinished(claim.executionId, claim.workflowName, finished);
        config.logger.warn(
          { executionId: claim.executionId, taskId: claim.taskId, fromRunner: runner, abandoned: abandon },
          abandon ? "abandoned a task whose runner died too often" : "took over a task from a dead runner",
        );
      }
    }
    if (!leftBehind) await store.removeRunner(runner);
  }
  return handled;
}
