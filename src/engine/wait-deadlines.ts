/**
 * The deadlines of `wait()` calls, with one timer per wait length instead of one per wait.
 *
 * A runner that has 2,000 executions in flight has 2,000 waiters, each with a deadline an hour away
 * (`workflowTimeoutSeconds`). A timer of its own for each (a `Timeout` and the promises that race it) lives
 * as long as the wait, so the garbage collector copies and promotes it with everything else in flight:
 * at N=2000 the per-wait timers cost the bench's `simple` workload 6–11% of its throughput (an upper bound
 * measured with the timers removed, docs/benchmarks.md, session 16).
 *
 * Waits of the same length end in the order they began, so each length keeps its deadlines in a `Set`
 * (insertion order, O(1) removal) and one timer for the earliest. A wait that ends early is removed from
 * its set; the timer, if it was armed for that one, finds nothing due when it fires and is armed again for
 * the new earliest (a delay longer than a Node timer holds is waited in steps). The timer keeps the process
 * alive while someone waits, as a timer per wait did.
 */

import { MAX_TIMEOUT_MS } from "../workflow/builder.js";

/** A registered deadline; pass it to {@link WaitDeadlines.remove} when the wait ends another way. */
export interface WaitDeadline {
  /** The wait's length, ms: its group. */
  readonly ms: number;
  /** `performance.now()` time at which it expires. */
  readonly at: number;
  /** Called once, when it expires (unless removed before). */
  readonly expire: () => void;
}

interface Group {
  readonly entries: Set<WaitDeadline>;
  timer: NodeJS.Timeout | undefined;
}

export class WaitDeadlines {
  readonly #groups = new Map<number, Group>();

  /** Calls `expire` in `ms` milliseconds, unless {@link remove}d before. */
  add(ms: number, expire: () => void): WaitDeadline {
    const deadline: WaitDeadline = { ms, at: performance.now() + ms, expire };
    let group = this.#groups.get(ms);
    if (!group) this.#groups.set(ms, (group = { entries: new Set(), timer: undefined }));
    group.entries.add(deadline);
    if (!group.timer) this.#arm(ms, group, ms);
    return deadline;
  }

  /** Forgets `deadline` (its wait ended another way); its `expire` will not be called. */
  remove(deadline: WaitDeadline): void {
    const group = this.#groups.get(deadline.ms);
    if (!group?.entries.delete(deadline) || group.entries.size) return;
    clearTimeout(group.timer);
    this.#groups.delete(deadline.ms);
  }

  /** Deadlines registered and not yet expired or removed (for tests). */
  get size(): number {
    let n = 0;
    for (const group of this.#groups.values()) n += group.entries.size;
    return n;
  }

  #arm(ms: number, group: Group, delay: number): void {
    group.timer = setTimeout(() => this.#fire(ms, group), Math.min(Math.max(0, delay), MAX_TIMEOUT_MS));
  }

  /** Expires the deadlines of `group` that are due (the earliest come first), then waits for the next. */
  #fire(ms: number, group: Group): void {
    group.timer = undefined;
    const now = performance.now();
    for (const deadline of group.entries) {
      if (deadline.at > now) {
        // (An `expire` callback may have added one, and armed the timer for it already.)
        if (!group.timer) this.#arm(ms, group, deadline.at - now);
        return;
      }
      group.entries.delete(deadline);
      deadline.expire();
    }
    if (this.#groups.get(ms) === group) this.#groups.delete(ms);
  }
}
