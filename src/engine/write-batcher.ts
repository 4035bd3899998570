/**
 * Group commit for the engine's hot writes. Outcomes and new executions that arrive while a transaction
 * is in flight are queued and then written together in the next transaction: one commit (one fsync)
 * for many tasks under load, and no added latency when idle (a lone write starts at once).
 *
 * Every operation must be restartable: `run` may be called again after a rolled-back attempt (a
 * deadlock retry, or the fallback below), and `reset` undoes in-memory effects of the previous attempt.
 * If a combined transaction fails, each operation is retried in a transaction of its own, so one bad
 * write cannot fail its neighbours.
 *
 * Writes are spread over `lanes` by a key (the execution id): each lane commits its own batches, so
 * PostgreSQL works on several transactions at once, while the writes of one execution always share a
 * lane — batches never contend for the same execution's rows, and cannot deadlock on them.
 */
import { WriteSet } from "../store/sql-store.js";
import type { Driver, Queryable } from "../store/store.js";

/** One write to batch. */
export interface BatchOperation<T> {
  /** Performs the write in `tx`; inserts and notifications it can defer go to `ws`, written at the end. */
  run(tx: Queryable, ws: WriteSet): Promise<T>;
  /** Called before every attempt: forget in-memory effects of a rolled-back earlier attempt. */
  reset(): void;
}

interface Queued {
  readonly op: BatchOperation<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: unknown) => void;
}

/** One lane: a queue committed in batches, one transaction at a time. */
class Lane {
  readonly queue: Queued[] = [];
  draining = false;
}

/** Batches writes into shared transactions on one driver. */
export class WriteBatcher {
  readonly #lanes: Lane[];
  /** Transactions committed and operations written (for benchmarks and tests). */
  readonly stats = { transactions: 0, operations: 0 };

  constructor(
    private readonly driver: Driver,
    private readonly flush: (tx: Queryable, ws: WriteSet) => Promise<void>,
    lanes = 1,
    private readonly maxBatch = 64,
  ) {
    this.#lanes = Array.from({ length: Math.max(1, lanes) }, () => new Lane());
  }

  /** Queues a write (in the lane of `key`); resolves with its result once committed. */
  submit<T>(key: string, op: BatchOperation<T>): Promise<T> {
    const lane = this.#lanes[this.#lanes.length === 1 ? 0 : hash(key) % this.#lanes.length]!;
    return new Promise<T>((resolve, reject) => {
      lane.queue.push({ op, resolve: resolve as (v: unknown) => void, reject });
      if (!lane.draining) void this.#drain(lane);
    });
  }

  async #drain(lane: Lane): Promise<void> {
    lane.draining = true;
    try {
      while (lane.queue.length) {
        const batch = lane.queue.splice(0, this.maxBatch);
        try {
          const results = await this.driver.transaction(async (tx) => {
            const ws = new WriteSet();
            const out: unknown[] = [];
            for (const item of batch) {
              item.op.reset();
              out.push(await item.op.run(tx, ws));
            }
            await this.flush(tx, ws);
            return out;
          });
          this.stats.transactions++;
          this.stats.operations += batch.length;
          batch.forEach((item, i) => item.resolve(results[i]));
        } catch (err) {
          if (batch.length === 1) {
            batch[0]!.op.reset();
            batch[0]!.reject(err);
            continue;
          }
          for (const item of batch) {
            try {
              const result = await this.driver.transaction(async (tx) => {
                const ws = new WriteSet();
                item.op.reset();
                const value = await item.op.run(tx, ws);
                await this.flush(tx, ws);
                return value;
              });
              this.stats.transactions++;
              this.stats.operations++;
              item.resolve(result);
            } catch (e) {
              item.op.reset();
              item.reject(e);
            }
          }
        }
      }
    } finally {
      lane.draining = false;
    }
  }
}

function hash(key: string): number {
  let h = 2166136261;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619);
  return h >>> 0;
}
