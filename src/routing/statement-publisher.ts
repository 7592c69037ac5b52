/**
 * Stores delivery messages in JetStream. Publishes are pipelined (one round trip for a whole event or batch, not
 * one per message) and every PubAck is awaited: if any is missing the caller gets UnavailableError and reports
 * nothing as accepted. Retrying is safe because Nats-Msg-Id de-duplicates within the stream's window, and each
 * PubAck says whether the stream already held the id (`duplicate`), which callers report instead of PUBLISHED.
 *
 * A message larger than the server's max_payload can never be stored: publishing it would fail every retry (a
 * poison event) and take the rest of its call down with it. `tooLarge` lets the caller set such a message aside
 * before publishing; the limit is read from the connection (servers may set max_payload, and it can change with
 * a reconnect to another server), and headers count against it too.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { UnavailableError } from "../errors.js";
import { encodeDeliveryHeaderBlock } from "./delivery-message.js";
import type { DeliveryMessage } from "./statement-routing.js";

export interface StatementPublisherOptions {
  /** How long to wait for each PubAck. */
  readonly timeoutMs: number;
  /** Stream the subjects must land in; a mismatch means a misconfigured prefix. */
  readonly streamName: string;
  /**
   * The server's max_payload now (INFO from the connected server). Defaults to the connection behind `js`;
   * undefined (not connected yet) skips the check and leaves the server to refuse.
   */
  readonly maxPayload?: () => number | undefined;
  /** Where a failure of the PubAck subscription is reported (at error). */
  readonly logger?: Logger;
}

/**
 * Bytes the server counts against max_payload: the body plus the header block as NATS encodes it
 * ("NATS/1.0\r\n", one "Key: value\r\n" per value, "\r\n"), including the Nats-Msg-Id and Nats-Expected-Stream
 * headers js.publish adds for our options.
 */
export function natsMessageBytes(m: DeliveryMessage, streamName: string): number {
  return headerBlock(m, streamName).length + m.body.length;
}

function headerBlock(m: DeliveryMessage, streamName: string): Uint8Array {
  return encodeDeliveryHeaderBlock(m, m.msgId, streamName);
}

/**
 * Headers already encoded (a class, not an object literal with a closure: one allocation per message). nats.js's
 * publish only calls encode() on the headers it is given (protocol.js in @nats-io/nats-core, pinned);
 * test/statement-publisher.test.ts reads the stored headers back, so an upgrade that changes this fails there
 * rather than in production.
 */
class EncodedHeaders {
  constructor(private readonly bytes: Uint8Array) {}
  encode(): Uint8Array {
    return this.bytes;
  }
}
function encodedHeaders(bytes: Uint8Array): MsgHdrs {
  return new EncodedHeaders(bytes) as unknown as MsgHdrs;
}

/** What a PubAck (or its absence) said about one message. */
type AckOutcome = { readonly ok: true; readonly duplicate: boolean } | { readonly ok: false; readonly reason: string };

/** One publish() call in flight: its messages' outcomes fill in as their acks arrive. */
interface PendingBatch {
  readonly outcomes: Array<AckOutcome | undefined>;
  waiting: number;
  done(): void;
}

/** A PubAck's body: the stored stream and whether the msg id was already there, or the JetStream API error. */
function readPubAck(msg: Msg, streamName: string): AckOutcome {
  // A 503 status with no body: nothing listens on the subject (JetStream off, or no stream for it).
  if (msg.data.length === 0)
    return { ok: false, reason: msg.headers?.code === 503 ? "no responders: is the stream there?" : "empty PubAck" };
  let ack: { stream?: string; duplicate?: boolean; error?: { code?: number; err_code?: number; description?: string } };
  try {
    ack = msg.json();
  } catch {
    return { ok: false, reason: "invalid PubAck" };
  }
  if (ack.error)
    return { ok: false, reason: `${ack.error.description ?? "JetStream error"} (code ${ack.error.err_code ?? ack.error.code})` };
  if (ack.stream !== streamName) return { ok: false, reason: `stored in stream ${ack.stream ?? "(none)"}, not ${streamName}` };
  return { ok: true, duplicate: ack.duplicate === true };
}

