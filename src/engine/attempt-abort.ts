/**
 * How the engine aborts one task attempt (timeout, cancel, shutdown). The body sees it as
 * `handle.signal`, an `AbortSignal` made only when the body first reads it: most bodies never do, and an
 * `AbortController` per attempt was 3% of the runner's CPU in a steady PostgreSQL `simple` run (profiling
 * script), its objects a share of the garbage. The engine itself listens here, not on the signal.
 */
export class AttemptAbort {
  #aborted = false;
  #reason: unknown = undefined;
  #controller: AbortController | undefined;
  #listeners: Array<() => void> | undefined;

  /** Whether the attempt was aborted. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** Why (what `handle.signal.reason` holds), once aborted. */
  get reason(): unknown {
    return this.#reason;
  }

  /** The body's signal: made on first use, already aborted (with the same reason) if the attempt was. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** Aborts once (later calls do nothing): the signal's listeners run first, then the engine's. */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
    const listeners = this.#listeners;
    this.#listeners = undefined;
    for (const listener of listeners ?? []) listener();
  }

  /** Calls `listener` once on abort (at once if already aborted); returns what removes it. */
  onAbort(listener: () => void): () => void {
    if (this.#aborted) {
      listener();
      return () => undefined;
    }
    (this.#listeners ??= []).push(listener);
    return () => {
      const at = this.#listeners?.indexOf(listener) ?? -1;
      if (at >= 0) this.#listeners!.splice(at, 1);
    };
  }
}
