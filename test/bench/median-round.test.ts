/**
 * The bench's throughput phases at N run several rounds and keep the round of median duration
 * (bench/counters.ts medianRound): the whole round, so its CPU and SQL counts go with its time.
 */
import { describe, expect, it } from "vitest";
import { medianRound, type Measured } from "../../bench/counters.js";

function round(elapsedMs: number, tag: number): Measured {
  return {
    executions: 150,
    tasks: 150,
    elapsedMs,
    latenciesMs: [tag],
    counts: { roundTrips: tag, statements: tag, commits: tag, rollbacks: 0 },
    cpuUs: tag * 1000,
  };
}

describe("medianRound", () => {
  it("keeps the round of median duration, whole, whatever the order they ran in", () => {
    const picked = medianRound([round(40, 1), round(22, 2), round(31, 3), round(25, 4), round(90, 5)]);
    expect(picked.elapsedMs).toBe(31);
    expect(picked.cpuUs).toBe(3000);
    expect(picked.counts.statements).toBe(3);
  });

  it("with an even count keeps the faster of the two middle rounds", () => {
    expect(medianRound([round(30, 1), round(10, 2), round(20, 3), round(40, 4)]).elapsedMs).toBe(20);
  });

  it("with one round keeps it, and refuses none", () => {
    expect(medianRound([round(12, 1)]).elapsedMs).toBe(12);
    expect(() => medianRound([])).toThrow(/no rounds/);
  });
});
