/**
 * The one way this service writes to JetStream. A call hands over a list of messages; they are sent as plain
 * publishes with reply subjects, written together with the other calls of this event-loop turn (one socket write,
 * one round trip), and every PubAck is awaited under one timer for the call. Each message's PubAck ({seq,
 * duplicate}) comes back in order; what JetStream did not confirm becomes UnavailableError through the one mapping
 * of jetstream-errors.ts (`unconfirmedWrite`), optionally after a bounded retry of the unconfirmed messages.
 * Retrying is safe because Nats-Msg-Id de-duplicates within the stream's window: a message whose ack was lost but
 * which was stored comes back `duplicate` on the next try.
 *
 * Why not js.publish: per message it builds a request object, a timer, an Error on its cancel even after success,
 * and copies of options and headers; that cost more CPU than the rest of the emit path together
 * (docs/benchmarks.md).
 *
 * Pinned to nats.js 3.4.0 (@nats-io/nats-core, @nats-io/jetstream and @nats-io/transport-node; package.json pins the
 * exact versions). What this file knows of their internals, and nothing else in src/ may rely on:
 *  - NatsConnection.publish only calls encode() on the headers it is given (publish() in nats-core's protocol.js),
 *    so a header block the caller encoded once goes out as it is (EncodedHeaders);
 *  - a JetStreamClient made by jetstream(nc) keeps its connection as `nc` (jetStreamWriter);
 *  - a PubAck is the JSON {stream, seq, duplicate} or {error: {code, err_code, description}}, and a 503 status with
 *    no body says nothing listens on the subject (JetStream off, or no stream for it).
 * test/jetstream-writer.test.ts guards them against a real nats-server, and fails first when the installed
 * version is not the one named here.
 */
import { type ApiError, type JetStreamClient, JetStreamApiError } from "@nats-io/jetstream";
import {
  createInbox,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  headers as natsHeaders,
  type Subscription,
} from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { Backoff } from "../backoff.js";
import type { UnavailableError } from "../errors.js";
import { retry } from "../retry.js";
import { isPermanentJetStreamError, unconfirmedWrite } from "./jetstream-errors.js";

/** What JetStream said it stored: the sequence in the stream, and whether it held the msg id already. */
export interface PubAck {
  readonly seq: number;
  readonly duplicate: boolean;
}

/** Subject and body of a message, whatever else the caller's message type holds. A string body is sent as UTF-8. */
export interface OutgoingMessage {
  readonly subject: string;
  readonly body: Uint8Array | string;
}

/** A message with its headers as key/values; the writer adds Nats-Msg-Id and Nats-Expected-Stream. */
export interface JetStreamMessage extends OutgoingMessage {
  readonly msgId: string;
  /** Not changed: the writer sends a copy with its own headers added. */
  readonly headers?: MsgHdrs;
}

export interface WriteOptions {
  /** The stream the subjects must land in (Nats-Expected-Stream); a PubAck from another stream is a failure. */
  readonly stream?: string;
  /** What the messages are, plural, for the error: "publishes", "rejected copies". */
  readonly what: string;
  /** Appended to the error: what the caller's caller may do about it. */
  readonly advice?: string;
  /**
   * Tries at most (the first included) while what failed may clear by itself: only the unconfirmed messages are
   * sent again. Absent: one try.
   */
  readonly retry?: { readonly attempts: number; readonly backoff: () => Backoff };
}

export interface JetStreamWriterOptions {
  /** How long a call waits for its PubAcks. */
  readonly timeoutMs: number;
  /** Where a failure of the PubAck subscription is reported (at error). */
  readonly logger?: Logger;
}

/** A writer on the connection of `js`, waiting as long as `js` does unless told otherwise. */
export function jetStreamWriter(js: JetStreamClient, opts: Partial<JetStreamWriterOptions> = {}): JetStreamWriter {
  // The client keeps its connection as `nc` (not in the JetStreamClient interface).
  const nc = (js as { nc?: NatsConnection }).nc;
  if (!nc) throw new Error("a JetStream writer needs a JetStreamClient made by jetstream(nc)");
  return new JetStreamWriter(nc, { ...opts, timeoutMs: opts.timeoutMs ?? js.getOptions().timeout ?? 5000 });
}

