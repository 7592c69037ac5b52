/**
 * Stores delivery messages in the delivery stream, through the one JetStream writer (nats/jetstream-writer.ts:
 * pipelined, every PubAck awaited; if any is missing the caller gets UnavailableError and reports nothing as
 * accepted). What is routing's here: a delivery message's header block and the stream it belongs in, and the
 * size check. Retrying is safe because Nats-Msg-Id de-duplicates within the stream's window, and each PubAck says
 * whether the stream already held the id (`duplicate`), which callers report instead of PUBLISHED.
 *
 * A message larger than the server's max_payload can never be stored: publishing it would fail every retry (a
 * poison event) and take the rest of its call down with it. `oversizeReason` lets the caller set such a message
 * aside before publishing; the limit is read from the connection (servers may set max_payload, and it can change
 * with a reconnect to another server), and headers count against it too.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { jetStreamWriter, type JetStreamWriter, type WriteOptions } from "../nats/jetstream-writer.js";
import { encodeDeliveryHeaderBlock } from "./delivery-message.js";
import type { DeliveryMessage } from "./statement-routing.js";

export interface StatementPublisherOptions {
  /** How long to wait for the PubAcks of a call. */
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

export class StatementPublisher {
  private readonly maxPayload: () => number | undefined;
  private readonly writer: JetStreamWriter;
  private readonly write: WriteOptions;
  /** Made once: the emit path passes it on every call. */
  private readonly headerBlock = (m: DeliveryMessage) => headerBlock(m, this.opts.streamName);

  constructor(
    js: JetStreamClient,
    private readonly opts: StatementPublisherOptions,
  ) {
    const writer = jetStreamWriter(js, { timeoutMs: opts.timeoutMs, ...(opts.logger ? { logger: opts.logger } : {}) });
    this.writer = writer;
    this.maxPayload = opts.maxPayload ?? (() => writer.maxPayload());
    this.write = {
      stream: opts.streamName,
      what: "publishes",
      advice: "retry the call: stored statements are de-duplicated",
    };
  }

  /** Why the server would refuse this message for its size, or undefined when it fits. */
  oversizeReason(m: DeliveryMessage): string | undefined {
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
   * Publishes every message (one round trip, shared with the other calls of this event-loop turn); resolves with
   * each message's PubAck `duplicate` flag, in order.
   */
  async publish(messages: readonly DeliveryMessage[]): Promise<boolean[]> {
    if (messages.length === 0) return [];
    const acks = await this.writer.publishEncoded(messages, this.headerBlock, this.write);
    const duplicate: boolean[] = new Array(acks.length);
    for (let i = 0; i < acks.length; i++) duplicate[i] = acks[i]!.duplicate;
    return duplicate;
  }
}
