/**
 * Sends one batch of held messages and settles each by its outcome:
 * - delivered: ack;
 * - retry (5xx, timeouts, refused connections, 429): nak(delay) while attempts remain, else exhausted;
 * - failed (a single statement refused: 400/413/422): exhausted at once;
 * - paused (401/403/404/410, about the router) and unsent (delivery stopped first): NOT settled, handed back to
 *   the worker, which keeps holding them (PAUSED) or hands them back without spending an attempt.
 * Exhausted: the statement goes to the failed stream (publish, then term), marked discardable when its event is
 * not critical (failed-trim.ts may discard those when the stream is full). A router that keeps critical ones only
 * (ExhaustedPolicy "critical", ERB's behaviour) terminates the others instead, counted and logged with their ids.
 * Attempts are counted with requeue.ts's rule, so hand-backs never use one up.
 *
 * A forgotten learner's statement (src/erasure/) is acked and dropped right before the batch is sent, so nothing of
 * a learner goes out once the forget is live in this instance, even where the forget's stream scan has not yet
 * reached it (the scan deletes it from the stream).
 *
 * Retries are driven by nak(delay) with no consumer `backoff` (NATS-JETSTREAM.md §2.1: nak delays are inflated
 * by a backoff schedule). The ack wait only matters when this instance dies holding messages.
 */