/**
 * Headers already encoded (a class, not an object literal with a closure: one allocation per message): nats.js's
 * publish only calls encode() on them (see the opening comment).
 */
class EncodedHeaders {
  constructor(private readonly bytes: Uint8Array) {}
  encode(): Uint8Array {
    return this.bytes;
  }
}

/** Why one message was not confirmed; `refusal` when JetStream answered with an error. */
class Unconfirmed {
  constructor(
    readonly reason: string,
    readonly refusal?: JetStreamApiError,
  ) {}
}

/** One message's outcome; undefined while (or when) no PubAck came. */
type Outcome = PubAck | Unconfirmed | undefined;

function isPubAck(o: Outcome): o is PubAck {
  return (o as PubAck | undefined)?.seq !== undefined;
}

/** The headers one message goes out with. */
type HeaderSource<M> = (m: M, stream: string | undefined) => MsgHdrs;

/** One call in flight: its messages' outcomes fill in as their acks arrive. */
interface PendingCall {
  readonly outcomes: Outcome[];
  readonly stream: string | undefined;
  waiting: number;
  done(): void;
}

interface QueuedCall {
  readonly id: number;
  readonly messages: readonly OutgoingMessage[];
  readonly headers: HeaderSource<OutgoingMessage>;
  readonly stream: string | undefined;
}

/** A PubAck's body: the stored stream, sequence and whether the msg id was already there, or JetStream's error. */
function readPubAck(msg: Msg, stream: string | undefined): PubAck | Unconfirmed {
  if (msg.data.length === 0) return new Unconfirmed(msg.headers?.code === 503 ? "no responders: is the stream there?" : "empty PubAck");
  let ack: {
    stream?: string;
    seq?: number;
    duplicate?: boolean;
    error?: ApiError;
  };
  try {
    ack = msg.json();
  } catch {
    return new Unconfirmed("invalid PubAck");
  }
  if (ack.error)
    return new Unconfirmed(
      `${ack.error.description ?? "JetStream error"} (code ${ack.error.err_code ?? ack.error.code})`,
      new JetStreamApiError(ack.error),
    );
  if (stream === undefined ? !ack.stream : ack.stream !== stream)
    return new Unconfirmed(
      stream === undefined ? "the PubAck names no stream" : `stored in stream ${ack.stream || "(none)"}, not ${stream}`,
    );
  return { seq: ack.seq ?? 0, duplicate: ack.duplicate === true };
}

/** The error for `outcomes`, or undefined when every message was confirmed. */
function unconfirmedError(outcomes: readonly Outcome[], o: WriteOptions): UnavailableError | undefined {
  let failed = 0;
  let first: Unconfirmed | undefined;
  // A loop, not filter: a message whose ack never came is a hole in `outcomes`, which filter would skip.
  for (let i = 0; i < outcomes.length; i++) {
    const x = outcomes[i];
    if (isPubAck(x)) continue;
    if (failed++ === 0) first = x;
  }
  if (failed === 0) return undefined;
  return unconfirmedWrite({
    failed,
    total: outcomes.length,
    what: o.what,
    reason: first?.reason ?? "no PubAck within the timeout",
    ...(first?.refusal ? { refusal: first.refusal } : {}),
    ...(o.advice ? { advice: o.advice } : {}),
  });
}

/** Retried unless JetStream refused for a reason that repeating will not change (limits, the wrong stream). */
function worthRetrying(e: unknown): boolean {
  return !isPermanentJetStreamError((e as Error)?.cause);
}

function keyValueHeaders(m: JetStreamMessage, stream: string | undefined): MsgHdrs {
  const h = natsHeaders();
  for (const [k, values] of m.headers ?? []) for (const v of values) h.append(k, v);
  h.set("Nats-Msg-Id", m.msgId);
  if (stream !== undefined) h.set("Nats-Expected-Stream", stream);
  return h;
}

