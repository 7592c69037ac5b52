/**
 * Delivers one router's statements in this instance. Several instances may run a worker for the same router:
 * JetStream hands each message to one of them. The parts, one job each:
 *   ConsumeLoop (consume-loop.ts)     pulls messages, recreates a vanished consumer, reports the router unhealthy;
 *   Batcher (batcher.ts)              size-or-timer batches;
 *   HeldMessages (held-messages.ts)   working() heartbeats for everything held, first-attempt times;
 *   BatchProcessor (batch-processor.ts) one batch: HTTP (split as needed), then ack / nak / failed stream;
 *   requeue (requeue.ts)              hands a message back without spending an attempt;
 *   FailureLog (failure-log.ts)       rate-limited warn lines for failed attempts and the recovery line.
 * This file only sequences them: one batch at a time, the PAUSED state, and stopping.
 *
 * PAUSED. 401/403/404/410 are answers about the router, not the statement: a rotated password must not drop
 * data. So is an OAuth 2 router's token endpoint refusing it or failing (no token: the request is not even sent). The batch that got such an answer stays HELD (working() keeps it from redelivery, and JetStream counts no
 * new delivery for it), later batches queue up behind it (the server stops handing out more at max_ack_pending),
 * and the held batch is re-sent as a probe with a slow backoff (from the countdown up to ten times it, at most 5
 * min). The attempt is not counted: a JetStream delivery counts at most one attempt, and an answer about the
 * router never counts. This was chosen over nak(delay) with separate bookkeeping because a nak always costs a
 * delivery (max_retries 0 would lose the statement after the first 401) and holding needs no shared state. A
 * config change for the router restarts the worker (new fingerprint): the held messages are handed back without
 * spending an attempt and the new worker tries them at once.
 *
 * Stopping: the pull stops; messages pulled but not tried (batcher, queue, paused, never sent) are handed back by
 * requeue.ts, so SIGTERM with max_retries 0 loses nothing; the running batch gets `graceMs` to finish, then its
 * requests are aborted (their attempt counts: they were sent).
 */
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { Logger } from "pino";
import { Backoff, sleep } from "../../backoff.js";
import type { JetStreamWriter } from "../../nats/jetstream-writer.js";
import type { ResolvedDelivery, RouterConfig } from "../../routing/router-model.js";
import { BatchProcessor, type BatchResult } from "./batch-processor.js";
import { Batcher } from "./batcher.js";
import { ConsumeLoop } from "./consume-loop.js";
import type { ForgottenMessages } from "../delivery-runtime.js";
import type { FailedStore } from "../failed/failed-store.js";
import { FailureLog } from "./failure-log.js";
import { HeldMessages } from "./held-messages.js";
import type { HttpClient } from "../http/http-send.js";
import { requeue } from "./requeue.js";
import type { RouterStats } from "../status/router-stats.js";
import { createSender } from "../http/senders.js";
import type { MetricsRecorder } from "../../metrics/metrics.js";
import { instrumentSender } from "../../metrics/instrumented-sender.js";
import { RateLimiter } from "./rate-limiter.js";

export { retryDelayMs } from "./batch-processor.js";

/** Longest wait between two probes of a PAUSED router. */
const PAUSE_PROBE_MAX_MS = 300_000;

