/**
 * The failed-statement format: the one place a failed-stream message is built and read, and the one place the
 * RetryFailed copy of it is built. The worker (primary path) and the sweeper (crash backstop) both hand a
 * FailureRecord to FailedStore.record, which encodes it here. Pure: no I/O.
 *
 * Message: subject <prefix>.failed.<router id>; body = the statement as it was to be delivered; headers = the
 * delivery headers (routing/delivery-message.ts) plus the Er-* failure headers below. The failure time is the
 * stream timestamp, the entry's id its stream sequence.
 *
 * Idempotency: the worker and the sweeper publish with the same Nats-Msg-Id, names.failedMsgId plus the delivery
 * stream sequence. The sequence makes every delivery "generation" of a statement distinct: after RetryFailed a
 * statement may fail again within the 24 h dedupe window and must be stored again, not swallowed as a duplicate.
 *
 * The stored error text is bounded and single-line (storedLastError): it quotes endpoint answers, which can be
 * long and multi-line, and it is shown to operators in ListFailed, `nats stream view` and logs. Reading does not
 * transform it again, so ListFailed shows exactly what the stream holds.
 */
import type { StoredMsg } from "@nats-io/jetstream";
import type { MsgHdrs } from "@nats-io/transport-node";
import type { NatsNames } from "../../nats/names.js";
import { deliveryHeaders, readDeliveryHeaders } from "../../routing/delivery-message.js";

export const HDR_ATTEMPTS = "Er-Attempts";
export const HDR_LAST_HTTP_STATUS = "Er-Last-Http-Status";
export const HDR_LAST_ERROR = "Er-Last-Error";
export const HDR_FIRST_ATTEMPT = "Er-First-Attempt-Time";
export const HDR_LAST_ATTEMPT = "Er-Last-Attempt-Time";
export const HDR_DELIVERY_SEQ = "Er-Delivery-Seq";
/** "true" on a statement of a non-critical event: it may be discarded when the stream is full (failed-trim.ts). */
export const HDR_DISCARDABLE = "Er-Discardable";

/**
 * Most characters (Unicode code points) of the stored Er-Last-Error. 500 keeps an endpoint's error summary (an
 * LRS names the bad field in its first sentence) while a failed stream of many entries stays small; at most
 * 2000 bytes of UTF-8 in a header.
 */
export const LAST_ERROR_MAX_CHARS = 500;
/** Ends a cut error text, so a reader knows there was more. Counts towards the cap. */
export const TRUNCATION_MARK = "…";

export interface FailureRecord {
  readonly routerId: string;
  readonly eventName: string;
  readonly statementId: string;
  readonly backend: string;
  readonly attempts: number;
  /** 0 when the last attempt got no HTTP answer. */
  readonly lastHttpStatus: number;
  /** Any text; stored as storedLastError(lastError). */
  readonly lastError: string;
  readonly firstAttemptTime: Date;
  readonly lastAttemptTime: Date;
  /** Sequence of the original in the delivery stream. */
  readonly deliverySeq: number;
  /** The original's Er-Learner header (the learner's keyed hash), kept so a forget finds the failed copy too. */
  readonly learner?: string | undefined;
  /**
   * Not a critical event: kept, but discarded oldest first when the failed stream is over FAILED_MAX_BYTES.
   * Absent or false (every entry written before this existed was critical) = never discarded.
   */
  readonly discardable?: boolean;
}

export interface FailedEntry extends FailureRecord {
  /** The failed stream sequence: the handle for retry and purge. */
  readonly id: number;
  readonly failedTime: Date;
  /** The statement JSON text. */
  readonly body: string;
}

/** A run of control characters (line breaks, tabs, escapes) or line/paragraph separators, with the spaces around it. */
const BREAKS = /[\s\p{Cc}]*[\p{Cc}\u2028\u2029][\s\p{Cc}]*/gu;

