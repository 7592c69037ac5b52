/**
 * The loop every input runs around its source (Redis event bus, NATS ingest subject): one session at a time
 * until stopped, a jittered backoff between failed sessions, and the input's health and last error kept here.
 *
 * - A session connects, calls `connected()` once its source answered (health SERVING, backoff and the attempt
 *   count reset), then consumes until stopped; it rejects on a failure of the source.
 * - A failure marks the input NOT_SERVING, goes into the stats as the last error, is handed to `onFailure` (the
 *   input logs it, with its own fields) and is followed by a wait that a stop ends at once.
 * - Stop: the signal aborts, the input's `interrupt` ends a blocked read, and stop resolves once the running
 *   session has settled (a batch being stored finishes and is acknowledged first). The input ends NOT_SERVING.
 * An input's source being down never stops the service: only that input's health says so.
 */
import { Backoff, sleep } from "../backoff.js";
import type { InputStats } from "./ingest-stats.js";

export interface InputSession {
  /** Aborts when the input stops. */
  readonly signal: AbortSignal;
  /** The source answered: the input is SERVING, the backoff and the attempt count start again. */
  connected(): void;
}

export interface InputFailure {
  readonly error: unknown;
  readonly message: string;
  /**
   * Failed tries to reach the source since it last answered: 0 when this session had reached it (the connection
   * was lost), then 1, 2, ... (as the event-bus log line has always counted).
   */
  readonly attempt: number;
  readonly retryInMs: number;
}

export interface InputLoopOptions {
  readonly stats: InputStats;
  readonly onHealth: (serving: boolean) => void;
  /** Connects and consumes until the signal aborts; rejects on a failure of the source. */
  readonly session: (s: InputSession) => Promise<void>;
  /** Logs a failed session (and repairs what it can) before the wait. */
  readonly onFailure: (f: InputFailure) => void | Promise<void>;
  /** Put before the message in the stats' last error (e.g. "redis: "). */
  readonly errorPrefix?: string;
}

const INITIAL_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;

export class InputLoop {
  private readonly abort = new AbortController();
  private serving = false;
  private done: Promise<void> | undefined;

  constructor(private readonly o: InputLoopOptions) {}

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get isServing(): boolean {
    return this.serving;
  }

  /** Reports a change of health (only changes reach onHealth). */
  setServing(serving: boolean): void {
    if (this.serving === serving) return;
    this.serving = serving;
    this.o.onHealth(serving);
  }

  /** Runs in the background; a second call does nothing. */
  start(): void {
    this.done ??= this.run();
  }

  /** Aborts, then `interrupt` (ends a blocked read), then waits for the running session to settle. */
  async stop(interrupt?: () => void): Promise<void> {
    this.abort.abort();
    interrupt?.();
    await this.done;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    const backoff = new Backoff(INITIAL_BACKOFF_MS, MAX_BACKOFF_MS);
    let attempt = 1;
    const connected = () => {
      this.setServing(true);
      attempt = 0;
      backoff.reset();
    };
    for (; !signal.aborted; attempt++) {
      try {
        await this.o.session({ signal, connected });
      } catch (e) {
        if (signal.aborted) break;
        this.setServing(false);
        const message = (e as Error)?.message ?? String(e);
        this.o.stats.error(`${this.o.errorPrefix ?? ""}${message}`);
        const retryInMs = backoff.next();
        await this.o.onFailure({ error: e, message, attempt, retryInMs });
        await sleep(retryInMs, signal);
      }
    }
    this.setServing(false);
  }
}
