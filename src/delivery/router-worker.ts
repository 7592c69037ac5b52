/**
 * Delivers one router's statements from its durable pull consumer, in this instance. Several instances may run
 * a worker for the same router: JetStream hands each message to one of them.
 *
 * Flow: consume() -> Batcher (size or timer) -> one batch at a time -> deliverBatch (HTTP, splitting) -> per
 * message ack / nak(delay) / exhaust. Every message held here gets `working()` every third of the ack wait, so
 * a batch waiting for its timer or a long split sequence is never redelivered to another instance mid-flight.
 *
 * Retries are driven by nak(delay) with no consumer `backoff` (NATS-JETSTREAM.md §2.1: nak delays are inflated
 * by a backoff schedule). The ack wait only matters when this instance dies holding messages.
 */
import type { ConsumerMessages, JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { HDR_BACKEND, HDR_EVENT_NAME, HDR_STATEMENT_ID } from "../routing/delivery-message.js";
import type { ResolvedDelivery, RouterConfig } from "../routing/router-model.js";
import { deliverBatch, type BatchItem } from "./batch-delivery.js";
import { Batcher } from "./batcher.js";
import type { ItemOutcome } from "./delivery-outcome.js";
import type { FailedStore } from "./failed-store.js";
import type { HttpClient } from "./http-send.js";
import type { RouterStats } from "./router-stats.js";
import { createSender, type BatchSender } from "./senders.js";

const FIRST_ATTEMPT_MAX = 10_000;

export interface WorkerDeps {
  readonly js: JetStreamClient;
  readonly streamName: string;
  readonly consumerName: string;
  readonly failed: FailedStore;
  readonly stats: RouterStats;
  readonly logger: Logger;
  readonly client: HttpClient;
  readonly caliperSensorId: string;
  /** The consumer's ack wait in ms (may exceed the countdown; see consumer-config.ts). */
  readonly ackWaitMs: number;
}

/** When the delay of retry number `attempt` (1-based: after delivery `attempt`) comes from. */
export function retryDelayMs(d: ResolvedDelivery, attempt: number): number {
  if (d.backoffMs.length === 0) return d.countdownMs;
  return d.backoffMs[Math.min(attempt - 1, d.backoffMs.length - 1)]!;
}

export class RouterWorker {
  private readonly held = new Set<JsMsg>();
  private readonly firstAttempt = new Map<number, Date>();
  private readonly batcher: Batcher<JsMsg>;
  private readonly queue: JsMsg[][] = [];
  private readonly sender: BatchSender;
  private readonly abort = new AbortController();
  private messages: ConsumerMessages | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private pumping: Promise<void> | undefined;
  private busy = false;
  private loop: Promise<void> | undefined;
  private stopping = false;

  constructor(
    readonly router: RouterConfig,
    readonly delivery: ResolvedDelivery,
    private readonly deps: WorkerDeps,
  ) {
    this.sender = createSender(router, { client: deps.client, timeoutMs: delivery.httpTimeoutMs, caliperSensorId: deps.caliperSensorId });
    this.batcher = new Batcher<JsMsg>(delivery.batchSize, delivery.batchIntervalMs, (b) => this.enqueue(b));
  }

  private get maxDeliver(): number {
    return this.delivery.maxRetries + 1;
  }

  start(): void {
    const every = Math.max(50, Math.floor(this.deps.ackWaitMs / 3));
    this.heartbeat = setInterval(() => {
      for (const m of this.held) m.working();
    }, every);
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    let wait = 250;
    while (!this.stopping) {
      try {
        const consumer = await this.deps.js.consumers.get(this.deps.streamName, this.deps.consumerName);
        if (this.stopping) return;
        this.messages = await consumer.consume({ max_messages: Math.max(this.delivery.batchSize, 1) });
        for await (const m of this.messages) {
          if (this.stopping) {
            m.nak();
            continue;
          }
          if (!this.firstAttempt.has(m.seq)) this.firstAttempt.set(m.seq, new Date());
          this.held.add(m);
          this.batcher.add(m);
        }
        wait = 250;
      } catch (e) {
        if (this.stopping) return;
        this.deps.logger.warn({ routerId: this.router.id, err: (e as Error).message }, "delivery consumer unavailable; retrying");
        await new Promise((r) => setTimeout(r, wait));
        wait = Math.min(wait * 2, 5000);
      }
    }
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
      while (this.queue.length > 0) {
        const batch = this.queue.shift()!;
        try {
          await this.process(batch);
        } catch (e) {
          // Never leave messages unanswered because of a bug: they come back after the ack wait anyway.
          this.deps.logger.error({ routerId: this.router.id, err: (e as Error).message }, "delivery batch failed unexpectedly");
          for (const m of batch) this.release(m, false);
        }
      }
    } finally {
      this.busy = false;
    }
  }

  /**
   * No longer held here. The first-attempt time is kept across retries (for the failed-stream metadata) until
   * the message is settled; the map is bounded because retries may go to other instances and never come back.
   */
  private release(m: JsMsg, settled: boolean): void {
    this.held.delete(m);
    if (settled) this.firstAttempt.delete(m.seq);
    else if (this.firstAttempt.size > FIRST_ATTEMPT_MAX) this.firstAttempt.delete(this.firstAttempt.keys().next().value!);
  }

  private async process(batch: JsMsg[]): Promise<void> {
    // Duplicate statement ids in one request are refused by LRSs (400): send one, apply its fate to all copies.
    const groups = new Map<string, JsMsg[]>();
    for (const m of batch) {
      const key = m.headers?.get(HDR_STATEMENT_ID) || `seq:${m.seq}`;
      const g = groups.get(key);
      if (g) g.push(m);
      else groups.set(key, [m]);
    }
    const items: BatchItem[] = [...groups].map(([key, ms]) => ({ key, body: new TextDecoder().decode(ms[0]!.data) }));
    const attemptTime = new Date();
    const report = await deliverBatch(items, this.sender, this.abort.signal);
    const { stats, logger } = this.deps;
    if (report.configProblem) {
      logger.error(
        { routerId: this.router.id, status: report.configProblem.status, statements: items.length },
        "endpoint refused the request (check the router's URL and credentials); retrying on the normal schedule",
      );
    }
    const dropped: string[] = [];
    let delivered = 0;
    for (const [key, ms] of groups) {
      const outcome = report.outcomes.get(key) ?? { kind: "retry", status: 0, error: "no outcome" };
      for (const m of ms) {
        const r = await this.apply(m, key, outcome, attemptTime);
        if (r === "delivered") delivered++;
        if (r === "dropped") dropped.push(key);
      }
    }
    if (delivered > 0) stats.recordSuccess(delivered);
    if (dropped.length > 0) {
      logger.warn({ routerId: this.router.id, statementIds: dropped, count: dropped.length }, "non-critical statements exhausted their attempts; dropped");
    }
  }

  private async apply(m: JsMsg, statementId: string, o: ItemOutcome, attemptTime: Date): Promise<"delivered" | "retry" | "failed" | "dropped" | "held"> {
    if (o.kind === "delivered") {
      m.ack();
      this.release(m, true);
      return "delivered";
    }
    this.deps.stats.recordError(o.error, attemptTime);
    const attempt = m.info.deliveryCount;
    if (o.kind === "retry" && (attempt < this.maxDeliver || this.stopping)) {
      // On shutdown the message goes straight back for another instance; if this was the last attempt the
      // server raises the max-deliveries advisory and the sweeper takes over.
      m.nak(this.stopping ? undefined : (o.delayMs ?? retryDelayMs(this.delivery, attempt)));
      this.release(m, false);
      return "retry";
    }
    return this.exhaust(m, statementId, o, attemptTime);
  }

  /** Last attempt failed, or the endpoint refused the statement for good. */
  private async exhaust(m: JsMsg, statementId: string, o: Exclude<ItemOutcome, { kind: "delivered" }>, attemptTime: Date) {
    const eventName = m.headers?.get(HDR_EVENT_NAME) ?? "";
    const { stats, logger } = this.deps;
    if (!this.delivery.criticalEvents.has(eventName)) {
      m.term();
      this.release(m, true);
      stats.dropped++;
      return "dropped" as const;
    }
    try {
      await this.deps.failed.record(
        {
          routerId: this.router.id,
          eventName,
          statementId,
          backend: m.headers?.get(HDR_BACKEND) || this.router.backend,
          attempts: m.info.deliveryCount,
          lastHttpStatus: o.status,
          lastError: o.error,
          firstAttemptTime: this.firstAttempt.get(m.seq) ?? publishTime(m),
          lastAttemptTime: attemptTime,
          deliverySeq: m.seq,
        },
        m.data,
      );
    } catch (e) {
      // Not stored: do not term. nak brings it back (or, on the last attempt, the sweeper moves it).
      logger.error({ routerId: this.router.id, statementId, err: (e as Error).message }, "could not store failed statement; leaving it to redelivery / sweeper");
      m.nak(this.delivery.countdownMs);
      this.release(m, false);
      return "held" as const;
    }
    // Plain term(): nats-server 2.9 ignores term(reason) and would redeliver.
    m.term();
    this.release(m, true);
    stats.failed++;
    logger.error(
      { routerId: this.router.id, statementId, eventName, attempts: m.info.deliveryCount, lastHttpStatus: o.status },
      "critical statement failed; kept in the failed stream",
    );
    return "failed" as const;
  }

  /** Stops pulling; lets the running batch finish for up to `graceMs`, then aborts it; hands back the rest. */
  async stop(graceMs: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.messages?.close().catch(() => undefined);
    for (const m of [...this.batcher.take(), ...this.queue.splice(0).flat()]) {
      m.nak();
      this.release(m, false);
    }
    if (this.pumping) {
      let t: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((r) => (t = setTimeout(() => r("timeout"), graceMs)));
      if ((await Promise.race([this.pumping, timedOut])) === "timeout") this.abort.abort();
      clearTimeout(t);
      await this.pumping;
    }
    clearInterval(this.heartbeat);
    await this.loop;
  }
}

function publishTime(m: JsMsg): Date {
  return new Date(Number(m.info.timestampNanos / 1_000_000));
}
