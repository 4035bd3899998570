/**
 * Runs one repetition of one peer for `bench/run.ts`: a fresh database (or Redis key prefix), the peer
 * opened on it, then for each selected bench a verified warm-up and a measured phase, in the engine's
 * order and with the engine's rules:
 * - throughput (simple / pipeline / parallel): N units submitted at once (bulk where the peer has it), the
 *   clock stopped when the peer has recorded the last one complete; `rounds` such rounds one after another,
 *   the round of median duration kept;
 * - latency: the 3-step chain, one at a time, each after a random 0–20 ms idle pause, submit → recorded
 *   completion.
 * Every unit's final value is checked against `expected()` and every step must have run exactly once; a
 * wrong or missing result is returned as an error (the harness then prints no figure and exits 1).
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { medianRound, startRegion, stopCounting, type Measured, type RegionUsage, type SqlCounts } from "../counters.js";
import { STEPS, benchQueries, createDatabase, dropDatabase, expected, sleep, type Peer, type PeerInstance, type PeerWorkload } from "./types.js";

export type PeerBench = PeerWorkload | "latency";


export interface PeerRepOptions {
  adminUrl: string;
  redisUrl: string;
  concurrency: number;
  poolSize: number;
  timeoutMs: number;
  n: number;
  runs: number;
  warmupUnits: number;
  /** Measured rounds of `n` units per throughput bench; the round of median duration stands (see run.ts ROUNDS). */
  rounds: number;
  warmupRuns: number;
  /** First input number (inputs are unique across the run). */
  first: number;
  /** The local server process whose CPU is measured beside the peer's (see ../server-cpu.ts). */
  serverProcess: string | undefined;
}

export interface PeerRepResult {
  measured: Map<PeerBench, Measured>;
  /** Per throughput bench: every round's units per second, in the order they ran. */
  roundRates: Map<PeerBench, number[]>;
  errors: string[];
  /** Inputs used (so the caller can keep them unique). */
  used: number;
  setupMs: number;
}

function verify(peer: Peer, w: PeerWorkload, inputs: readonly number[], results: Map<number, unknown>, where: string): string[] {
  const out: string[] = [];
  if (results.size !== inputs.length) out.push(`${where}: ${results.size} results for ${inputs.length} units`);
  for (const i of inputs) {
    const got = results.get(i);
    if (got !== expected(w, i)) out.push(`${where}: ${peer.label}: unit ${i} → ${JSON.stringify(got)}, expected ${expected(w, i)}`);
    if (out.length >= 10) break;
  }
  return out;
}

/** The peers' SQL counts without the bench's own completion checks (plain SELECTs, one round trip each). */
function withoutBenchQueries(c: SqlCounts, n: number): SqlCounts {
  return { ...c, roundTrips: c.roundTrips - n, statements: c.statements - n };
}

/** A measured region of a peer (see startRegion), its SQL counts without the bench's own checks. */
function startPeerRegion(serverProcess: string | undefined): { stop(): RegionUsage } {
  const q0 = benchQueries.n;
  const region = startRegion(serverProcess);
  return {
    stop() {
      const usage = region.stop();
      return { ...usage, counts: withoutBenchQueries(usage.counts, benchQueries.n - q0) };
    },
  };
}

export async function runPeerRep(peer: Peer, benches: readonly PeerBench[], o: PeerRepOptions, phase: (p: string) => void): Promise<PeerRepResult> {
  const tag = randomBytes(5).toString("hex");
  const dbName = `cloaca_bench_peer_${tag}`;
  const errors: string[] = [];
  const measured = new Map<PeerBench, Measured>();
  const roundRates = new Map<PeerBench, number[]>();
  let index = o.first;
  const t0 = performance.now();
  const pgUrl = peer.usesPostgres ? await createDatabase(o.adminUrl, dbName) : o.adminUrl;
  let inst: PeerInstance | undefined;
  try {
    inst = await peer.open({ pgUrl, redisUrl: o.redisUrl, concurrency: o.concurrency, poolSize: o.poolSize, tag, timeoutMs: o.timeoutMs });
    const setupMs = performance.now() - t0;
    for (const bench of benches) {
      if (bench !== "latency" && !peer.workloads.includes(bench)) continue;
      const where = `${peer.key} ${bench}`;
      phase(where);
      try {
        if (bench === "latency") {
          const runs = Math.min(o.runs, peer.maxLatencyRuns ?? Infinity);
          const chain = async (count: number, measure: boolean) => {
            const lat: number[] = [];
            for (let r = 0; r < count; r++) {
              await sleep(Math.random() * 20);
              const inputs = [index++];
              const s = performance.now();
              const res = await inst!.run("pipeline", inputs);
              lat.push(performance.now() - s);
              const bad = verify(peer, "pipeline", inputs, res, `${where}${measure ? "" : " warm-up"}`);
              if (bad.length) throw new Error(bad.join("; "));
            }
            return lat;
          };
          await chain(o.warmupRuns, false);
          const region = startPeerRegion(o.serverProcess);
          const lat = await chain(runs, true);
          measured.set(bench, {
            executions: runs,
            tasks: runs * STEPS.pipeline,
            elapsedMs: lat.reduce((a, b) => a + b, 0),
            latenciesMs: lat,
            ...region.stop(),
          });
        } else {
          const batchOf = (count: number) => Array.from({ length: count }, () => index++);
          const warm = batchOf(o.warmupUnits);
          const wr = await inst.run(bench, warm);
          const wbad = verify(peer, bench, warm, wr, `${where} warm-up`);
          if (wbad.length) throw new Error(wbad.join("; "));
          const rounds: Measured[] = [];
          for (let k = 1; k <= o.rounds; k++) {
            const inputs = batchOf(o.n);
            const region = startPeerRegion(o.serverProcess);
            const s = performance.now();
            const res = await inst.run(bench, inputs);
            const elapsedMs = performance.now() - s;
            const usage = region.stop();
            const bad = verify(peer, bench, inputs, res, o.rounds > 1 ? `${where} round ${k}` : where);
            if (bad.length) throw new Error(bad.join("; "));
            rounds.push({ executions: o.n, tasks: o.n * STEPS[bench], elapsedMs, latenciesMs: [], ...usage });
          }
          measured.set(bench, medianRound(rounds));
          roundRates.set(bench, rounds.map((r) => r.tasks / (r.elapsedMs / 1000)));
        }
      } catch (err) {
        stopCounting();
        errors.push(`${where}: ${(err as Error).message}`);
        break;
      }
    }
    return { measured, roundRates, errors, used: index - o.first, setupMs };
  } catch (err) {
    errors.push(`${peer.key} setup: ${(err as Error).stack ?? String(err)}`);
    return { measured, roundRates, errors, used: index - o.first, setupMs: performance.now() - t0 };
  } finally {
    if (inst) {
      try {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("close: no answer after 30 s")), 30_000)));
        await Promise.race([inst.close(), late]).finally(() => clearTimeout(timer));
      } catch (err) {
        errors.push(`${peer.key} close: ${(err as Error).message}`);
      }
    }
    if (peer.usesPostgres) await dropDatabase(o.adminUrl, dbName).catch((err: Error) => errors.push(`${peer.key}: drop database ${dbName}: ${err.message}`));
  }
}
