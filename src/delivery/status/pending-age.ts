/**
 * How old a router's oldest undelivered statement is, and a warning before the delivery stream's age limit
 * (DELIVERY_MAX_AGE_HOURS) removes it: statements older than max_age vanish, delivered or not, and nothing else
 * would say so.
 *
 * Oldest pending = the first message on the router's subject after the consumer's ack floor (every message up to
 * the floor is acknowledged, so the next one of this subject is not), read with one direct get. Its storage time
 * is the stream time, or Er-Stored-Time when it was handed back (requeue.ts). Computed on demand (GetRouterStatus)
 * and by the monitor below on an interval, never per message.
 */
import type { ConsumerInfo, JetStreamManager } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { isConsumerNotFound } from "../../nats/jetstream-errors.js";
import type { NatsNames } from "../../nats/names.js";
import type { RouterConfig } from "../../routing/router-model.js";
import type { RouterSource } from "../../routing/router-source.js";
import { storedTime } from "../worker/requeue.js";

/** Warn when the oldest pending statement has used this share of the stream's max age. */
export const PENDING_AGE_WARN_RATIO = 0.75;
export const DEFAULT_AGE_CHECK_EVERY_MS = 60_000;

export interface PendingAge {
  readonly oldest: Date;
  /** When the stream's age limit removes it; undefined when the stream has no age limit. */
  readonly expires?: Date;
}

/** The delivery stream's max age in ms (0 = none). */
export async function deliveryMaxAgeMs(jsm: JetStreamManager, names: NatsNames): Promise<number> {
  const si = await jsm.streams.info(names.deliveryStream);
  return Math.floor(Number(si.config.max_age ?? 0) / 1_000_000);
}

/** Oldest unacknowledged statement of a router, from its consumer info; undefined when nothing waits. */
export async function oldestPending(
  jsm: JetStreamManager,
  names: NatsNames,
  router: Pick<RouterConfig, "id" | "incarnation">,
  ci: ConsumerInfo,
  maxAgeMs: number,
): Promise<PendingAge | undefined> {
  if (ci.num_pending + ci.num_ack_pending === 0) return undefined;
  const subject = names.deliverSubject(router.id, router.incarnation);
  const m = await jsm.direct.getMessage(names.deliveryStream, { seq: ci.ack_floor.stream_seq + 1, next_by_subj: subject });
  if (!m) return undefined;
  const oldest = storedTime({ headers: m.header }, m.time);
  return maxAgeMs > 0 ? { oldest, expires: new Date(m.time.getTime() + maxAgeMs) } : { oldest };
}

/**
 * Checks every router (enabled or not: a disabled router's backlog ages too) every `everyMs` and logs a warning
 * for each whose oldest pending statement passed PENDING_AGE_WARN_RATIO of the max age.
 */
export class PendingAgeMonitor {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly deps: { jsm: JetStreamManager; names: NatsNames; routers: RouterSource; logger: Logger },
    private readonly everyMs = DEFAULT_AGE_CHECK_EVERY_MS,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.check().finally(() => (this.running = undefined));
    }, this.everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  async check(now = Date.now()): Promise<void> {
    const { jsm, names, routers, logger } = this.deps;
    let maxAgeMs: number;
    try {
      maxAgeMs = await deliveryMaxAgeMs(jsm, names);
    } catch (e) {
      logger.debug({ err: (e as Error).message }, "pending age check skipped: delivery stream info unavailable");
      return;
    }
    if (maxAgeMs <= 0) return;
    for (const r of routers.list()) {
      try {
        const ci = await jsm.consumers.info(names.deliveryStream, names.deliveryConsumer(r.id, r.incarnation));
        const age = await oldestPending(jsm, names, r, ci, maxAgeMs);
        if (!age?.expires || now - age.oldest.getTime() < maxAgeMs * PENDING_AGE_WARN_RATIO) continue;
        logger.warn(
          {
            routerId: r.id,
            oldestPendingTime: age.oldest.toISOString(),
            expireTime: age.expires.toISOString(),
            pending: ci.num_pending + ci.num_ack_pending,
            enabled: r.enabled,
          },
          "undelivered statements are close to DELIVERY_MAX_AGE_HOURS and will be removed from the delivery stream unless delivered",
        );
      } catch (e) {
        if (!isConsumerNotFound(e)) logger.debug({ routerId: r.id, err: (e as Error).message }, "pending age check failed");
      }
    }
  }
}
