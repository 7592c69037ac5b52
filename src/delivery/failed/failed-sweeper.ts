/**
 * Backstop for the failed stream. The worker normally stores an exhausted statement itself
 * (publish, then term). If the instance dies during the final attempt, the server eventually raises a
 * MAX_DELIVERIES advisory instead; the advisory stream captures it (so none is lost while no instance runs)
 * and this sweeper, on a shared durable consumer, moves the original into the failed stream with the SAME msg id
 * as the worker would have used, so both paths together store it once.
 * Only MAX_DELIVERIES is consumed: MSG_TERMINATED fires for every term() of the worker itself.
 * The failed message is encoded by FailedStore.record (failed-codec.ts), exactly as the worker's.
 */
import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { Backoff, sleep } from "../../backoff.js";
import { readDeliveryHeaders } from "../../routing/delivery-message.js";
import { resolveDelivery } from "../../routing/router-model.js";
import type { DeliveryRuntime } from "../delivery-runtime.js";

interface MaxDeliveriesAdvisory {
  readonly type: string;
  readonly stream: string;
  readonly consumer: string;
  readonly stream_seq: number;
  readonly deliveries: number;
  readonly timestamp?: string;
}

export type SweeperDeps = DeliveryRuntime;

export class FailedSweeper {
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;
  /** Ends a wait between reconnection attempts at once when the sweeper stops. */
  private readonly stopped = new AbortController();

  constructor(private readonly deps: SweeperDeps) {}

  private get subject(): string {
    return `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${this.deps.names.deliveryStream}.*`;
  }

  async start(): Promise<void> {
    const { jsm, names } = this.deps;
    const cfg = {
      durable_name: names.sweeperConsumer,
      filter_subject: this.subject,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(60_000),
    };
    try {
      await jsm.consumers.add(names.advisoryStream, cfg);
    } catch (e) {
      // Exists already (another instance, or an earlier run): fine when the filter matches.
      const info = await jsm.consumers.info(names.advisoryStream, names.sweeperConsumer);
      if (info.config.filter_subject !== cfg.filter_subject) throw e;
    }
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const backoff = new Backoff(500, 10_000);
    while (!this.stopping) {
      try {
        const consumer = await this.deps.js.consumers.get(this.deps.names.advisoryStream, this.deps.names.sweeperConsumer);
        if (this.stopping) return;
        this.messages = await consumer.consume({ max_messages: 50 });
        backoff.reset();
        for await (const m of this.messages) await this.handle(m);
      } catch (e) {
        if (this.stopping) return;
        this.deps.logger.warn({ err: (e as Error).message }, "failed sweeper consumer unavailable; retrying");
        await sleep(backoff.next(), this.stopped.signal);
      }
    }
  }

  private async handle(m: JsMsg): Promise<void> {
    const { jsm, names, logger } = this.deps;
    let adv: MaxDeliveriesAdvisory;
    try {
      adv = m.json<MaxDeliveriesAdvisory>();
    } catch {
      m.term();
      return;
    }
    if (adv.stream !== names.deliveryStream || !adv.consumer.startsWith("deliver-")) {
      m.ack();
      return;
    }
    try {
      const orig = await jsm.streams.getMessage(names.deliveryStream, { seq: adv.stream_seq });
      if (!orig) {
        logger.error(
          { consumer: adv.consumer, streamSeq: adv.stream_seq },
          "max-deliveries advisory points to a message that is gone (aged out or purged)",
        );
        m.ack();
        return;
      }
      // A forgotten learner's statement is not kept: the forget may have scanned the failed stream already.
      if (this.deps.forgotten?.isForgotten(orig.header, orig.data)) {
        logger.info(
          { consumer: adv.consumer, streamSeq: adv.stream_seq },
          "statement of a forgotten learner not moved to the failed stream",
        );
        m.ack();
        return;
      }
      const meta = readDeliveryHeaders(orig.header);
      // Without the header, the consumer names the router (minus an incarnation suffix, nats/names.ts).
      const routerId = meta.routerId || adv.consumer.slice("deliver-".length).replace(/-R\d+$/, "");
      const { eventName } = meta;
      const statementId = meta.statementId || `seq:${orig.seq}`;
      const router = this.deps.routers.get(routerId);
      // A deleted router's statement is kept like any other (the default policy): RetryFailed leaves it alone.
      const policy = router ? resolveDelivery(router, this.deps.defaults) : undefined;
      const critical = (policy?.criticalEvents ?? new Set(this.deps.defaults.criticalEvents)).has(eventName);
      if (!critical && policy?.exhausted === "critical") {
        this.deps.stats.for(routerId).dropped++;
        logger.warn(
          { routerId, statementIds: [statementId], eventName },
          "non-critical statement exhausted its attempts without an outcome; dropped (the router keeps critical ones only)",
        );
        m.ack();
        return;
      }
      const at = adv.timestamp ? new Date(adv.timestamp) : new Date();
      await this.deps.failed.record(
        {
          routerId,
          eventName,
          statementId,
          backend: meta.backend || (router?.backend ?? ""),
          attempts: adv.deliveries,
          lastHttpStatus: 0,
          lastError: "no outcome recorded: the delivering instance stopped or crashed during the final attempt",
          firstAttemptTime: orig.time,
          lastAttemptTime: at,
          deliverySeq: orig.seq,
          ...(meta.learner ? { learner: meta.learner } : {}),
          ...(critical ? {} : { discardable: true }),
        },
        orig.data,
      );
      this.deps.stats.for(routerId).failed++;
      if (critical) logger.error({ routerId, statementId, eventName }, "critical statement moved to the failed stream by the sweeper");
      else
        logger.warn(
          { routerId, statementIds: [statementId], eventName },
          "non-critical statement moved to the failed stream by the sweeper",
        );
      m.ack();
    } catch (e) {
      logger.warn({ err: (e as Error).message, streamSeq: adv.stream_seq }, "sweeper could not handle advisory; will retry");
      m.nak(5000);
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.stopped.abort();
    await this.messages?.close().catch(() => undefined);
    await this.loop;
  }
}
