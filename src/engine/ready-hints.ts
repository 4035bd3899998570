/**
 * Tasks this runner made Ready (roots it had no slot for, successors that found no slot), oldest first.
 * The next claim takes them by key instead of walking the Ready index, which on PostgreSQL keeps an entry
 * for every task claimed since the table was last vacuumed (a claim by index then slows down as the queue
 * drains). A hint is only a hint: another runner may have claimed the task since, and a task that is not
 * hinted (made Ready elsewhere, or dropped past the capacity) is found by the ordinary claim.
 */
import { taskKey } from "../store/sql-store.js";
import type { TaskKey } from "../store/store.js";

export class ReadyHints {
  readonly #keys = new Map<string, TaskKey>();

  /** `capacity` 0 keeps nothing (a runner that runs no tasks). */
  constructor(private readonly capacity = 100_000) {}

  get size(): number {
    return this.#keys.size;
  }

  add(keys: Iterable<TaskKey>): void {
    for (const k of keys) {
      if (this.#keys.size >= this.capacity) return;
      this.#keys.set(taskKey(k.executionId, k.taskId), k);
    }
  }

  /** Drops the hints for tasks claimed some other way (by the Ready index): a claim by key would miss them. */
  forget(keys: Iterable<TaskKey>): void {
    if (!this.#keys.size) return;
    for (const k of keys) this.#keys.delete(taskKey(k.executionId, k.taskId));
  }

  /** Removes and returns the `n` oldest hints. */
  take(n: number): TaskKey[] {
    const out: TaskKey[] = [];
    for (const [k, key] of this.#keys) {
      if (out.length >= n) break;
      out.push(key);
      this.#keys.delete(k);
    }
    return out;
  }
}
