/**
 * Waiting helpers for tests. Prefer `once` (wait for an event the engine emits);
 * use `until` only where no event exists.
 */

type OnceEmitter = { once(ev: string, cb: (...a: any[]) => void): unknown };

/**
 * Resolves with the first argument of the next `event` emitted by `emitter`;
 * rejects if it does not arrive within `timeoutMs`.
 */
export function once<T>(emitter: OnceEmitter, event: string, timeoutMs = 10_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const listener = (...args: any[]) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(args[0] as T);
    };
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      const off = (emitter as { off?: (ev: string, cb: (...a: any[]) => void) => unknown }).off;
      if (typeof off === "function") off.call(emitter, event, listener);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for event "${event}"`));
    }, timeoutMs);
    emitter.once(event, listener);
  });
}

/**
 * Polls `cond` until it returns true. Throws a clear error naming `what` on timeout;
 * an error thrown by `cond` is propagated immediately.
 */
export async function until(
  cond: () => boolean | Promise<boolean>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<void> {
  const { timeoutMs = 10_000, intervalMs = 20, what = "condition" } = opts;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, Math.max(0, deadline - Date.now()))));
  }
}

/**
 * Resolves with `done` once `p` resolves, or with `late` if it has not within `timeoutMs`: a test asserting
 * `done` then fails naming what did not happen, and the test goes on to release what it holds.
 */
export async function within(p: Promise<unknown>, done: string, late: string, timeoutMs = 10_000): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p.then(() => done), new Promise<string>((r) => (timer = setTimeout(() => r(late), timeoutMs)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once the millisecond clock has passed `ms` (for tests that need two distinct timestamps). */
export async function clockPast(ms: number): Promise<void> {
  while (Date.now() <= ms) await new Promise((r) => setImmediate(r));
}