function notConfirmed(failed: number, total: number, reason: string): UnavailableError {
  return new UnavailableError(
    `JetStream did not confirm ${failed} of ${total} publishes (${reason}); retry the call: stored statements are de-duplicated`,
  );
}

export class StatementPublisher {
  private readonly maxPayload: () => number | undefined;
  private readonly nc: NatsConnection;
  /** Reply subjects are `<inbox>.<batch>.<index>`: one wildcard subscription routes every PubAck to its message. */
  private readonly inbox = createInbox();
  private ackSub: Subscription | undefined;
  private ackErrors = 0;
  private lastAckErrorLog = Number.NEGATIVE_INFINITY;
  private nextBatch = 0;
  private readonly pending = new Map<number, PendingBatch>();
  /** Calls waiting for the end of this event-loop turn to be sent together (sendQueued). */
  private readonly queued: Array<{ readonly id: number; readonly messages: readonly DeliveryMessage[] }> = [];

  constructor(
    js: JetStreamClient,
    private readonly opts: StatementPublisherOptions,
  ) {
    // The client keeps its connection as `nc` (not in the JetStreamClient interface); the option is the typed way.
    const nc = (js as { nc?: NatsConnection }).nc;
    if (!nc) throw new Error("StatementPublisher needs a JetStreamClient made by jetstream(nc)");
    this.nc = nc;
    this.maxPayload = opts.maxPayload ?? (() => nc.info?.max_payload);
  }

  /** Why the server would refuse this message for its size, or undefined when it fits. */
  tooLarge(m: DeliveryMessage): string | undefined {
    const limit = this.maxPayload();
    if (limit === undefined || limit <= 0) return undefined;
    // The body is already bytes; header values take at most 3 UTF-8 bytes per UTF-16 unit (the msg id holds the
    // router and statement ids, which the headers repeat; 1 KiB covers the names, the backend and the stream name):
    // most messages fit without their headers being measured.
    if (m.body.length + (2 * m.msgId.length + m.eventName.length) * 3 + 1024 <= limit) return undefined;
    const bytes = natsMessageBytes(m, this.opts.streamName);
    if (bytes <= limit) return undefined;
    return (
      `statement ${m.statementId} for router ${m.routerId} is ${bytes} bytes as a NATS message, ` +
      `over the server's max_payload of ${limit} bytes`
    );
  }

  /**
   * Publishes every message; resolves with each message's PubAck `duplicate` flag, in order.
   *
   * What js.publish does per message (a request object, a timer, an Error built on its cancel even after success,
   * copied options and headers) cost more CPU than the rest of the emit path together (docs/benchmarks.md). Here
   * a call is plain publishes with reply subjects, the same headers js.publish would send (Nats-Msg-Id,
   * Nats-Expected-Stream), written together with the other calls of this event-loop turn (sendQueued), one shared
   * subscription for the acks and one timer for the whole call.
   */
  async publish(messages: readonly DeliveryMessage[]): Promise<boolean[]> {
    if (messages.length === 0) return [];
    try {
      this.subscribe();
    } catch (e) {
      // The connection is closed or draining: nothing is sent, as no ack could arrive.
      throw notConfirmed(messages.length, messages.length, `cannot receive PubAcks: ${(e as Error)?.message ?? String(e)}`);
    }
    const id = this.nextBatch++;
    const outcomes: Array<AckOutcome | undefined> = new Array(messages.length);
    let timer: NodeJS.Timeout | undefined;
    const settled = new Promise<void>((resolve) => {
      this.pending.set(id, { outcomes, waiting: messages.length, done: resolve });
      timer = setTimeout(resolve, this.opts.timeoutMs);
    });
    this.queued.push({ id, messages });
    if (this.queued.length === 1) setImmediate(() => this.sendQueued());
    try {
      await settled;
    } finally {
      clearTimeout(timer);
      this.pending.delete(id);
    }
    let failed = 0;
    let reason = "no PubAck within the timeout";
    // A loop, not map: a message whose ack never came is a hole in `outcomes`, which map would skip.
    const duplicate: boolean[] = [];
    for (let i = 0; i < messages.length; i++) {
      const o = outcomes[i];
      if (o?.ok) {
        duplicate.push(o.duplicate);
        continue;
      }
      if (failed++ === 0 && o) reason = o.reason;
      duplicate.push(false);
    }
    if (failed > 0) throw notConfirmed(failed, messages.length, reason);
    return duplicate;
  }

