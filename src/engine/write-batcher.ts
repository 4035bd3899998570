/**
 * Group commit for the engine's hot writes. Writes that arrive while a transaction is in flight are
 * queued and then written together in the next transaction: one commit (one fsync) for many tasks under
 * load, and no added latency when idle (a lone write starts at once).
 *
 * Writes of one {@link BatchKind} in a batch are handed to that kind together, so it can write them
 * set-based: a fixed number of statements per batch, not per write.
 *
 * Every write must be restartable: its kind may run it again after a rolled-back attempt (a deadlock
 * retry, or the fallbacks below), and `reset` undoes in-memory effects of the previous attempt. If a
 * combined transaction fails, each write is retried in a transaction of its own, so one bad write cannot
 * fail its neighbours; first, if a kind answered the failure (`retryWhole`), the batch is written again
 * whole, once.
 *
 * One transaction at a time per batcher: with set-based writes a batch costs the same few statements
 * whatever its size, so the fewest, largest batches are the cheapest. A PostgreSQL runner keeps one batcher
 * per write lane (`writeLanes`, 2 by default): while one lane's statement runs on the server, the runner
 * prepares and sends the other's, so the engine and the server stop taking turns (docs/benchmarks.md,
 * session 13: 1.04–1.36× on the bench's PostgreSQL rows). Every write of an execution goes to the lane
 * {@link laneOf} its id, so two lanes never write the same rows and cannot deadlock on them (claims inside
 * a batch skip locked rows).
 */
import { WriteSet, type Statement } from "../store/sql-store.js";
import type { Driver, Queryable } from "../store/store.js";

/** The most writes one transaction takes (the rest wait for the next). */
export const MAX_BATCH = 256;

/**
 * The write lane (0 … lanes − 1) of an execution: from the last character of its id, the random end of a
 * version 7 UUID (hex digits split evenly between two lanes).
 */
export function laneOf(executionId: string, lanes: number): number {
  return lanes <= 1 ? 0 : executionId.charCodeAt(executionId.length - 1) % lanes;
}

/** A kind of write, performed set-based for all writes of that kind in a batch. */
export interface BatchKind<I, T> {
  /** Its `run` issues no statement, it only fills the write set. */
  readonly fillsWriteSetOnly?: boolean;
  /**
   * Performs the writes in `tx`, one result per input in order; inserts and notifications it can defer go
   * to `ws`, written at the end of the transaction.
   */
  run(tx: Queryable, ws: WriteSet, inputs: readonly I[]): Promise<T[]>;
  /**
   * True when `err`, which failed a batch holding `inputs` (this kind's writes in it), is one this kind
   * answers: it makes its next `run` of them take another way, and the batch is written again whole once,
   * instead of write by write.
   */
  retryWhole?(err: unknown, inputs: readonly I[]): boolean;
}

/** One write to batch. */
export interface BatchWrite<I, T> {
  readonly kind: BatchKind<I, T>;
  readonly input: I;
  /** Called before every attempt: forget in-memory effects of a rolled-back earlier attempt. */
  reset(): void;
}

interface Queued {
  readonly write: BatchWrite<unknown, unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: unknown) => void;
}

/** The positions of a batch's writes, by kind, in order. */
function byKind(batch: readonly Queued[]): Map<BatchKind<unknown, unknown>, number[]> {
  const out = new Map<BatchKind<unknown, unknown>, number[]>();
  batch.forEach((item, i) => {
    const list = out.get(item.write.kind);
    if (list) list.push(i);
    else out.set(item.write.kind, [i]);
  });
  return out;
}

/** How a {@link WriteBatcher} batches. */
export interface BatcherOptions {
  /** The flush is a single statement: a batch that only fills the write set then needs no transaction. */
  readonly flushIsOneStatement?: boolean;
  /**
   * Whether other writes may still come in this turn of the event loop (default: always). When it says no,
   * a lone write goes at once instead of waiting for the turn to end.
   */
  readonly mayJoin?: () => boolean;
}

/** Batches writes into shared transactions on one driver. */
export class WriteBatcher {
  readonly #queue: Queued[] = [];
  #draining = false;
  /** Transactions committed and writes written (for benchmarks and tests). */
  readonly stats = { transactions: 0, operations: 0 };

