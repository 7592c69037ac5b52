/**
 * Per-input counters (since this instance started) and the store-then-acknowledge step both inputs share:
 * a batch is retried in place, with backoff, until JetStream confirmed it or the input stops. Retrying in place
 * (not reading on) keeps the backlog in the source, where it is durable and visible as pending/lag.
 */
import type { Logger } from "pino";
import type { Outcome } from "../../gen/eventrouting/v1/event_pb.js";
import { Backoff } from "../backoff.js";
import { retry } from "../retry.js";
import { ingestBatchOnce, type BatchTally, type IngestDeps, type IngestItem } from "./ingest-batch.js";

export class InputStats {
  entriesRead = 0;
  statementsStored = 0;
  /** Delivery messages found already stored (a batch processed again after a crash or a lost ack). */
  statementsDuplicate = 0;
  skippedOtherType = 0;
  rejected = 0;
  trimmed = 0;
  readonly outcomes = new Map<Outcome, number>();
  lastError = "";
  lastErrorTime: Date | undefined;
  lastSuccessTime: Date | undefined;

  add(t: BatchTally): void {
    for (const [outcome, n] of t.outcomes) this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + n);
    this.statementsStored += t.statements;
    this.statementsDuplicate += t.duplicates;
    this.rejected += t.rejected;
  }

  error(message: string): void {
    this.lastError = message;
    this.lastErrorTime = new Date();
  }

  success(): void {
    this.lastSuccessTime = new Date();
  }
}

export interface StoreContext {
  readonly deps: IngestDeps;
  readonly stats: InputStats;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  /** Called before each wait between attempts (e.g. to tell JetStream the messages are still being worked on). */
  readonly onRetry?: () => void;
}

/**
 * Stores a batch (statements and rejected copies) with ingestBatchOnce, retried with backoff; resolves with the
 * tally once JetStream confirmed everything, or undefined when the input stopped first (then nothing may be
 * acknowledged).
 */
export async function ingestBatchWithRetry(items: readonly IngestItem[], ctx: StoreContext): Promise<BatchTally | undefined> {
  let tally: BatchTally;
  try {
    tally = await retry(() => ingestBatchOnce(items, ctx.deps), {
      backoff: new Backoff(250, 15_000),
      signal: ctx.signal,
      onRetry: (e, attempt, waitMs) => {
        const message = (e as Error)?.message ?? String(e);
        ctx.stats.error(message);
        ctx.logger.warn(
          { source: ctx.deps.source, err: message, attempt, retryInMs: waitMs, entries: items.length },
          "could not store an input batch; retrying (nothing acknowledged)",
        );
        ctx.onRetry?.();
      },
    });
  } catch (e) {
    // Every error is retried: only a stop ends the retry without a tally.
    if (ctx.signal.aborted) return undefined;
    throw e;
  }
  ctx.stats.add(tally);
  for (const r of tally.rejectReasons) {
    ctx.logger.warn({ source: ctx.deps.source, id: r.sourceId, reason: r.reason }, "malformed input copied to the rejected stream");
  }
  return tally;
}
