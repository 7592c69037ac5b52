/**
 * Retry pacing shared by every loop that waits for NATS or an endpoint to come back: exponential growth with
 * jitter (so instances restarted together do not retry in lock-step), reset after a success, and sleeps that
 * end early when the owner stops (a shutdown must never wait out a backoff).
 */

export class Backoff {
  private current: number;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
  ) {
    this.current = initialMs;
  }

  /** The next wait: the current step with up to 20% jitter either way; doubles the step up to the maximum. */
  next(): number {
    const base = this.current;
    this.current = Math.min(this.current * 2, this.maxMs);
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  reset(): void {
    this.current = this.initialMs;
  }
}

/**
 * Waits `ms`, or less when `signal` aborts; never rejects. The abort listener is removed when the timer fires,
 * so a long-lived signal does not collect one listener per sleep.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
