/**
 * ReadyHints: the tasks a runner made Ready, which its next claim takes by key. A hint for a task that was
 * claimed another way (through the Ready index) would make that claim come back short: it is forgotten.
 */
import { expect, it } from "vitest";
import { ReadyHints } from "../../src/engine/ready-hints.js";

const key = (executionId: string, taskId = "t") => ({ executionId, taskId });

it("takes the oldest hints first, each once", () => {
  const hints = new ReadyHints();
  hints.add([key("e1"), key("e2"), key("e3")]);
  expect(hints.take(2)).toEqual([key("e1"), key("e2")]);
  expect(hints.take(5)).toEqual([key("e3")]);
  expect(hints.size).toBe(0);
});

it("forgets the hints of tasks claimed some other way, so a claim by key asks only for unclaimed ones", () => {
  const hints = new ReadyHints();
  hints.add([key("e1"), key("e2"), key("e3"), key("e4")]);
  // e2 and e4 were claimed through the Ready index (and e9, never hinted, changes nothing).
  hints.forget([key("e2"), key("e4"), key("e9")]);
  expect(hints.size).toBe(2);
  expect(hints.take(4)).toEqual([key("e1"), key("e3")]);
});

it("keeps nothing past its capacity, and nothing at all with capacity 0 (a runner that runs no tasks)", () => {
  const two = new ReadyHints(2);
  two.add([key("e1"), key("e2"), key("e3")]);
  expect(two.take(3)).toEqual([key("e1"), key("e2")]);
  const none = new ReadyHints(0);
  none.add([key("e1")]);
  expect(none.size).toBe(0);
});
