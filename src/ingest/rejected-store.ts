/**
 * The rejected stream: a copy of every malformed input (bad Avro, missing fields, invalid JSON, an event the
 * emit path cannot handle), with the reason, so an input that acknowledges it to keep flowing loses nothing
 * unseen. Subject <prefix>.rejected.<source>; body = the input as received (a Redis entry as JSON, see
 * redisEntryCopy); metadata in headers. A batch's copies are written in one round trip and every PubAck is
 * awaited (nats/jetstream-writer.ts): the caller acknowledges its input only after this resolves.
 *
 * Idempotency: Nats-Msg-Id = source + origin + the input's own id (Redis entry id, ingest stream sequence),
 * so an entry read again after a crash before its ack is stored once.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { jetStreamWriter, type JetStreamMessage, type JetStreamWriter, type WriteOptions } from "../nats/jetstream-writer.js";
import type { IngestNames, IngestSource } from "../nats/names.js";

export const HDR_REJECT_REASON = "Er-Reject-Reason";
export const HDR_INGEST_SOURCE = "Er-Ingest-Source";
/** Redis stream key, or the NATS subject the message was published to. */
export const HDR_INGEST_ORIGIN = "Er-Ingest-Origin";
/** Redis entry id, or the ingest stream sequence. */
export const HDR_INGEST_ID = "Er-Ingest-Id";
/** Set when the body was cut to COPY_MAX_BYTES: the original size in bytes. */
export const HDR_ORIGINAL_SIZE = "Er-Original-Size";

/**
 * Largest body kept. NATS refuses messages above its max_payload (1 MiB by default); a copy that can never be
 * stored would stop the input for good, so oversized input keeps its first 256 KiB (enough to identify it).
 */
export const COPY_MAX_BYTES = 256 * 1024;

export interface RejectedCopy {
  readonly source: IngestSource;
  readonly origin: string;
  readonly sourceId: string;
  readonly reason: string;
  readonly body: Uint8Array;
}

/** Header values are single-line and bounded: reasons quote parser messages. */
function headerSafe(s: string, max = 500): string {
  return s.replace(/[\r\n]+/g, " ").slice(0, max);
}

/**
 * A Redis entry as the rejected copy's body: JSON with the UTF-8 fields as text and `event_data` (binary Avro,
 * or any field that is not valid UTF-8) in base64, so the copy can be decoded again by hand.
 */
export function redisEntryCopy(fields: Readonly<Record<string, Buffer>>): Uint8Array {
  const text: Record<string, string> = {};
  const base64: Record<string, string> = {};
  for (const [name, value] of Object.entries(fields)) {
    const decoded = value.toString("utf8");
    if (name !== "event_data" && Buffer.from(decoded, "utf8").equals(value)) text[name] = decoded;
    else base64[name] = value.toString("base64");
  }
  return Buffer.from(JSON.stringify({ fields: text, base64_fields: base64 }), "utf8");
}

export class RejectedStore {
  private readonly writer: JetStreamWriter;
  private readonly write: WriteOptions;

  constructor(
    js: JetStreamClient,
    private readonly names: IngestNames,
    opts: { readonly timeoutMs: number },
  ) {
    this.writer = jetStreamWriter(js, { timeoutMs: opts.timeoutMs });
    this.write = { stream: names.rejectedStream, what: "rejected copies" };
  }

  /** Stores every copy; UnavailableError when JetStream did not confirm them all. */
  async store(copies: readonly RejectedCopy[]): Promise<void> {
    if (copies.length === 0) return;
    await this.writer.publish(
      copies.map((c) => this.message(c)),
      this.write,
    );
  }

  private message(c: RejectedCopy): JetStreamMessage {
    const h = natsHeaders();
    h.set(HDR_REJECT_REASON, headerSafe(c.reason));
    h.set(HDR_INGEST_SOURCE, c.source);
    h.set(HDR_INGEST_ORIGIN, headerSafe(c.origin));
    h.set(HDR_INGEST_ID, c.sourceId);
    if (c.body.length > COPY_MAX_BYTES) h.set(HDR_ORIGINAL_SIZE, String(c.body.length));
    return {
      subject: this.names.rejectedSubject(c.source),
      body: c.body.subarray(0, COPY_MAX_BYTES),
      msgId: this.names.rejectedMsgId(c.source, c.origin, c.sourceId),
      headers: h,
    };
  }
}
