/**
 * Keeps one durable consumer and one local worker per router in step with the RouterSource (the KV watch):
 * - put, enabled: create or update the consumer, (re)start the worker with the new endpoint/auth/settings;
 * - put, disabled: stop the worker; the consumer and its backlog stay (delivery resumes when re-enabled);
 * - delete: stop the worker, delete the consumer and purge the router's subject (its backlog is dropped).
 * Every instance does this; the JetStream calls are idempotent, so racing instances agree.
 * Changes for one router are applied in order (a promise chain per id).
 *
 * Delete, then create again under the same id: the new router is another incarnation with its own subject and
 * consumer (nats/names.ts "Incarnations"), and a delete only ever removes the consumer and subject of the
 * incarnation that was deleted. That matters because the delete waits for this instance's worker to stop (up to
 * the HTTP timeout with a batch in flight), and other instances apply it on their own schedule: meanwhile the new
 * router is stored to and consumed elsewhere. Each instance purges the old subject after its own worker stopped,
 * which also removes what that worker handed back while stopping; repeating the purge is harmless because nothing
 * but the deleted incarnation's leftovers can be on that subject.
 *
 * JetStream errors: transient ones (no connection, timeouts, leader elections) are retried with backoff and
 * jitter, and the router is reported unhealthy after a few; a permanent refusal (a consumer limit, an invalid
 * configuration: JetStream understood and said no) is NOT retried: the router is reported UNHEALTHY with the
 * reason, logged at error, and the chain moves on, so a later change (a fix, or deleting the router) applies.
 */
import type { ConsumerConfig } from "@nats-io/jetstream";
import { resolveDelivery, type ResolvedDelivery, type RouterConfig } from "../../routing/router-model.js";
import type { RouterChange } from "../../routing/router-source.js";
import { ackWaitMs, consumerConfig, consumerNeedsUpdate } from "./consumer-config.js";
import { Backoff, sleep } from "../../backoff.js";
import { isConsumerNotFound, isPermanentJetStreamError } from "../../nats/jetstream-errors.js";
import { HttpClient } from "../http/http-send.js";
import { RouterWorker } from "./router-worker.js";
import type { DeliveryRuntime } from "../delivery-runtime.js";

export interface ConsumerManagerDeps extends DeliveryRuntime {
  readonly caliperSensorId: string;
  /** Failure summaries at most this often (tests shorten it). */
  readonly failureSummaryEveryMs?: number;
}

/** Transient failures in a row before the router is reported unhealthy (it keeps being retried). */
const UNHEALTHY_AFTER = 3;

interface Running {
  readonly worker: RouterWorker;
  readonly client: HttpClient;
  /** What the worker was built from; a put that changes none of it (e.g. display name) keeps the worker. */
  readonly fingerprint: string;
}

/** The router fields a worker depends on. Restarting costs the held messages one attempt, so avoid it. */
export function workerFingerprint(router: RouterConfig, d: ResolvedDelivery): string {
  const { displayName: _n, createTime: _c, updateTime: _u, revision: _r, matchParams: _m, ...rest } = router;
  return JSON.stringify([rest, { ...d, criticalEvents: [...d.criticalEvents].sort() }]);
}

export class ConsumerManager {
  private readonly running = new Map<string, Running>();
  /** The router (incarnation) whose consumer this instance set up last, per id: what a delete must remove. */
  private readonly applied = new Map<string, RouterConfig>();
  private readonly chains = new Map<string, Promise<void>>();
  private unsubscribe: (() => void) | undefined;
  private readonly stopping = new AbortController();

  private get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  constructor(private readonly deps: ConsumerManagerDeps) {}

  /** Subscribes first (so no change is missed), then applies every router known now; resolves when done. */
  async start(): Promise<void> {
    this.unsubscribe = this.deps.routers.subscribe((c) => void this.onChange(c));
    await Promise.all(this.deps.routers.list().map((r) => this.enqueue(r.id, () => this.applyPut(r))));
  }

  /** Resolves when every change queued so far has been applied (for tests and start-up). */
  async settled(): Promise<void> {
    while (true) {
      const pending = [...this.chains.values()];
      await Promise.all(pending);
      if ([...this.chains.values()].every((p, i) => p === pending[i]) && this.chains.size === pending.length) return;
    }
  }

