/**
 * A stack of stop steps: what started is stopped in reverse order, automatically. The same semantics as TC39's
 * `AsyncDisposableStack` (defer/use/adopt, `disposeAsync` in reverse, every step runs even when one fails), kept
 * here in a few lines because Node 20 has no native one; on Node 24 this can become `AsyncDisposableStack`.
 * Unlike the proposal's SuppressedError chain, the FIRST failure is thrown (what callers have always seen) and the
 * later ones go to `onSuppressed`, so none is lost.
 */

/** Something that was started and can be stopped. */
export interface Lifecycle {
  stop(): Promise<void> | void;
}

export type StopStep = () => Promise<unknown> | unknown;

export class LifecycleStack {
  private steps: StopStep[] = [];
  private disposal: Promise<void> | undefined;

  /** @param onSuppressed receives every failure after the first one thrown by `disposeAsync`. */
  constructor(private readonly onSuppressed: (error: unknown) => void = () => {}) {}

  /** Runs `step` on dispose, before every step deferred earlier. */
  defer(step: StopStep): void {
    if (this.disposal) throw new Error("LifecycleStack: already disposed");
    this.steps.push(step);
  }

  /** Stops `value` on dispose; `undefined` (a part that is off) is passed through. */
  use<T extends Lifecycle | undefined>(value: T): T {
    if (value) this.defer(() => value.stop());
    return value;
  }

  /** Stops `value` with `onStop` on dispose (for values whose stop is not called `stop`). */
  adopt<T>(value: T, onStop: (value: T) => Promise<unknown> | unknown): T {
    this.defer(() => onStop(value));
    return value;
  }

  /** Runs every step, last deferred first, each even when an earlier one failed; then throws the first failure. */
  disposeAsync(): Promise<void> {
    this.disposal ??= (async () => {
      const failures: unknown[] = [];
      for (const step of this.steps.splice(0).reverse()) {
        try {
          await step();
        } catch (e) {
          failures.push(e);
        }
      }
      for (const later of failures.slice(1)) this.onSuppressed(later);
      if (failures.length > 0) throw failures[0];
    })();
    return this.disposal;
  }

  /**
   * Runs `start` with this stack; when it throws, stops what it had started (their failures go to `onSuppressed`)
   * and rethrows the start's error, so a failed start leaves nothing running.
   */
  async build<T>(start: (stack: LifecycleStack) => Promise<T>): Promise<T> {
    try {
      return await start(this);
    } catch (e) {
      await this.disposeAsync().catch(this.onSuppressed);
      throw e;
    }
  }
}