  /**
   * Sends what every call queued during this event-loop turn. Calls handled in the same turn (concurrent Emits,
   * batches arriving together) then share one socket write, and nats-server one read, instead of one each: the
   * write was the largest single cost of a one-event Emit (~50 µs of ~700 µs per call, docs/benchmarks.md). The
   * wait is the rest of the current turn, not a timer.
   */
  private sendQueued(): void {
    for (const { id, messages } of this.queued.splice(0)) {
      try {
        for (let i = 0; i < messages.length; i++) {
          const m = messages[i]!;
          const headers = encodedHeaders(headerBlock(m, this.opts.streamName));
          this.nc.publish(m.subject, m.body, { headers, reply: `${this.inbox}.${id}.${i}` });
        }
      } catch (e) {
        // The connection refused the publish (closed, draining): the call fails; the others are sent on their own.
        const batch = this.pending.get(id);
        if (!batch) continue;
        batch.outcomes.fill({ ok: false, reason: (e as Error)?.message ?? String(e) });
        batch.done();
      }
    }
  }

  /**
   * The acks' subscription, made on first use; nats.js renews it after a reconnect. The server can still end it
   * (a permissions violation, also one that a config reload brings): then the calls waiting for acks fail now,
   * with the reason, instead of at their timeout, the failure is logged, and the next call subscribes again
   * rather than waiting forever on a subscription that is gone.
   */
  private subscribe(): void {
    if (this.ackSub !== undefined && !this.ackSub.isClosed()) return;
    const prefix = this.inbox.length + 1;
    const sub = this.nc.subscribe(`${this.inbox}.*.*`, {
      callback: (err, msg) => {
        if (err) {
          if (this.ackSub === sub) this.ackSub = undefined;
          this.failPending(`the PubAck subscription failed: ${err.message}`);
          this.reportAckSubscriptionError(err);
          return;
        }
        const dot = msg.subject.indexOf(".", prefix);
        const batch = this.pending.get(Number(msg.subject.slice(prefix, dot)));
        const index = Number(msg.subject.slice(dot + 1));
        if (!batch || batch.outcomes[index] !== undefined) return;
        batch.outcomes[index] = readPubAck(msg, this.opts.streamName);
        if (--batch.waiting === 0) batch.done();
      },
    });
    this.ackSub = sub;
  }

  /** At most one line a minute: a permission that stays wrong fails every call, and each call subscribes again. */
  private reportAckSubscriptionError(err: Error): void {
    this.ackErrors++;
    const now = Date.now();
    if (now - this.lastAckErrorLog < 60_000) return;
    this.lastAckErrorLog = now;
    this.opts.logger?.error(
      { err, failures: this.ackErrors },
      "statement publisher: the PubAck subscription failed; every publish fails until a new subscription is allowed",
    );
    this.ackErrors = 0;
  }

  /** Ends every call waiting for acks: those acks can no longer arrive. */
  private failPending(reason: string): void {
    for (const batch of this.pending.values()) {
      for (let i = 0; i < batch.outcomes.length; i++) batch.outcomes[i] ??= { ok: false, reason };
      batch.done();
    }
  }
}
