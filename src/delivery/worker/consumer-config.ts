/**
 * The durable pull consumer of one router. Pure, so the timing rules are unit-tested:
 * - ack_wait = the router's countdown, but always longer than its HTTP timeout (else a slow request is
 *   redelivered to another instance while still in flight);
 * - max_deliver = retries + 1;
 * - no `backoff`: retry delays are nak(delay) (see router-worker.ts);
 * - max_ack_pending = two batches: one being sent, one filling, so batches stay full without hoarding.
 */
import { AckPolicy, DeliverPolicy, ReplayPolicy, type ConsumerConfig } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import type { NatsNames } from "../../nats/names.js";
import type { ResolvedDelivery, RouterConfig } from "../../routing/router-model.js";

export function ackWaitMs(d: ResolvedDelivery): number {
  const floor = Math.ceil(d.httpTimeoutMs * 1.5);
  return d.countdownMs > d.httpTimeoutMs * 1.2 ? d.countdownMs : floor;
}

export function consumerConfig(
  names: NatsNames,
  router: Pick<RouterConfig, "id" | "incarnation">,
  d: ResolvedDelivery,
): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: names.deliveryConsumer(router.id, router.incarnation),
    description: `HTTP delivery of router ${router.id}${router.incarnation ? ` (incarnation ${router.incarnation})` : ""}`,
    filter_subject: names.deliverSubject(router.id, router.incarnation),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    replay_policy: ReplayPolicy.Instant,
    ack_wait: nanos(ackWaitMs(d)),
    max_deliver: d.maxRetries + 1,
    max_ack_pending: Math.max(2, d.batchSize * 2),
  };
}

/** The fields we set that may change with a router update (filter and name are fixed by the id). */
export function consumerNeedsUpdate(current: Partial<ConsumerConfig>, wanted: Partial<ConsumerConfig>): boolean {
  return (
    current.ack_wait !== wanted.ack_wait ||
    current.max_deliver !== wanted.max_deliver ||
    current.max_ack_pending !== wanted.max_ack_pending ||
    (current.backoff?.length ?? 0) > 0
  );
}