/**
 * The error text as stored: control characters and line breaks (with the spaces around them) become one space (a NATS header value cannot
 * hold CR/LF, and escapes must not reach an operator's terminal), outer spaces go (NATS trims header values,
 * so storing them would make the read-back differ), and at most LAST_ERROR_MAX_CHARS code points stay, the
 * last being TRUNCATION_MARK when text was cut. Cutting by code point never splits a surrogate pair.
 */
export function storedLastError(text: string): string {
  const line = text.replace(BREAKS, " ").trim();
  const chars = Array.from(line);
  if (chars.length <= LAST_ERROR_MAX_CHARS) return line;
  return (
    chars
      .slice(0, LAST_ERROR_MAX_CHARS - 1)
      .join("")
      .trimEnd() + TRUNCATION_MARK
  );
}

/** Nats-Msg-Id of a failure: the same for the worker and the sweeper, distinct per delivery generation. */
export function failedMsgId(names: NatsNames, rec: Pick<FailureRecord, "routerId" | "statementId" | "deliverySeq">): string {
  return `${names.failedMsgId(rec.routerId, rec.statementId)}:${rec.deliverySeq}`;
}

export function encodeFailureHeaders(rec: FailureRecord): MsgHdrs {
  const h = deliveryHeaders(rec);
  h.set(HDR_ATTEMPTS, String(rec.attempts));
  h.set(HDR_LAST_HTTP_STATUS, String(rec.lastHttpStatus));
  h.set(HDR_LAST_ERROR, storedLastError(rec.lastError));
  h.set(HDR_FIRST_ATTEMPT, rec.firstAttemptTime.toISOString());
  h.set(HDR_LAST_ATTEMPT, rec.lastAttemptTime.toISOString());
  h.set(HDR_DELIVERY_SEQ, String(rec.deliverySeq));
  if (rec.discardable) h.set(HDR_DISCARDABLE, "true");
  return h;
}

function header(h: MsgHdrs | undefined, k: string): string {
  return h?.get(k) ?? "";
}

function dateHeader(h: MsgHdrs | undefined, k: string, fallback: Date): Date {
  const t = Date.parse(header(h, k));
  return Number.isNaN(t) ? fallback : new Date(t);
}

/** Reads a failed-stream message; a missing header reads as empty / 0 / the stream time, never throws. */
export function decodeFailedEntry(m: StoredMsg): FailedEntry {
  const h = m.header;
  const meta = readDeliveryHeaders(h);
  return {
    id: m.seq,
    ...meta,
    // Older or hand-written entries may lack the header; the subject names the router too.
    routerId: meta.routerId || m.subject.split(".").pop() || "",
    attempts: Number(header(h, HDR_ATTEMPTS)) || 0,
    lastHttpStatus: Number(header(h, HDR_LAST_HTTP_STATUS)) || 0,
    lastError: header(h, HDR_LAST_ERROR),
    firstAttemptTime: dateHeader(h, HDR_FIRST_ATTEMPT, m.time),
    lastAttemptTime: dateHeader(h, HDR_LAST_ATTEMPT, m.time),
    deliverySeq: Number(header(h, HDR_DELIVERY_SEQ)) || 0,
    discardable: header(h, HDR_DISCARDABLE) === "true",
    failedTime: m.time,
    body: m.string(),
  };
}

export interface Publication {
  readonly subject: string;
  readonly msgId: string;
  readonly headers: MsgHdrs;
  readonly body: string;
}

/**
 * The RetryFailed copy of an entry: a fresh delivery message for the router. A new msg id, because the
 * original one may still be inside the delivery stream's dedupe window; derived from the failed id, so running
 * RetryFailed again after a crash between publish and delete is de-duplicated.
 */
export function retryPublication(names: NatsNames, entry: FailedEntry, incarnation?: number): Publication {
  return {
    subject: names.deliverSubject(entry.routerId, incarnation),
    msgId: `${names.deliveryMsgId(entry.routerId, entry.statementId, incarnation)}:retry:${entry.id}`,
    headers: deliveryHeaders(entry),
    body: entry.body,
  };
}
