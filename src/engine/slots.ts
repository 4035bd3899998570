/**
 * The runner's concurrency: how many tasks it may hold claimed, and how many bodies run at once.
 *
 * `maxConcurrentTasks` (C) is honoured exactly for bodies: a body starts only with one of C permits. A
 * slot is reserved before a task is claimed, and a waiting retry or a deferred task holds none.
 *
 * **Claim-ahead.** A runner may hold up to `claimAhead` more claimed tasks than it has body permits, so
 * that when a body ends the next one starts without a round trip to the database, and its claims and
 * outcomes travel in larger batches. It claims ahead only as many as its permits will start within
 * {@link AHEAD_WINDOW_MS} at the pace of its recent bodies (none until a body has ended, none while bodies
 * are long), and a task that waits longer than {@link AHEAD_TTL_MS} for a permit goes back to the queue
 * for any runner (a wait behind the runner's own unrecorded outcomes does not count, see `endBody`). So a
 * runner never sits on work another runner could start sooner (the reference's runners claim before they
 * wait for their semaphore and can hold far more than they can run).
 */

/** A task claimed ahead should start within about this long; the pace of recent bodies sets how many that is. */
export const AHEAD_WINDOW_MS = 5;
/** A task that waited this long for a body permit is handed back to the queue. */
export const AHEAD_TTL_MS = 50;
/** Weight of the newest body in the running mean of body durations. */
const EWMA_WEIGHT = 0.1;

/**
 * How many tasks to claim beyond the body permits: as many as `permits` bodies of `bodyMs` each start
 * within the window, at most `max`; none while the pace is unknown.
 */
export function claimAheadFor(permits: number, max: number, bodyMs: number | undefined): number {
  if (max <= 0 || permits <= 0 || bodyMs === undefined) return 0;
  return Math.min(max, Math.floor((permits * AHEAD_WINDOW_MS) / Math.max(bodyMs, 0.001)));
}

/** How a wait for a body permit ended. */
export type BodyStart = "run" | "expired";

interface QueuedBody {
  since: number;
  /** A claimed task (handed back when late), not a body coming back from `deferUntil`. */
  readonly expires: boolean;
  readonly settle: (how: BodyStart) => void;
}

export class Slots {
  private used = 0;
  private extra = 0;
  private running = 0;
  /** Permits kept by ended bodies until their outcomes are recorded (see endBody). */
  private held = 0;
  private bodyMs: number | undefined;
  private readonly waiters: Array<() => void> = [];
  private readonly queued: QueuedBody[] = [];
  private expiry: NodeJS.Timeout | undefined;

  constructor(
    /** Body permits: `maxConcurrentTasks`. */
    readonly permits: number,
    private readonly onFree: () => void,
    /** The most tasks held claimed beyond the permits (`claimAhead`). */
    private readonly maxAhead = 0,
  ) {}

  /** Tasks this runner may hold claimed right now: the permits plus the claim-ahead in force. */
  get capacity(): number {
    return this.permits + this.extra;
  }

  /** Free slots right now (never negative). */
  get free(): number {
    return Math.max(0, this.capacity - this.used);
  }

  /** Slots in use (running, waiting for a permit, or reserved). */
  get inUse(): number {
    return this.used;
  }

  /** The claim-ahead in force: how many tasks beyond the permits may be held claimed (see {@link claimAheadFor}). */
  get ahead(): number {
    return this.extra;
  }

  /** Claimed tasks waiting for a body permit. */
  get waiting(): number {
    return this.queued.length;
  }

  /** Takes up to `n` slots at once; returns how many it got. */
  reserve(n: number): number {
    const got = Math.max(0, Math.min(n, this.free - this.waiters.length));
    this.used += got;
    return got;
  }

  /** Takes one slot if one is free. */
  tryReserve(): boolean {
    return this.reserve(1) === 1;
  }

