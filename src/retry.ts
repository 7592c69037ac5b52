/**
 * One operation, tried again after failures with the project's jittered Backoff (backoff.ts), until it succeeds,
 * the attempts run out, an error is not worth retrying, or the owner stops.
 *
 * - `attempts` bounds the tries (undefined: no bound); `retryable` says no for errors another try cannot fix
 *   (a refusal, a stop); either way the error of the last try is what the caller gets.
 * - `onRetry` runs after a failed try that will be repeated, with the wait before the next (for the log line
 *   and for keeping a lease alive, e.g. JetStream's working()).
 * - `signal`: a stop ends the wait at once and no further try starts (a shutdown must never wait out a backoff
 *   nor begin new work); the last error is thrown then, or the signal's reason when no try was made.
 * Loops that keep a session or a watch alive (reconnect, then consume) are not this: see ingest/input-loop.ts.
 */
import { type Backoff, sleep } from "./backoff.js";

export interface RetryOptions {
  /** The pacing; a fresh one per call (it keeps the growing step). */
  readonly backoff: Backoff;
  /** Tries at most, the first included; undefined: until success, a non-retryable error or a stop. */
  readonly attempts?: number;
  readonly signal?: AbortSignal;
  /** False: thrown at once. Default: every error is retried. */
  readonly retryable?: (e: unknown) => boolean;
  /** After failed try number `attempt` (1-based), before waiting `waitMs`. */
  readonly onRetry?: (e: unknown, attempt: number, waitMs: number) => void;
}

export async function retry<T>(op: (attempt: number) => Promise<T>, o: RetryOptions): Promise<T> {
  let last: unknown;
  for (let attempt = 1; ; attempt++) {
    if (o.signal?.aborted) throw attempt === 1 ? o.signal.reason : last;
    try {
      return await op(attempt);
    } catch (e) {
      if ((o.attempts !== undefined && attempt >= o.attempts) || (o.retryable && !o.retryable(e))) throw e;
      last = e;
      const waitMs = o.backoff.next();
      o.onRetry?.(e, attempt, waitMs);
      await sleep(waitMs, o.signal);
    }
  }
}
