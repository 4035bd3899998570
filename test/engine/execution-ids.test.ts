/**
 * Execution ids are version 7 UUIDs (RFC 9562): the millisecond they were made in, then random bits, so
 * ids sort by creation time and the indexes keyed by them grow at one edge.
 */
import { expect, it } from "vitest";
import { newExecutionId } from "../../src/engine/execution-ids.js";
import { WorkflowBuilder } from "../../src/index.js";
import { forEachBackend } from "../support/backends.js";
import { freshDatabase, openRunner } from "../support/runner.js";
import { clockPast } from "../support/wait.js";

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The Unix milliseconds a version 7 UUID begins with. */
const msOf = (id: string) => parseInt(id.replace(/-/g, "").slice(0, 12), 16);

it("makes version 7 UUIDs that begin with the given millisecond", () => {
  for (const now of [0, 1, 1_700_000_000_123, 2 ** 48 - 1]) {
    const id = newExecutionId(now);
    expect(id).toMatch(V7);
    expect(msOf(id)).toBe(now);
  }
});

it("never repeats an id, across many refills of its pool of random bytes", () => {
  const now = Date.now();
  const ids = Array.from({ length: 20_000 }, () => newExecutionId(now));
  expect(new Set(ids).size).toBe(ids.length);
  for (const id of ids) expect(id).toMatch(V7);
  // The last 48 of the 74 random bits alone already tell the ids apart.
  const tails = new Set(ids.map((id) => id.slice(-12)));
  expect(tails.size).toBe(ids.length);
});

it("orders ids of later milliseconds after earlier ones, as strings", () => {
  const ids = [1_000, 1_001, 65_536, 2 ** 32, 2 ** 32 + 1, 2 ** 40].map((ms) => newExecutionId(ms));
  expect([...ids].sort()).toEqual(ids);
});

forEachBackend((backend) => {
  it("gives each execution a version 7 id stamped with its start time, later starts sorting after earlier ones", async () => {
    const name = `ids-${process.pid}`;
    const wf = new WorkflowBuilder(name).task("t", (ctx) => ctx.set("ok", true)).build({ register: false });
    const runner = await openRunner(await freshDatabase(backend), { workflows: [wf] });
    const first = await runner.execute(name, {});
    await clockPast(first.startTime.getTime());
    const second = await runner.execute(name, {});
    for (const r of [first, second]) {
      expect(r.executionId).toMatch(V7);
      expect(msOf(r.executionId)).toBe(r.startTime.getTime());
    }
    expect(second.executionId > first.executionId).toBe(true);
  });
});