export interface WorkerDeps {
  readonly js: JetStreamClient;
  /** Re-publishes what the worker hands back on stop (requeue.ts). */
  readonly writer: JetStreamWriter;
  readonly streamName: string;
  readonly consumerName: string;
  readonly failed: FailedStore;
  readonly stats: RouterStats;
  readonly logger: Logger;
  readonly client: HttpClient;
  readonly caliperSensorId: string;
  /** Counts requests and settled statements (src/metrics/); absent when metrics are off. */
  readonly metrics?: MetricsRecorder;
  /** The consumer's ack wait in ms (may exceed the countdown; see consumer-config.ts). */
  readonly ackWaitMs: number;
  /** Nats-Msg-Id prefix of this router's delivery messages (requeue ids extend it). */
  readonly msgIdPrefix: string;
  /** Creates the consumer again from the router's configuration (it vanished under the worker). */
  recreateConsumer(): Promise<void>;
  /** A reason while this instance cannot consume for the router; undefined when it can. */
  onUnhealthy(reason: string | undefined): void;
  /** Failure summaries at most this often (tests shorten it). */
  readonly failureSummaryEveryMs?: number;
  /** Forgotten learners: their statements are dropped unsent (batch-processor.ts). */
  readonly forgotten?: ForgottenMessages;
  /** The bucket shared by every instance's rate limiters (rate-limiter.ts). */
  rateLimitsBucket(): Promise<KV>;
}

export class RouterWorker {
  private readonly held: HeldMessages;
  private readonly batcher: Batcher<JsMsg>;
  private readonly processor: BatchProcessor;
  private readonly loop: ConsumeLoop;
  private readonly queue: JsMsg[][] = [];
  /** Pulled or kept but never tried; handed back on stop. */
  private readonly untried: JsMsg[] = [];
  /** Stop requested: no new batch starts, sleeps end, later messages are only collected. */
  private readonly stopping = new AbortController();
  /** The grace period is over: requests in flight are aborted. */
  private readonly abortSends = new AbortController();
  private pumping: Promise<void> | undefined;
  private busy = false;
  private stopped: Promise<void> | undefined;

  constructor(
    readonly router: RouterConfig,
    readonly delivery: ResolvedDelivery,
    private readonly deps: WorkerDeps,
  ) {
    const limiter = delivery.rateLimit
      ? new RateLimiter({ routerId: router.id, limit: delivery.rateLimit, bucket: () => deps.rateLimitsBucket(), logger: deps.logger })
      : undefined;
    const sender = instrumentSender(
      createSender(router, {
        client: deps.client,
        timeoutMs: delivery.httpTimeoutMs,
        caliperSensorId: deps.caliperSensorId,
        ...(limiter ? { pace: (signal?: AbortSignal) => limiter.acquire(signal) } : {}),
      }),
      router.id,
      deps.metrics,
    );
    let beatFailed = false;
    this.held = new HeldMessages(deps.ackWaitMs, (err) => {
      if (beatFailed) return;
      beatFailed = true;
      deps.logger.warn(
        { routerId: router.id, err: (err as Error)?.message },
        "cannot keep held statements alive (NATS connection closed or draining); JetStream redelivers them after the ack wait",
      );
    });
    this.batcher = new Batcher<JsMsg>(delivery.batchSize, delivery.batchIntervalMs, (b) => this.enqueue(b));
    const failures = new FailureLog(deps.logger, router.id, deps.failureSummaryEveryMs);
    const { failed, stats, logger } = deps;
    this.processor = new BatchProcessor({
      router,
      delivery,
      sender,
      failed,
      stats,
      held: this.held,
      failures,
      logger,
      ...(deps.metrics ? { metrics: deps.metrics } : {}),
      ...(deps.forgotten ? { forgotten: deps.forgotten } : {}),
    });
    this.loop = new ConsumeLoop({
      js: deps.js,
      streamName: deps.streamName,
      consumerName: deps.consumerName,
      routerId: router.id,
      logger: deps.logger,
      maxMessages: delivery.batchSize,
      recreate: () => deps.recreateConsumer(),
      onMessage: (m) => this.receive(m),
      onProblem: (reason) => deps.onUnhealthy(reason),
    });
  }

  start(): void {
    this.held.start();
    this.loop.start();
  }

  private receive(m: JsMsg): void {
    this.held.add(m);
    if (this.stopping.signal.aborted) this.untried.push(m);
    else this.batcher.add(m);
  }

  private enqueue(batch: JsMsg[]): void {
    this.queue.push(batch);
    if (!this.busy) this.pumping = this.pump();
  }

