/**
 * A router's request rate limit (delivery.rate_limit: at most `requests` in any window of `period`), shared by
 * every instance that delivers for the router, through one key per router in a KV bucket (`<prefix>_rate_limits`).
 *
 * The rule: requests are spaced one `interval` apart, and the key holds the earliest time the next request may
 * start. The interval is period / requests plus HEADROOM: a request starts when its timer fires, which on a busy
 * event loop can be some milliseconds after its slot while the next one starts on time, and the endpoint counts
 * arrivals, which carry network jitter too; 5% of the period is the margin for both (50 ms of a 1 s period, 3 s of
 * a minute), at the cost of running at 95% of the rate. A request reserves its slot with a compare-and-set write (the KV revision), so two
 * instances never take the same slot: slot = max(now, stored), store slot + interval, then wait until the slot.
 * Evenly spaced requests put at most `requests` into any window of `period` (N intervals span exactly one
 * period), measured where they are sent; this is stricter than a fixed window (which allows 2N across a window
 * boundary) and needs one small value per router, however large N is. It paces a burst instead of sending it at
 * once, which a backlog does not mind: batches keep filling while they wait.
 *
 * "As well as it can": the slots are wall-clock times, so instances whose clocks differ by d can send two
 * requests up to d closer than one interval (keep clocks in step with NTP). A reservation further ahead than one
 * period is taken for a stale value (a lower rate before a router change, a clock far ahead) and ignored. When
 * the bucket cannot be read or written (NATS down, bucket removed), each instance paces itself alone at the full
 * rate until it can again, and says so in the log (at most once a minute): delivery is not blocked by the limiter,
 * but two instances may then send up to twice the limit.
 */
import type { KV } from "@nats-io/kv";
import type { Logger } from "pino";
import { sleep } from "../../backoff.js";
import { isWrongLastSequence } from "../../nats/jetstream-errors.js";
import type { RateLimit } from "../../routing/router-model.js";
import { RequestNotSentError } from "../http/http-send.js";

/** CAS conflicts in a row (other instances reserving) before the limiter paces locally for this request. */
const MAX_CONFLICTS = 50;
const WARN_EVERY_MS = 60_000;
/** Share of the rate given up as a margin for timer and network jitter (see the header). */
export const HEADROOM = 0.05;

/** The next request's slot from the stored time (or none) and now: pure, see the header. */
export function reserveSlot(stored: number | undefined, now: number, limit: RateLimit): { slot: number; next: number } {
  const interval = limit.periodMs / (limit.requests * (1 - HEADROOM));
  const from = stored !== undefined && stored <= now + limit.periodMs ? stored : now;
  const slot = Math.max(now, from);
  return { slot, next: slot + interval };
}

interface Known {
  /** KV revision of the key's last value; 0 when absent or deleted (then the write is a create). */
  readonly revision: number;
  readonly next: number | undefined;
}

export interface RateLimiterOptions {
  readonly routerId: string;
  readonly limit: RateLimit;
  /** The shared bucket, opened when first needed (delivery.ts). */
  readonly bucket: () => Promise<KV>;
  readonly logger: Logger;
  readonly now?: () => number;
}

export class RateLimiter {
  private known: Known | undefined;
  /** The next slot when pacing alone (the bucket failed). */
  private localNext = 0;
  private lastWarn = 0;
  private readonly now: () => number;

  constructor(private readonly opts: RateLimiterOptions) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * Waits for this request's slot. Rejects with RequestNotSentError (not paused) when `signal` aborts first: the
   * request was never sent, so its statements are handed back without an attempt.
   */
  async acquire(signal?: AbortSignal): Promise<void> {
    let slot: number;
    try {
      slot = await this.reserveShared();
    } catch (e) {
      slot = this.reserveLocal(e);
    }
    const wait = slot - this.now();
    if (wait > 0) await sleep(wait, signal);
    if (signal?.aborted) throw new RequestNotSentError("aborted: delivery stopped while waiting for the rate limit", false);
  }

  private async reserveShared(): Promise<number> {
    const kv = await this.opts.bucket();
    const key = this.opts.routerId;
    let known = this.known ?? (await this.read(kv));
    for (let conflicts = 0; ; conflicts++) {
      const { slot, next } = reserveSlot(known.next, this.now(), this.opts.limit);
      try {
        const value = String(next);
        const revision = known.revision === 0 ? await kv.create(key, value) : await kv.update(key, value, known.revision);
        this.known = { revision, next };
        return slot;
      } catch (e) {
        // Another instance reserved first (or the value changed under us): read it and try again.
        if (!isWrongLastSequence(e) || conflicts >= MAX_CONFLICTS) throw e;
        known = await this.read(kv);
      }
    }
  }

  private async read(kv: KV): Promise<Known> {
    const e = await kv.get(this.opts.routerId);
    if (e?.operation !== "PUT") return { revision: 0, next: undefined };
    const next = Number(e.string());
    return { revision: e.revision, next: Number.isFinite(next) ? next : undefined };
  }

  private reserveLocal(e: unknown): number {
    this.known = undefined;
    const now = this.now();
    if (now - this.lastWarn >= WARN_EVERY_MS) {
      this.lastWarn = now;
      this.opts.logger.warn(
        { routerId: this.opts.routerId, err: (e as Error)?.message },
        "rate limit bucket unavailable; this instance paces the router's requests alone (other instances add theirs)",
      );
    }
    const { slot, next } = reserveSlot(this.localNext || undefined, now, this.opts.limit);
    this.localNext = next;
    return slot;
  }
}
