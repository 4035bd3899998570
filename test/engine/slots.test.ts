/**
 * The runner's slots and body permits (src/engine/slots.ts), on their own: how much a runner claims
 * ahead, how a claimed task waits for a body permit, and how it leaves that wait (run, abort, expiry).
 * Claim-ahead end to end, on both backends, is in claim-ahead.test.ts.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { AHEAD_TTL_MS, AHEAD_WINDOW_MS, BatchSlots, Slots, claimAheadFor } from "../../src/engine/slots.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("claimAheadFor", () => {
  it("claims ahead what the permits start within the window at the recent pace, at most the setting", () => {
    expect(AHEAD_WINDOW_MS).toBe(5);
    expect(claimAheadFor(32, 96, 0.01)).toBe(96); // quick bodies: the setting binds
    expect(claimAheadFor(32, 96, 5)).toBe(32); // 32 bodies of 5 ms start 32 more within 5 ms
    expect(claimAheadFor(32, 96, 100)).toBe(1);
    expect(claimAheadFor(32, 96, 1000)).toBe(0); // long bodies: none
    expect(claimAheadFor(32, 96, 0)).toBe(96);
  });

  it("claims nothing ahead before a body has ended, with the setting at 0, or without permits", () => {
    expect(claimAheadFor(32, 96, undefined)).toBe(0);
    expect(claimAheadFor(32, 0, 0.01)).toBe(0);
    expect(claimAheadFor(0, 96, 0.01)).toBe(0);
  });
});

describe("Slots", () => {
  it("holds only the permits until a body has ended, then as many more as the pace allows", () => {
    let freed = 0;
    const slots = new Slots(2, () => freed++, 6);
    expect(slots.capacity).toBe(2);
    expect(slots.reserve(10)).toBe(2);
    expect(slots.startBody()).toBe("run");
    expect(slots.startBody()).toBe("run");
    slots.endBody(0.01);
    expect(slots.ahead).toBe(6);
    expect(slots.capacity).toBe(8);
    expect(freed).toBeGreaterThan(0); // a larger capacity starts claims
    expect(slots.free).toBe(6);
  });

  it("never lets more bodies run than permits: the next waits, in order, for a body to end", async () => {
    const slots = new Slots(1, () => undefined, 4);
    expect(slots.startBody()).toBe("run");
    const second = slots.startBody();
    const third = slots.startBody();
    expect(second).toBeInstanceOf(Promise);
    expect(slots.waiting).toBe(2);
    slots.endBody(1);
    expect(await second).toBe("run");
    expect(slots.waiting).toBe(1);
    slots.endBody(1);
    expect(await third).toBe("run");
    slots.endBody(1);
    expect(slots.startBody()).toBe("run"); // the permit came back
  });

  it(`a task that waited ${AHEAD_TTL_MS} ms expires, and the runner then claims ahead less`, async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    const slots = new Slots(4, () => undefined, 12);
    for (let i = 0; i < 4; i++) expect(slots.startBody()).toBe("run");
    slots.endBody(0.01);
    expect(slots.startBody()).toBe("run");
    expect(slots.ahead).toBe(12);
    const early = slots.startBody();
    vi.advanceTimersByTime(AHEAD_TTL_MS / 2);
    const late = slots.startBody();
    let earlyHow: string | undefined;
    void (early as Promise<string>).then((h) => (earlyHow = h));
    vi.advanceTimersByTime(AHEAD_TTL_MS / 2);
    await Promise.resolve();
    expect(earlyHow).toBe("expired");
    expect(slots.waiting).toBe(1);
    expect(slots.ahead).toBe(claimAheadFor(4, 12, AHEAD_TTL_MS)); // 4 × 5 ms ÷ 50 ms → 0
    vi.advanceTimersByTime(AHEAD_TTL_MS / 2);
    expect(await late).toBe("expired");
    expect(slots.waiting).toBe(0);
  });

  it("a body coming back from deferUntil waits ahead of claimed tasks and never expires", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    const slots = new Slots(1, () => undefined, 4);
    expect(slots.startBody()).toBe("run");
    const claimed = slots.startBody();
    const resumed = slots.startBody(true);
    let claimedHow: string | undefined;
    void (claimed as Promise<string>).then((h) => (claimedHow = h));
    vi.advanceTimersByTime(AHEAD_TTL_MS * 3);
    await Promise.resolve();
    expect(claimedHow).toBe("expired");
    slots.endBody(1);
    expect(await resumed).toBe("run");
  });

  it("while a permit is held for an unrecorded outcome, waiting tasks do not expire; they wait for it", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    const slots = new Slots(1, () => undefined, 4);
    expect(slots.startBody()).toBe("run");
    const waiting = slots.startBody();
    let how: string | undefined;
    void (waiting as Promise<string>).then((h) => (how = h));
    slots.endBody(0.01, true); // the body ended at the run-ahead bound: its permit waits for its outcome
    vi.advanceTimersByTime(AHEAD_TTL_MS * 4);
    await Promise.resolve();
    expect(how).toBeUndefined(); // still waiting, not expired
    expect(slots.waiting).toBe(1);
    slots.releaseHeld();
    await Promise.resolve();
    expect(how).toBe("run");
    // Once no permit is held, a new wait has its full time again.
    const next = slots.startBody();
    let nextHow: string | undefined;
    void (next as Promise<string>).then((h) => (nextHow = h));
    vi.advanceTimersByTime(AHEAD_TTL_MS - 1);
    await Promise.resolve();
    expect(nextHow).toBeUndefined();
    vi.advanceTimersByTime(1);
    await Promise.resolve();
    expect(nextHow).toBe("expired");
  });

  it("with claimAhead 0 it is the plain slots: capacity = permits whatever the pace", () => {
    const slots = new Slots(3, () => undefined, 0);
    expect(slots.startBody()).toBe("run");
    slots.endBody(0.001);
    expect(slots.ahead).toBe(0);
    expect(slots.capacity).toBe(3);
  });
});

describe("BatchSlots", () => {
  it("an outcome batch claims with its write lane's share of the runner's free slots: the rest stay for the other lanes", () => {
    const runner = new Slots(4, () => undefined);
    const hold = { reserved: 0 };
    const batch = new BatchSlots(0, hold, runner, () => false, 2);
    expect(batch.takeAll()).toBe(2);
    expect(hold.reserved).toBe(2);
    expect(runner.free).toBe(2);
    // The other lane's batch takes half of what is left (rounded up).
    expect(new BatchSlots(0, { reserved: 0 }, runner, () => false, 2).takeAll()).toBe(1);
    expect(runner.free).toBe(1);
  });

  it("with one lane a batch takes every free slot, plus the ones its own attempts still hold", () => {
    const runner = new Slots(4, () => undefined);
    expect(runner.reserve(1)).toBe(1); // an attempt of the batch still holds its slot
    const batch = new BatchSlots(1, { reserved: 0 }, runner, () => false, 1);
    expect(batch.takeAll()).toBe(4);
    expect(runner.free).toBe(0);
  });

  it("takes nothing more while the runner is stopping", () => {
    const runner = new Slots(4, () => undefined);
    expect(new BatchSlots(0, { reserved: 0 }, runner, () => true, 2).takeAll()).toBe(0);
    expect(runner.free).toBe(4);
  });
});