import type { JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { HDR_BACKEND, HDR_EVENT_NAME, HDR_LEARNER, HDR_STATEMENT_ID } from "../../routing/delivery-message.js";
import type { ResolvedDelivery, RouterConfig } from "../../routing/router-model.js";
import { deliverBatch, type BatchItem } from "../http/batch-delivery.js";
import type { ItemOutcome } from "../http/delivery-outcome.js";
import type { FailedStore } from "../failed/failed-store.js";
import type { FailureLog } from "./failure-log.js";
import type { HeldMessages } from "./held-messages.js";
import { attemptNumber, publishTime, storedTime } from "./requeue.js";
import type { RouterStats } from "../status/router-stats.js";
import type { BatchSender } from "../http/senders.js";
import type { MetricsRecorder } from "../../metrics/metrics.js";
import type { ForgottenMessages } from "../delivery-runtime.js";

/** When the delay of retry number `attempt` (1-based: after attempt `attempt`) comes from. */
export function retryDelayMs(d: ResolvedDelivery, attempt: number): number {
  if (d.backoffMs.length === 0) return d.countdownMs;
  return d.backoffMs[Math.min(attempt - 1, d.backoffMs.length - 1)]!;
}

export interface BatchProcessorDeps {
  readonly router: RouterConfig;
  readonly delivery: ResolvedDelivery;
  readonly sender: BatchSender;
  readonly failed: FailedStore;
  readonly stats: RouterStats;
  readonly held: HeldMessages;
  readonly failures: FailureLog;
  readonly logger: Logger;
  /** Counts settled statements and the delivery lag (src/metrics/); absent when metrics are off. */
  readonly metrics?: MetricsRecorder;
  readonly forgotten?: ForgottenMessages;
}

/** What the worker must still decide about: messages that are neither settled nor nak'd. */
export interface BatchResult {
  /** The endpoint refused the router; these messages are still held. */
  readonly paused: JsMsg[];
  readonly pauseReason?: { readonly status: number; readonly error: string };
  /** Never sent (delivery stopped); still held. */
  readonly unsent: JsMsg[];
}

type Settled = "delivered" | "retry" | "failed" | "dropped" | "held" | "forgotten";
type TriedOutcome = Exclude<ItemOutcome, { kind: "paused" | "unsent" }>;

export class BatchProcessor {
  constructor(private readonly deps: BatchProcessorDeps) {}

  /** Sends the batch (split as its answers require) and settles each message; paused and unsent ones come back unsettled. */
  async deliver(all: readonly JsMsg[], signal: AbortSignal): Promise<BatchResult> {
    const batch = this.dropForgotten(all);
    if (batch.length === 0) return { paused: [], unsent: [] };
    // Duplicate statement ids in one request are refused by LRSs (400): send one, apply its fate to all copies.
    const groups = new Map<string, JsMsg[]>();
    for (const m of batch) {
      const key = m.headers?.get(HDR_STATEMENT_ID) || `seq:${m.seq}`;
      const g = groups.get(key);
      if (g) g.push(m);
      else groups.set(key, [m]);
    }
    // The stored bytes as they are: the request is built from them without decoding to strings and back.
    const items: BatchItem[] = [...groups].map(([key, ms]) => ({ key, body: ms[0]!.data }));
    const attemptTime = new Date();
    const report = await deliverBatch(items, this.deps.sender, signal);
    const { stats, logger, router, failures } = this.deps;
    if (report.configProblem) {
      logger.error(
        { routerId: router.id, status: report.configProblem.status, statements: items.length, err: report.configProblem.error },
        "endpoint refused the request (check the router's URL and settings); retrying on the normal schedule",
      );
    }
    const result: BatchResult & { paused: JsMsg[]; unsent: JsMsg[] } = {
      paused: [],
      unsent: [],
      ...(report.paused ? { pauseReason: report.paused } : {}),
    };
    const dropped: string[] = [];
    const kept: string[] = [];
    let delivered = 0;
    let retried = 0;
    let lastError: { status: number; error: string } | undefined;
    let lastRetry: { status: number; error: string } | undefined;
    for (const [key, ms] of groups) {
      const outcome: ItemOutcome = report.outcomes.get(key) ?? { kind: "retry", status: 0, error: "no outcome" };
      if (outcome.kind === "paused" || outcome.kind === "unsent") {
        (outcome.kind === "paused" ? result.paused : result.unsent).push(...ms);
        continue;
      }
      for (const m of ms) this.deps.held.tried(m, attemptTime);
      if (outcome.kind === "retry" || outcome.kind === "failed") lastError = outcome;
      if (outcome.kind === "retry") lastRetry = outcome;
      for (const m of ms) {
        // Awaited only when it is a promise (exhausting publishes to the failed stream): an await per message let
        // nats.js flush after every ack, one socket write each; acks and naks of a batch now go out in one write.
        const settled = this.apply(m, key, outcome, attemptTime);
        const r = settled instanceof Promise ? await settled : settled;
        if (r === "delivered") delivered++;
        if (r === "retry") retried++;
        if (r === "dropped") dropped.push(key);
        if (r === "failed" && !this.isCritical(m)) kept.push(key);
        this.deps.metrics?.settled(
          router.id,
          r,
          r === "delivered" ? (Date.now() - storedTime(m, publishTime(m)).getTime()) / 1000 : undefined,
        );
      }
    }
    if (delivered > 0) stats.recordSuccess(delivered);
    if (lastError) stats.recordError(lastError.error, attemptTime);
    if (report.paused) stats.recordError(report.paused.error, attemptTime);
    // The failure log and FAILING are about the endpoint (no answer, 5xx, 429), not one refused statement.
    if (lastRetry) {
      stats.failing = true;
      failures.failed({ statements: retried, status: lastRetry.status, error: lastRetry.error });
    } else if (delivered > 0) {
      failures.succeeded();
    }
    if (dropped.length > 0) {
      logger.warn(
        { routerId: router.id, statementIds: dropped, count: dropped.length },
        "non-critical statements exhausted their attempts; dropped (the router keeps critical ones only)",
      );
    }
    if (kept.length > 0) {
      logger.warn(
        { routerId: router.id, statementIds: kept, count: kept.length },
        "non-critical statements exhausted their attempts; kept in the failed stream",
      );
    }
    return result;
  }

  /** The batch without forgotten learners' statements, which are acked (settled, never sent). */
  private dropForgotten(batch: readonly JsMsg[]): readonly JsMsg[] {
    const forgotten = this.deps.forgotten;
    if (forgotten === undefined) return batch;
    let kept: JsMsg[] | undefined;
    for (let i = 0; i < batch.length; i++) {
      const m = batch[i]!;
      if (!forgotten.isForgotten(m.headers, m.data)) {
        kept?.push(m);
        continue;
      }
      kept ??= batch.slice(0, i);
      m.ack();
      this.deps.held.release(m, true);
      this.deps.metrics?.settled(this.deps.router.id, "forgotten");
    }
    if (kept === undefined) return batch;
    this.deps.logger.info(
      { routerId: this.deps.router.id, dropped: batch.length - kept.length },
      "statements of forgotten learners dropped unsent",
    );
    return kept;
  }

  private apply(m: JsMsg, statementId: string, o: TriedOutcome, attemptTime: Date): Settled | Promise<Settled> {
    if (o.kind === "delivered") {
      m.ack();
      this.deps.held.release(m, true);
      return "delivered";
    }
    const attempt = attemptNumber(m);
    if (o.kind === "retry" && attempt < this.deps.delivery.maxRetries + 1) {
      m.nak(o.delayMs ?? retryDelayMs(this.deps.delivery, attempt));
      this.deps.held.release(m, false);
      return "retry";
    }
    return this.exhaust(m, statementId, o, attemptTime);
  }

  private isCritical(m: JsMsg): boolean {
    return this.deps.delivery.criticalEvents.has(m.headers?.get(HDR_EVENT_NAME) ?? "");
  }

  /** Last attempt failed, or the endpoint refused the statement for good. */
  private async exhaust(m: JsMsg, statementId: string, o: { status: number; error: string }, attemptTime: Date): Promise<Settled> {
    const { stats, logger, router, held, delivery } = this.deps;
    // Forgotten while this batch was out: not kept in the failed stream, which the forget may have scanned already.
    if (this.deps.forgotten?.isForgotten(m.headers, m.data)) {
      m.ack();
      held.release(m, true);
      return "forgotten";
    }
    const eventName = m.headers?.get(HDR_EVENT_NAME) ?? "";
    const critical = this.isCritical(m);
    if (!critical && delivery.exhausted === "critical") {
      m.term();
      held.release(m, true);
      stats.dropped++;
      return "dropped";
    }
    try {
      await this.deps.failed.record(
        {
          routerId: router.id,
          eventName,
          statementId,
          backend: m.headers?.get(HDR_BACKEND) || router.backend,
          attempts: attemptNumber(m),
          lastHttpStatus: o.status,
          lastError: o.error,
          firstAttemptTime: held.firstTry(m) ?? storedTime(m, publishTime(m)),
          lastAttemptTime: attemptTime,
          deliverySeq: m.seq,
          learner: m.headers?.get(HDR_LEARNER) || undefined,
          ...(critical ? {} : { discardable: true }),
        },
        m.data,
      );
    } catch (e) {
      // Not stored: do not term. nak brings it back (or, on the last attempt, the sweeper moves it).
      logger.error(
        { routerId: router.id, statementId, err: (e as Error).message },
        "could not store failed statement; leaving it to redelivery / sweeper",
      );
      m.nak(delivery.countdownMs);
      held.release(m, false);
      return "held";
    }
    // Plain term(): nats-server 2.9 ignores term(reason) and would redeliver.
    m.term();
    held.release(m, true);
    stats.failed++;
    // Non-critical ones are logged once per batch by deliver(): an outage exhausts many at a time.
    if (critical) {
      logger.error(
        { routerId: router.id, statementId, eventName, attempts: attemptNumber(m), lastHttpStatus: o.status },
        "critical statement failed; kept in the failed stream",
      );
    }
    return "failed";
  }
}
