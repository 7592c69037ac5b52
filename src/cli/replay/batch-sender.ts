/**
 * Sends batches with several in flight and commits them strictly in order. A batch's lines are committed (counted,
 * written to --output, and its offsets given to the checkpoint) only once it and every batch before it were
 * acknowledged, so the checkpoint never passes a line whose batch was not stored. A batch that fails with a
 * transient error (Unavailable, a deadline, a dropped connection) is retried with backoff: its statement ids
 * are deterministic, so what it had stored before failing is de-duplicated. Any other error (a refused token, an
 * unknown router) stops the run: nothing after it is committed.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { Backoff, sleep } from "../../backoff.js";
import type { LineOutcome } from "./line-outcome.js";
import type { LineProcessor } from "./processors.js";

export interface BatchLine<T> {
  /** The event text; undefined for a line that is not sent (blank, or too long: `outcome` says which). */
  readonly text: string | undefined;
  /** Set for a line decided without the processor. */
  readonly outcome?: LineOutcome;
  readonly meta: T;
}

export interface SenderOptions<T> {
  readonly inFlight: number;
  readonly maxAttempts: number;
  /** Called in batch order with one entry per line (undefined for blank lines). */
  readonly commit: (lines: readonly BatchLine<T>[], outcomes: readonly (LineOutcome | undefined)[]) => void;
  readonly onRetry?: (attempt: number, error: Error, waitMs: number) => void;
  /** Called once when the run fails (nothing more will be committed). */
  readonly onFailure?: (error: Error) => void;
  readonly backoff?: Backoff;
}

const TRANSIENT = new Set([Code.Unavailable, Code.DeadlineExceeded, Code.Aborted, Code.Unknown, Code.Internal]);

export function isTransient(e: unknown): boolean {
  if (e instanceof ConnectError) return TRANSIENT.has(e.code);
  return false;
}

interface Slot<T> {
  readonly lines: readonly BatchLine<T>[];
  outcomes?: (LineOutcome | undefined)[];
}

export class BatchSender<T> {
  private readonly queue: Slot<T>[] = [];
  private readonly order: Slot<T>[] = [];
  private running = 0;
  private failure: Error | undefined;
  private waiters: Array<() => void> = [];
  private readonly backoff: Backoff;
  private readonly stopRetries = new AbortController();

  constructor(
    private readonly processor: LineProcessor,
    private readonly opts: SenderOptions<T>,
  ) {
    this.backoff = opts.backoff ?? new Backoff(250, 15_000);
  }

  /** The error that stopped the run, if any. */
  get error(): Error | undefined {
    return this.failure;
  }

  enqueue(lines: readonly BatchLine<T>[]): void {
    if (lines.length === 0 || this.failure) return;
    const slot: Slot<T> = { lines };
    this.queue.push(slot);
    this.order.push(slot);
    this.pump();
  }

  /** Resolves when another batch may be read (nothing waits for a free slot), or the run failed. */
  async room(): Promise<void> {
    while (this.queue.length > 0 && !this.failure) await new Promise<void>((r) => this.waiters.push(r));
  }

  /** Resolves when every batch enqueued was committed (or the run failed). */
  async drain(): Promise<void> {
    while ((this.queue.length > 0 || this.running > 0) && !this.failure) await new Promise<void>((r) => this.waiters.push(r));
    while (this.running > 0) await new Promise<void>((r) => this.waiters.push(r));
  }

  /** Stops waiting out retries (a second Ctrl-C). */
  abortRetries(): void {
    this.stopRetries.abort();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private pump(): void {
    while (this.running < this.opts.inFlight && this.queue.length > 0 && !this.failure) {
      const slot = this.queue.shift()!;
      this.running += 1;
      void this.send(slot).finally(() => {
        this.running -= 1;
        this.commitReady();
        this.pump();
        this.wake();
      });
    }
  }

  private async send(slot: Slot<T>): Promise<void> {
    const texts = slot.lines.filter((l) => l.text !== undefined).map((l) => l.text!);
    for (let attempt = 1; ; attempt++) {
      try {
        const results = texts.length > 0 ? await this.processor.submit(texts) : [];
        if (results.length !== texts.length) throw new Error(`expected ${texts.length} results, got ${results.length}`);
        let next = 0;
        slot.outcomes = slot.lines.map((l) => (l.text !== undefined ? results[next++] : l.outcome));
        this.backoff.reset();
        return;
      } catch (e) {
        const error = e instanceof Error ? e : new Error(String(e));
        if (!isTransient(e) || attempt >= this.opts.maxAttempts || this.stopRetries.signal.aborted) {
          if (this.failure === undefined) {
            this.failure = error;
            this.opts.onFailure?.(error);
          }
          return;
        }
        const wait = this.backoff.next();
        this.opts.onRetry?.(attempt, error, wait);
        await sleep(wait, this.stopRetries.signal);
      }
    }
  }

  private commitReady(): void {
    while (this.order.length > 0 && this.order[0]!.outcomes !== undefined) {
      const slot = this.order.shift()!;
      this.opts.commit(slot.lines, slot.outcomes!);
    }
  }
}