  private onChange(c: RouterChange): Promise<void> {
    if (c.kind === "put") return this.enqueue(c.router.id, () => this.applyPut(c.router));
    return this.enqueue(c.id, () => this.applyDelete(c.id, c.previous));
  }

  private enqueue(id: string, job: () => Promise<void>): Promise<void> {
    const next = (this.chains.get(id) ?? Promise.resolve())
      .then(() => (this.stopped ? undefined : job()))
      .catch((e) => this.deps.logger.error({ routerId: id, err: (e as Error).message }, "could not apply router change to delivery"));
    this.chains.set(id, next);
    return next;
  }

  private async applyPut(router: RouterConfig): Promise<void> {
    const { logger, stats } = this.deps;
    const before = this.applied.get(router.id);
    // Another incarnation without a delete in between (a change this instance never saw): the old one is gone.
    if (before && (before.incarnation ?? 0) !== (router.incarnation ?? 0)) await this.removeIncarnation(before);
    this.applied.set(router.id, router);
    const d = resolveDelivery(router, this.deps.defaults);
    if (d.countdownMs <= d.httpTimeoutMs) {
      logger.warn(
        { routerId: router.id, countdownMs: d.countdownMs, httpTimeoutMs: d.httpTimeoutMs, ackWaitMs: ackWaitMs(d) },
        "countdown not above the HTTP timeout; ack wait raised",
      );
    }
    try {
      await this.retrying(router.id, () => this.ensureConsumer(router.id, consumerConfig(this.deps.names, router, d)));
    } catch (e) {
      if (this.stopped) return;
      const reason = `JetStream refused the delivery consumer: ${(e as Error).message}`;
      logger.error(
        { routerId: router.id, err: (e as Error).message },
        "JetStream refused the delivery consumer; router UNHEALTHY until its configuration or the server limits change",
      );
      await this.stopWorker(router.id);
      stats.setUnhealthy(router.id, reason);
      return;
    }
    stats.setUnhealthy(router.id, undefined);
    const fingerprint = workerFingerprint(router, d);
    if (router.enabled && this.running.get(router.id)?.fingerprint === fingerprint) return;
    await this.stopWorker(router.id);
    if (!router.enabled || this.stopped) return;
    const client = new HttpClient();
    const worker = new RouterWorker(router, d, {
      js: this.deps.js,
      writer: this.deps.writer,
      streamName: this.deps.names.deliveryStream,
      consumerName: this.deps.names.deliveryConsumer(router.id, router.incarnation),
      failed: this.deps.failed,
      stats: stats.for(router.id),
      logger,
      client,
      caliperSensorId: this.deps.caliperSensorId,
      ackWaitMs: ackWaitMs(d),
      msgIdPrefix: this.deps.names.deliveryMsgId(router.id, "", router.incarnation),
      recreateConsumer: () => this.recreateConsumer(router),
      rateLimitsBucket: () => this.deps.rateLimitsBucket(),
      onUnhealthy: (reason) => stats.setUnhealthy(router.id, reason),
      ...(this.deps.metrics ? { metrics: this.deps.metrics } : {}),
      ...(this.deps.forgotten ? { forgotten: this.deps.forgotten } : {}),
      ...(this.deps.failureSummaryEveryMs !== undefined ? { failureSummaryEveryMs: this.deps.failureSummaryEveryMs } : {}),
    });
    this.running.set(router.id, { worker, client, fingerprint });
    worker.start();
  }

  /**
   * The consumer vanished under a running worker: create it again from the router as currently known. Not queued
   * on the router's chain (a queued delete waits for the worker to stop, and the worker waits for this).
   */
  private async recreateConsumer(mine: RouterConfig): Promise<void> {
    const router = this.deps.routers.get(mine.id);
    // A deleted (or replaced) incarnation must not get its consumer back: its subject is being purged.
    if (!router?.enabled || (router.incarnation ?? 0) !== (mine.incarnation ?? 0) || this.stopped) {
      throw new Error(`router ${mine.id} is no longer enabled here`);
    }
    await this.ensureConsumer(mine.id, consumerConfig(this.deps.names, router, resolveDelivery(router, this.deps.defaults)));
  }

