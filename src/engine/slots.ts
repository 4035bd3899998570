/**
 * The runner's concurrency slots. `maxConcurrentTasks` is honoured exactly: a slot is reserved before a
 * task is claimed (no hoarding claims we cannot run), and a waiting retry or a deferred task holds none.
 */
export class Slots {
  private used = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(
    readonly capacity: number,
    private readonly onFree: () => void,
  ) {}

  /** Free slots right now. */
  get free(): number {
    return this.capacity - this.used;
  }

  /** Slots in use (running or reserved). */
  get inUse(): number {
    return this.used;
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
}
