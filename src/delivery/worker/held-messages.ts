/**
 * The messages a worker holds (pulled, not yet acked, nak'd, terminated or handed back), kept alive with
 * `working()` every third of the ack wait, so a batch waiting for its timer, a long split sequence or a PAUSED
 * router never has its messages redelivered to another instance mid-flight. JetStream does not count working()
 * as a delivery, so holding costs no attempt.
 *
 * Also remembers when this instance first tried each statement (for the failed stream's metadata) until it is
 * settled; bounded, because retries may go to other instances and never come back here.
 */
import type { JsMsg } from "@nats-io/jetstream";

const FIRST_ATTEMPT_MAX = 10_000;

export class HeldMessages {
  private readonly held = new Set<JsMsg>();
  private readonly firstAttempt = new Map<number, Date>();
  private timer: NodeJS.Timeout | undefined;

  /**
   * `onBeatFailed` hears a heartbeat that could not be sent: working() publishes, and throws once the connection
   * is closed or draining. From a timer, that throw would take the process down as an uncaught exception; a
   * heartbeat that cannot be sent changes nothing anyway (the messages go back to JetStream after the ack wait).
   */
  constructor(
    private readonly ackWaitMs: number,
    private readonly onBeatFailed: (err: unknown) => void = () => {},
  ) {}

  start(): void {
    const every = Math.max(50, Math.floor(this.ackWaitMs / 3));
    this.timer = setInterval(() => {
      for (const m of this.held) {
        try {
          m.working();
        } catch (e) {
          this.onBeatFailed(e);
          return; // The same connection would refuse the rest.
        }
      }
    }, every);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  add(m: JsMsg): void {
    this.held.add(m);
  }

  /** Marks the statement as tried now, unless an earlier try on this instance is known. */
  tried(m: JsMsg, at: Date): void {
    if (!this.firstAttempt.has(m.seq)) this.firstAttempt.set(m.seq, at);
  }

  firstTry(m: JsMsg): Date | undefined {
    return this.firstAttempt.get(m.seq);
  }

  /** No longer held here; `settled` (acked or terminated) also forgets its first-attempt time. */
  release(m: JsMsg, settled: boolean): void {
    this.held.delete(m);
    if (settled) this.firstAttempt.delete(m.seq);
    else if (this.firstAttempt.size > FIRST_ATTEMPT_MAX) this.firstAttempt.delete(this.firstAttempt.keys().next().value!);
  }

  get size(): number {
    return this.held.size;
  }
}