export class JetStreamWriter {
  /** Reply subjects are `<inbox>.<call>.<index>`: one wildcard subscription routes every PubAck to its message. */
  private readonly inbox = createInbox();
  private ackSub: Subscription | undefined;
  private ackErrors = 0;
  private lastAckErrorLog = Number.NEGATIVE_INFINITY;
  private nextCall = 0;
  private readonly pending = new Map<number, PendingCall>();
  /** Calls waiting for the end of this event-loop turn to be sent together (sendQueued). */
  private readonly queued: QueuedCall[] = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: JetStreamWriterOptions,
  ) {}

  /**
   * The server's max_payload now (from the connected server's INFO; it can change with a reconnect to another
   * server), or undefined before the first connect. Body and headers count against it.
   */
  maxPayload(): number | undefined {
    return this.nc.info?.max_payload;
  }

  /** Stores every message, or throws UnavailableError (some may be stored all the same: their ids de-duplicate). */
  publish(messages: readonly JetStreamMessage[], o: WriteOptions): Promise<PubAck[]> {
    return this.confirm(messages, keyValueHeaders, o, true) as Promise<PubAck[]>;
  }

  /**
   * Each message's PubAck, or undefined for one JetStream did not confirm (it may still have been stored: its msg
   * id de-duplicates a later try). For callers that act on each message by its own outcome.
   */
  async publishEach(messages: readonly JetStreamMessage[], o: WriteOptions): Promise<Array<PubAck | undefined>> {
    const outcomes = await this.confirm(messages, keyValueHeaders, o, false);
    return outcomes.map((x) => (isPubAck(x) ? x : undefined));
  }

  /**
   * `publish` for messages whose whole header block the caller encoded itself, Nats-Msg-Id and (with `o.stream`)
   * Nats-Expected-Stream included, as NATS sends it ("NATS/1.0\r\n", "Key: value\r\n" per value, "\r\n"). The
   * emit path's messages go out as they are: no copy, no MsgHdrs object per message.
   */
  publishEncoded<M extends OutgoingMessage>(messages: readonly M[], headerBlock: (m: M) => Uint8Array, o: WriteOptions): Promise<PubAck[]> {
    const headers = (m: M) => new EncodedHeaders(headerBlock(m)) as unknown as MsgHdrs;
    return this.confirm(messages, headers, o, true) as Promise<PubAck[]>;
  }

  /**
   * One try (`send`), or with `o.retry` tries of the still unconfirmed messages while they are worth one. `strict`:
   * rejects with the mapped error unless every message was confirmed. Not async, nor is `send`: on the emit path a
   * call settles straight from its last PubAck, with no promise in between (measurable at one message per call).
   */
  private confirm<M extends OutgoingMessage>(
    messages: readonly M[],
    headers: HeaderSource<M>,
    o: WriteOptions,
    strict: boolean,
  ): Promise<Outcome[]> {
    if (!o.retry) return this.send(messages, headers, o.stream, strict ? o : undefined);
    const retried = this.confirmRetrying(messages, headers, o, o.retry);
    return strict ? retried.then((outcomes) => confirmedOrThrow(outcomes, o)) : retried;
  }

  private async confirmRetrying<M extends OutgoingMessage>(
    messages: readonly M[],
    headers: HeaderSource<M>,
    o: WriteOptions,
    r: NonNullable<WriteOptions["retry"]>,
  ): Promise<Outcome[]> {
    const outcomes: Outcome[] = new Array(messages.length);
    await retry(
      async () => {
        const left: number[] = [];
        for (let i = 0; i < outcomes.length; i++) if (!isPubAck(outcomes[i])) left.push(i);
        const sent = await this.send(
          left.map((i) => messages[i]!),
          headers,
          o.stream,
          undefined,
        );
        for (let k = 0; k < left.length; k++) outcomes[left[k]!] = sent[k];
        const e = unconfirmedError(outcomes, o);
        if (e) throw e;
      },
      { attempts: r.attempts, backoff: r.backoff(), retryable: worthRetrying },
    ).catch(() => {
      // `outcomes` holds what the last try left unconfirmed; the caller maps it like a single try's.
    });
    return outcomes;
  }

  /**
   * Sends `messages` once, with the other calls of this turn; resolves with their outcomes when every PubAck came
   * or the timeout passed. With `strict`, rejects instead, with the mapped error, when one was not confirmed.
   */
  private send<M extends OutgoingMessage>(
    messages: readonly M[],
    headers: HeaderSource<M>,
    stream: string | undefined,
    strict: WriteOptions | undefined,
  ): Promise<Outcome[]> {
    const outcomes: Outcome[] = new Array(messages.length);
    if (messages.length === 0) return Promise.resolve(outcomes);
    try {
      this.subscribe();
    } catch (e) {
      // The connection is closed or draining: nothing is sent, as no ack could arrive.
      outcomes.fill(new Unconfirmed(`cannot receive PubAcks: ${errorText(e)}`));
      return strict ? Promise.reject(unconfirmedError(outcomes, strict)) : Promise.resolve(outcomes);
    }
    const id = this.nextCall++;
    const settled = new Promise<Outcome[]>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.pending.delete(id);
        const e = strict && unconfirmedError(outcomes, strict);
        if (e) reject(e);
        else resolve(outcomes);
      };
      const timer = setTimeout(done, this.opts.timeoutMs);
      this.pending.set(id, { outcomes, stream, waiting: messages.length, done });
    });
    this.queued.push({ id, messages, headers: headers as HeaderSource<OutgoingMessage>, stream });
    if (this.queued.length === 1) setImmediate(() => this.sendQueued());
    return settled;
  }

  /**
   * Sends what every call queued during this event-loop turn. Calls handled in the same turn (concurrent Emits,
   * batches arriving together) then share one socket write, and nats-server one read, instead of one each: the
   * write was the largest single cost of a one-event Emit (~50 µs of ~700 µs per call, docs/benchmarks.md). The
   * wait is the rest of the current turn, not a timer.
   */
  private sendQueued(): void {
    for (const q of this.queued.splice(0)) for (let from = 0; from < q.messages.length; ) from = this.sendFrom(q, from);
  }

  /**
   * Publishes the call's messages from index `from` on; returns where to go on after one the connection refused
   * (closed, draining, over max_payload): that message fails, the others are sent all the same. The try is around
   * the loop, not in it, to keep the loop as lean as it was before any message failed.
   */
  private sendFrom({ id, messages, headers, stream }: QueuedCall, from: number): number {
    let i = from;
    try {
      for (; i < messages.length; i++) {
        const m = messages[i]!;
        this.nc.publish(m.subject, m.body, { headers: headers(m, stream), reply: `${this.inbox}.${id}.${i}` });
      }
    } catch (e) {
      const call = this.pending.get(id);
      if (call) settle(call, i, new Unconfirmed(errorText(e)));
    }
    return i + 1;
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
        const call = this.pending.get(Number(msg.subject.slice(prefix, dot)));
        const index = Number(msg.subject.slice(dot + 1));
        if (!call || call.outcomes[index] !== undefined) return;
        settle(call, index, readPubAck(msg, call.stream));
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
      "JetStream writer: the PubAck subscription failed; every publish fails until a new subscription is allowed",
    );
    this.ackErrors = 0;
  }

  /** Ends every call waiting for acks: those acks can no longer arrive. */
  private failPending(reason: string): void {
    const failure = new Unconfirmed(reason);
    for (const call of this.pending.values()) {
      for (let i = 0; i < call.outcomes.length; i++) call.outcomes[i] ??= failure;
      call.done();
    }
  }
}

/** Records one message's outcome (the first one counts); the call is done when every message has one. */
function settle(call: PendingCall, index: number, outcome: PubAck | Unconfirmed): void {
  if (call.outcomes[index] !== undefined) return;
  call.outcomes[index] = outcome;
  if (--call.waiting === 0) call.done();
}

function confirmedOrThrow(outcomes: Outcome[], o: WriteOptions): PubAck[] {
  const e = unconfirmedError(outcomes, o);
  if (e) throw e;
  return outcomes as PubAck[];
}

function errorText(e: unknown): string {
  return (e as Error)?.message ?? String(e);
}