  /**
   * JetStream may be unreachable for a while (restart, network): keep trying transient failures, or this instance
   * would never deliver for the router; later changes for the same router queue behind. A permanent refusal is
   * thrown at once (see the header).
   */
  private async retrying(routerId: string, op: () => Promise<void>): Promise<void> {
    const backoff = new Backoff(250, 10_000);
    for (let failures = 1; ; failures++) {
      try {
        return await op();
      } catch (e) {
        if (this.stopped || isPermanentJetStreamError(e)) throw e;
        const wait = backoff.next();
        this.deps.logger.warn({ routerId, err: (e as Error).message, retryInMs: wait }, "could not set up the delivery consumer; retrying");
        if (failures >= UNHEALTHY_AFTER) {
          this.deps.stats.setUnhealthy(routerId, `could not set up the delivery consumer: ${(e as Error).message}`);
        }
        await sleep(wait, this.stopping.signal);
      }
    }
  }

  private async ensureConsumer(routerId: string, cfg: Partial<ConsumerConfig> & { durable_name: string }): Promise<void> {
    const { jsm, names } = this.deps;
    const info = await jsm.consumers.info(names.deliveryStream, cfg.durable_name).catch((e: unknown) => {
      if (isConsumerNotFound(e)) return null;
      throw e;
    });
    if (!info) {
      try {
        await jsm.consumers.add(names.deliveryStream, cfg);
        return;
      } catch (e) {
        // Another instance created it first: fall through to update. Otherwise the add's own error is the answer.
        const now = await jsm.consumers.info(names.deliveryStream, cfg.durable_name).catch(() => null);
        if (!now) throw e;
        this.deps.logger.debug({ routerId, err: (e as Error).message }, "consumer add raced; updating");
        if (!consumerNeedsUpdate(now.config, cfg)) return;
      }
    } else if (!consumerNeedsUpdate(info.config, cfg)) {
      return;
    }
    const { durable_name: _name, filter_subject: _f, deliver_policy: _dp, replay_policy: _rp, ack_policy: _ap, ...update } = cfg;
    await jsm.consumers.update(names.deliveryStream, cfg.durable_name, { ...update, backoff: [] });
  }

  private async applyDelete(routerId: string, previous: RouterConfig | undefined): Promise<void> {
    const router = previous ?? this.applied.get(routerId);
    this.applied.delete(routerId);
    await this.removeIncarnation(router ?? { id: routerId });
    this.deps.stats.delete(routerId);
  }

  /**
   * Stops this instance's worker of that incarnation, then deletes its consumer and purges its subject. Both are
   * named by the incarnation, so a router created again under the same id meanwhile is not touched (see header).
   */
  private async removeIncarnation(router: Pick<RouterConfig, "id" | "incarnation">): Promise<void> {
    const { jsm, names, logger } = this.deps;
    const { id, incarnation } = router;
    if ((this.running.get(id)?.worker.router.incarnation ?? 0) === (incarnation ?? 0)) await this.stopWorker(id);
    await jsm.consumers.delete(names.deliveryStream, names.deliveryConsumer(id, incarnation)).catch((e: unknown) => {
      if (!isConsumerNotFound(e)) throw e;
    });
    const purged = await jsm.streams.purge(names.deliveryStream, { filter: names.deliverSubject(id, incarnation) });
    logger.info(
      { routerId: id, ...(incarnation ? { incarnation } : {}), purged: purged.purged },
      "router deleted: consumer removed and its undelivered statements purged",
    );
  }

  private async stopWorker(routerId: string): Promise<void> {
    const r = this.running.get(routerId);
    if (!r) return;
    this.running.delete(routerId);
    await r.worker.stop(r.worker.delivery.httpTimeoutMs);
    r.client.close();
  }

  isRunning(routerId: string): boolean {
    return this.running.has(routerId);
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.unsubscribe?.();
    await Promise.all([...this.chains.values()]);
    await Promise.all([...this.running.keys()].map((id) => this.stopWorker(id)));
  }
}