  readonly #flushIsOneStatement: boolean;
  readonly #mayJoin: () => boolean;

  constructor(
    private readonly driver: Driver,
    /** The statements that write a batch's write set (read through `q` if they must read). */
    private readonly flushStatements: (q: Queryable, ws: WriteSet) => Promise<Statement[]>,
    options: BatcherOptions = {},
  ) {
    this.#flushIsOneStatement = options.flushIsOneStatement ?? false;
    this.#mayJoin = options.mayJoin ?? (() => true);
  }

  /** Queues a write; resolves with its result once committed. */
  submit<I, T>(write: BatchWrite<I, T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ write: write as BatchWrite<unknown, unknown>, resolve: resolve as (v: unknown) => void, reject });
      if (!this.#draining) void this.#drain();
    });
  }

  /** Writes `batch` in one transaction (or one statement); resolves with the results in order. */
  #commit(batch: readonly Queued[]): Promise<unknown[]> {
    const oneStatement = this.#flushIsOneStatement && batch.every((item) => item.write.kind.fillsWriteSetOnly);
    const write = async (tx: Queryable) => {
      const ws = new WriteSet();
      for (const item of batch) item.write.reset();
      const out: unknown[] = new Array(batch.length);
      for (const [kind, indexes] of byKind(batch)) {
        const results = await kind.run(tx, ws, indexes.map((i) => batch[i]!.write.input));
        indexes.forEach((i, j) => (out[i] = results[j]));
      }
      return { out, flush: await this.flushStatements(tx, ws) };
    };
    // A single statement commits atomically on its own: no BEGIN and COMMIT round trips.
    if (oneStatement) {
      return write(this.driver).then(async ({ out, flush }) => {
        for (const { sql, params } of flush) await this.driver.run(sql, params);
        return out;
      });
    }
    // Otherwise the write set goes last, with the COMMIT (one round trip for both on PostgreSQL).
    return this.driver.transaction(async (tx) => {
      const { out, flush } = await write(tx);
      for (const { sql, params } of flush) tx.runAtCommit(sql, params);
      return out;
    });
  }

  /** Commits `batch` and resolves its writes; rejects (resolving none) when the transaction fails. */
  async #write(batch: readonly Queued[]): Promise<void> {
    const results = await this.#commit(batch);
    this.stats.transactions++;
    this.stats.operations += batch.length;
    batch.forEach((item, i) => item.resolve(results[i]));
  }

  /** Whether a kind of the batch answered `err` (each kind sees its own writes; all are asked). */
  #answered(batch: readonly Queued[], err: unknown): boolean {
    let answered = false;
    for (const [kind, indexes] of byKind(batch)) {
      if (kind.retryWhole?.(err, indexes.map((i) => batch[i]!.write.input))) answered = true;
    }
    return answered;
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      while (this.#queue.length) {
        // Let the work this process already has in hand (task bodies that just started, continuations of the
        // previous batch) queue its writes first: one batch then carries them all. A lone write waits only
        // for the current turn of the event loop to end — and not even that when nothing else the runner
        // holds could write meanwhile (`mayJoin`): the turns cost a lone 3-task chain about 5% on SQLite
        // (docs/benchmarks.md, session 15). It still waits for the microtasks already queued, so a
        // burst of starts made in one synchronous loop goes in one batch.
        if (this.#queue.length > 1 || this.#mayJoin()) await new Promise<void>((resolve) => setImmediate(resolve));
        else await Promise.resolve();
        const batch = this.#queue.splice(0, MAX_BATCH);
        let err: unknown;
        try {
          await this.#write(batch);
          continue;
        } catch (first) {
          err = first;
        }
        // A kind that answered the failure writes the batch again whole, once.
        if (this.#answered(batch, err)) {
          try {
            await this.#write(batch);
            continue;
          } catch (again) {
            err = again;
          }
        }
        if (batch.length === 1) {
          batch[0]!.write.reset();
          batch[0]!.reject(err);
          continue;
        }
        for (const item of batch) {
          try {
            await this.#write([item]);
          } catch (e) {
            item.write.reset();
            item.reject(e);
          }
        }
      }
    } finally {
      this.#draining = false;
    }
  }
}
