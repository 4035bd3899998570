/**
 * The NOTIFY payloads runners send each other on their schema's channel (PostgreSQL):
 *
 * - `r:<runner id>` — tasks became Ready (other runners look for work);
 * - `d:<runner id>:<id>,<id>,…` — executions finished (waiters elsewhere read their results);
 * - `c:<execution id>` — an execution was cancelled (running tasks everywhere are aborted).
 */

/** Payloads announcing finished executions, each under PostgreSQL's 8000-byte payload limit. */
export function finishedPayloads(runnerId: string, executionIds: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < executionIds.length; i += 100) out.push(`d:${runnerId}:${executionIds.slice(i, i + 100).join(",")}`);
  return out;
}

/** The runner and executions of a `d:` payload (see {@link finishedPayloads}), or undefined for another kind. */
export function parseFinished(payload: string): { runnerId: string; executionIds: string[] } | undefined {
  if (!payload.startsWith("d:")) return undefined;
  const rest = payload.slice(2);
  const colon = rest.indexOf(":");
  return { runnerId: rest.slice(0, colon), executionIds: rest.slice(colon + 1).split(",") };
}
