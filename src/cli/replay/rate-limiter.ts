/**
 * `--rate N`: at most N events per second on average, so a backfill leaves room for live traffic. Each batch
 * books its events on a virtual clock and waits until its slot; no burst beyond one batch (the command keeps a
 * batch at most one second's worth of events).
 */
import { sleep } from "../../backoff.js";

export class RateLimiter {
  private nextAt = 0;

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Waits until `events` more may be sent (returns at once when the signal aborts); resolves with the wait in ms. */
  async take(events: number, signal?: AbortSignal): Promise<number> {
    const now = this.now();
    const start = Math.max(now, this.nextAt);
    this.nextAt = start + (events / this.perSecond) * 1000;
    if (start > now) await sleep(start - now, signal);
    return start - now;
  }
}
