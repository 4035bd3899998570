/** The deadlines of waits (src/engine/wait-deadlines.ts): one timer per wait length. */
import { afterEach, describe, expect, it, vi } from "vitest";
import { WaitDeadlines } from "../../src/engine/wait-deadlines.js";

afterEach(() => {
  vi.useRealTimers();
});

function fakeClock(): void {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
}

describe("WaitDeadlines", () => {
  it("expires each deadline at its time, in order, with one timer per wait length", () => {
    fakeClock();
    const deadlines = new WaitDeadlines();
    const fired: string[] = [];
    deadlines.add(100, () => fired.push("a"));
    vi.advanceTimersByTime(30);
    deadlines.add(100, () => fired.push("b"));
    deadlines.add(50, () => fired.push("c"));
    expect(vi.getTimerCount()).toBe(2); // one for the 100 ms waits, one for the 50 ms one
    vi.advanceTimersByTime(49); // t = 79
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1); // t = 80
    expect(fired).toEqual(["c"]);
    vi.advanceTimersByTime(19); // t = 99
    expect(fired).toEqual(["c"]);
    vi.advanceTimersByTime(1); // t = 100
    expect(fired).toEqual(["c", "a"]);
    vi.advanceTimersByTime(29); // t = 129
    expect(fired).toEqual(["c", "a"]);
    vi.advanceTimersByTime(1); // t = 130
    expect(fired).toEqual(["c", "a", "b"]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("expires a shorter wait before a longer one registered earlier", () => {
    fakeClock();
    const deadlines = new WaitDeadlines();
    const fired: string[] = [];
    deadlines.add(100, () => fired.push("long"));
    deadlines.add(50, () => fired.push("short"));
    vi.advanceTimersByTime(50);
    expect(fired).toEqual(["short"]);
    vi.advanceTimersByTime(50);
    expect(fired).toEqual(["short", "long"]);
    expect(deadlines.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("never expires a removed deadline, and stops its timer once no deadline of that length is left", () => {
    fakeClock();
    const deadlines = new WaitDeadlines();
    const fired: string[] = [];
    const first = deadlines.add(100, () => fired.push("first"));
    vi.advanceTimersByTime(10);
    const second = deadlines.add(100, () => fired.push("second"));
    deadlines.remove(first); // the timer was armed for it: it finds nothing due and waits for the second
    vi.advanceTimersByTime(90);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(10);
    expect(fired).toEqual(["second"]);
    const third = deadlines.add(100, () => fired.push("third"));
    deadlines.remove(third);
    expect(deadlines.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    deadlines.remove(second); // already expired: nothing to do
    vi.advanceTimersByTime(1_000);
    expect(fired).toEqual(["second"]);
  });

  it("takes a deadline added by an expiring one", () => {
    fakeClock();
    const deadlines = new WaitDeadlines();
    const fired: string[] = [];
    deadlines.add(100, () => {
      fired.push("first");
      deadlines.add(100, () => fired.push("again"));
    });
    vi.advanceTimersByTime(100);
    expect(fired).toEqual(["first"]);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(100);
    expect(fired).toEqual(["first", "again"]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("waits longer than a Node timer can hold in steps", () => {
    fakeClock();
    const deadlines = new WaitDeadlines();
    const fired: string[] = [];
    const day = 24 * 3600 * 1000;
    deadlines.add(30 * day, () => fired.push("month"));
    vi.advanceTimersByTime(25 * day);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(5 * day);
    expect(fired).toEqual(["month"]);
  });
});
