/**
 * Logging of failed delivery attempts for one router, rate-limited so a router pointed at a dead host is loud
 * without flooding: the first failure after a success is logged at once (warn), then at most one summary every
 * `summaryEveryMs` with the counts since the last line and the last error, and the first success after failures
 * logs the recovery (info) with the totals. Before this, nothing was logged until a statement ran out of attempts.
 *
 * The rule is pure over an injected clock; the logger is the only I/O.
 */
import type { Logger } from "pino";

export const DEFAULT_SUMMARY_EVERY_MS = 60_000;

export interface FailedAttempt {
  readonly statements: number;
  /** HTTP status, 0 without an answer. */
  readonly status: number;
  /** Already redacted. */
  readonly error: string;
}

export class FailureLog {
  private failingSince: number | undefined;
  private lastLine = 0;
  /** Since the last line. */
  private attempts = 0;
  private statements = 0;
  /** Since the first failure. */
  private totalAttempts = 0;
  private lastError = "";
  private lastStatus = 0;

  constructor(
    private readonly logger: Logger,
    private readonly routerId: string,
    private readonly summaryEveryMs = DEFAULT_SUMMARY_EVERY_MS,
    private readonly now: () => number = Date.now,
  ) {}

  get failing(): boolean {
    return this.failingSince !== undefined;
  }

  failed(f: FailedAttempt): void {
    const t = this.now();
    this.totalAttempts++;
    this.lastError = f.error;
    this.lastStatus = f.status;
    if (this.failingSince === undefined) {
      this.failingSince = t;
      this.lastLine = t;
      this.logger.warn(
        { routerId: this.routerId, status: f.status, statements: f.statements, err: f.error },
        "delivery attempt failed; retrying (further failures are summarised)",
      );
      return;
    }
    this.attempts++;
    this.statements += f.statements;
    if (t - this.lastLine >= this.summaryEveryMs) this.summary(t);
  }

  succeeded(): void {
    if (this.failingSince === undefined) return;
    const t = this.now();
    this.logger.info(
      { routerId: this.routerId, failedAttempts: this.totalAttempts, failingForMs: t - this.failingSince },
      "delivery recovered",
    );
    this.failingSince = undefined;
    this.attempts = 0;
    this.statements = 0;
    this.totalAttempts = 0;
  }

  private summary(t: number): void {
    this.logger.warn(
      {
        routerId: this.routerId,
        failedAttempts: this.attempts,
        statements: this.statements,
        sinceMs: t - this.lastLine,
        failingForMs: t - this.failingSince!,
        status: this.lastStatus,
        lastError: this.lastError,
      },
      "delivery still failing",
    );
    this.lastLine = t;
    this.attempts = 0;
    this.statements = 0;
  }
}