  /**
   * One batch at a time. `busy` is set and cleared synchronously with the queue check, so a batch enqueued
   * while the last one finishes is never stranded.
   */
  private async pump(): Promise<void> {
    this.busy = true;
    try {
      while (this.queue.length > 0 && !this.stopping.signal.aborted) {
        const batch = this.queue.shift()!;
        let r: BatchResult;
        try {
          r = await this.processor.deliver(batch, this.abortSends.signal);
        } catch (e) {
          // Never leave messages unanswered because of a bug: unheld, they come back after the ack wait.
          this.deps.logger.error({ routerId: this.router.id, err: (e as Error).message }, "delivery batch failed unexpectedly");
          for (const m of batch) this.held.release(m, false);
          continue;
        }
        this.untried.push(...r.unsent);
        if (r.paused.length > 0) await this.pause(r);
      }
    } finally {
      this.busy = false;
    }
  }

  /** Holds the refused batch and re-sends it slowly until the endpoint answers something else (or the worker stops). */
  private async pause(first: BatchResult): Promise<void> {
    const { stats, logger } = this.deps;
    const id = this.router.id;
    let paused = first.paused;
    let reason = first.pauseReason!;
    stats.paused = { reason: reason.error, since: new Date() };
    logger.error(
      { routerId: id, status: reason.status, err: reason.error, statements: paused.length },
      "endpoint (or its OAuth 2 token endpoint) refused the router (check its credentials and URLs); router PAUSED: " +
        "statements stay in the stream and are retried slowly, no attempt used",
    );
    const countdown = this.delivery.countdownMs;
    const probe = new Backoff(countdown, Math.max(countdown, Math.min(countdown * 10, PAUSE_PROBE_MAX_MS)));
    while (paused.length > 0) {
      await sleep(probe.next(), this.stopping.signal);
      if (this.stopping.signal.aborted) {
        this.untried.push(...paused);
        return;
      }
      const r = await this.processor.deliver(paused, this.abortSends.signal);
      this.untried.push(...r.unsent);
      paused = r.paused;
      if (r.pauseReason) reason = r.pauseReason;
      if (paused.length > 0) stats.paused = { reason: reason.error, since: stats.paused?.since ?? new Date() };
    }
    const since = stats.paused?.since;
    stats.paused = undefined;
    logger.warn({ routerId: id, pausedForMs: since ? Date.now() - since.getTime() : 0 }, "endpoint answers the router again; PAUSED ended");
  }

  /** Stops pulling; lets the running batch finish for up to `graceMs`, then aborts it; hands back what was never tried. */
  stop(graceMs: number): Promise<void> {
    this.stopped ??= this.doStop(graceMs);
    return this.stopped;
  }

  private async doStop(graceMs: number): Promise<void> {
    this.stopping.abort();
    await this.loop.stop();
    this.untried.push(...this.batcher.take(), ...this.queue.splice(0).flat());
    if (this.pumping) {
      let t: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((r) => (t = setTimeout(() => r("timeout"), graceMs)));
      if ((await Promise.race([this.pumping, timedOut])) === "timeout") this.abortSends.abort();
      clearTimeout(t);
      await this.pumping;
    }
    const back = this.untried.splice(0);
    const requeued = await requeue(this.deps.writer, back, this.deps.msgIdPrefix);
    // Re-published: this sequence is settled (terminated). Nak'd: it comes back under the same sequence.
    for (let i = 0; i < back.length; i++) this.held.release(back[i]!, requeued[i]!);
    this.held.stop();
    this.deps.stats.clearState();
    this.deps.onUnhealthy(undefined);
    if (back.length > 0) {
      const nakd = requeued.filter((ok) => !ok).length;
      const log = { routerId: this.router.id, handedBack: back.length, nakd };
      if (nakd > 0)
        this.deps.logger.warn(log, "worker stopped; untried statements handed back, some nak'd (one attempt spent): NATS did not confirm");
      else this.deps.logger.info(log, "worker stopped; untried statements handed back without spending an attempt");
    }
  }
}
