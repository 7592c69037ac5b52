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
import type { NatsConnection } from "@nats-io/transport-node";
import { UnavailableError } from "../errors.js";
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
}

/**
 * Bytes the server counts against max_payload: the body plus the header block as NATS encodes it
 * ("NATS/1.0\r\n", one "Key: value\r\n" per value, "\r\n"), including the Nats-Msg-Id and Nats-Expected-Stream
 * headers js.publish adds for our options.
 */
export function natsMessageBytes(m: DeliveryMessage, streamName: string): number {
  let headers = "NATS/1.0\r\n\r\n".length;
  const line = (k: string, v: string) => Buffer.byteLength(k) + Buffer.byteLength(v) + ": \r\n".length;
  for (const [k, values] of m.headers) for (const v of values) headers += line(k, v);
  headers += line("Nats-Msg-Id", m.msgId) + line("Nats-Expected-Stream", streamName);
  return headers + Buffer.byteLength(m.body);
}

export class StatementPublisher {
  private readonly maxPayload: () => number | undefined;

  constructor(
    private readonly js: JetStreamClient,
    private readonly opts: StatementPublisherOptions,
  ) {
    // The client keeps its connection as `nc` (not in the JetStreamClient interface); the option is the typed way.
    const nc = (js as { nc?: NatsConnection }).nc;
    this.maxPayload = opts.maxPayload ?? (() => nc?.info?.max_payload);
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

  /** Publishes every message; resolves with each message's PubAck `duplicate` flag, in order. */
  async publish(messages: readonly DeliveryMessage[]): Promise<boolean[]> {
    if (messages.length === 0) return [];
    const results = await Promise.allSettled(
      messages.map((m) =>
        this.js.publish(m.subject, m.body, {
          msgID: m.msgId,
          headers: m.headers,
          timeout: this.opts.timeoutMs,
          expect: { streamName: this.opts.streamName },
        }),
      ),
    );
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed.length > 0) {
      const reason = (failed[0]!.reason as Error)?.message ?? "unknown error";
      throw new UnavailableError(`JetStream did not confirm ${failed.length} of ${messages.length} publishes (${reason}); retry the call: stored statements are de-duplicated`);
    }
    return results.map((r) => (r as PromiseFulfilledResult<{ duplicate: boolean }>).value.duplicate);
  }
}