  /** Waits for a slot (deferred tasks coming back get slots before new claims). */
  acquire(): Promise<void> {
    if (this.tryReserve()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Gives `n` slots back, handing them to waiters first. */
  release(n = 1): void {
    for (let i = 0; i < n; i++) {
      const next = this.waiters.shift();
      if (next) next();
      else this.used--;
    }
    if (this.free > 0) this.onFree();
  }

  /**
   * Takes a body permit for a claimed task (which holds a slot): "run" at once when one is free, otherwise
   * a promise of "run" once a body hands its permit on, or of "expired" after {@link AHEAD_TTL_MS} (no
   * permit is held: hand the task back). A body coming back from `deferUntil` (`resumed`) waits ahead of
   * the claimed tasks, and never expires.
   */
  startBody(resumed = false): "run" | Promise<BodyStart> {
    if (this.running < this.permits && !this.queued.length) {
      this.running++;
      return "run";
    }
    return new Promise<BodyStart>((settle) => {
      const entry: QueuedBody = { since: performance.now(), expires: !resumed, settle };
      if (resumed) {
        this.queued.unshift(entry);
        return;
      }
      this.queued.push(entry);
      this.expiry ??= setTimeout(() => this.expire(), AHEAD_TTL_MS).unref();
    });
  }

  /** Gives a body permit back to the next waiting task, or frees it. */
  passBody(): void {
    const next = this.queued.shift();
    if (next) next.settle("run");
    else this.running--;
  }

  /**
   * Counts an ended body's duration and gives its permit back (to the next waiting task first); with
   * `hold`, keeps the permit until {@link releaseHeld} (the runner's run-ahead bound: the body's outcome
   * must be recorded first). While a permit is held so, waiting tasks do not expire: they wait for the
   * runner's own writes, which another runner could not make faster; they get a fresh
   * {@link AHEAD_TTL_MS} once no permit is held.
   */
  endBody(durationMs: number, hold = false): void {
    this.bodyMs = this.bodyMs === undefined ? durationMs : this.bodyMs + EWMA_WEIGHT * (durationMs - this.bodyMs);
    if (hold) this.held++;
    else this.passBody();
    this.pace();
  }

  /** Gives back a permit kept by `endBody(…, true)`. */
  releaseHeld(): void {
    this.held--;
    if (this.held === 0) {
      const now = performance.now();
      for (const q of this.queued) q.since = now;
    }
    this.passBody();
  }

  /** Sends the tasks that waited too long for a permit back, and claims ahead less (bodies got slower). */
  private expire(): void {
    this.expiry = undefined;
    const now = performance.now();
    const late = this.held > 0 ? [] : this.queued.filter((q) => q.expires && now - q.since >= AHEAD_TTL_MS);
    if (late.length) {
      this.queued.splice(0, this.queued.length, ...this.queued.filter((q) => !late.includes(q)));
      for (const q of late) q.settle("expired");
      this.bodyMs = Math.max(this.bodyMs ?? 0, AHEAD_TTL_MS);
      this.pace();
    }
    const oldest = this.queued.find((q) => q.expires);
    if (oldest) this.expiry = setTimeout(() => this.expire(), Math.max(1, this.held > 0 ? AHEAD_TTL_MS : oldest.since + AHEAD_TTL_MS - now)).unref();
  }

  /** Sets the claim-ahead from the pace of recent bodies; a larger one may start claims. */
  private pace(): void {
    const ahead = claimAheadFor(this.permits, this.maxAhead, this.bodyMs);
    if (ahead === this.extra) return;
    this.extra = ahead;
    if (this.free > 0) this.onFree();
  }
}

/**
 * The slots of one outcome batch: those its attempts still hold (see DefaultRunner.#finish in runner.ts:
 * most gave theirs back when their bodies ended), plus extra ones reserved from the runner while the batch
 * is written. Successors and new claims take from them; after commit the batch frees `unused`.
 */
export class BatchSlots {
  used = 0;

  constructor(
    private readonly own: number,
    /** Where the extra slots are counted (a write's hold, released if the batch rolls back). */
    private readonly extra: { reserved: number },
    private readonly slots: Slots,
    private readonly stopping: () => boolean,
    /** Write lanes: a batch claims with its lane's share of the free slots (see takeAll). */
    private readonly lanes: number,
  ) {}

  /** One slot for a successor claimed locally; false when none is left. */
  take(): boolean {
    if (this.stopping()) return false;
    if (this.unused > 0) {
      this.used++;
      return true;
    }
    if (!this.slots.tryReserve()) return false;
    this.extra.reserved++;
    this.used++;
    return true;
  }

  /**
   * Reserves the free slots of the runner (with several write lanes, this lane's share: a batch held up by a
   * row lock then keeps the others' from starting work); returns how many the batch has left for claims.
   */
  takeAll(): number {
    if (!this.stopping()) this.extra.reserved += this.slots.reserve(Math.ceil(this.slots.free / this.lanes));
    return this.unused;
  }

  /** Slots held and not given to a claim. */
  get unused(): number {
    return this.own + this.extra.reserved - this.used;
  }
}
