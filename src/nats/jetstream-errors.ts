/**
 * One place that classifies NATS and JetStream errors, by the API's error codes (JetStreamApiError.code) rather
 * than by message text, so every caller (consumer set-up, status, failed store, stream provisioning) agrees.
 *
 * Transient: the request may succeed if repeated later (no connection, timeouts, no responders while a server
 * restarts, 503 while a cluster elects a leader). Permanent: JetStream understood the request and refused it
 * (limits, invalid configuration); repeating it unchanged fails the same way.
 *
 * What a write left unconfirmed (nats/jetstream-writer.ts) is one error for every caller: UnavailableError, since
 * the caller may retry (msg ids de-duplicate what was stored after all), with JetStream's refusal as its cause when
 * there was one, so the classifiers here still see it.
 */
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { UnavailableError } from "../errors.js";

export function isConsumerNotFound(e: unknown): boolean {
  if (e instanceof JetStreamApiError) return e.code === JetStreamApiCodes.ConsumerNotFound;
  return /consumer not found/i.test((e as Error)?.message ?? "");
}

export function isStreamNotFound(e: unknown): boolean {
  if (e instanceof JetStreamApiError) return e.code === JetStreamApiCodes.StreamNotFound;
  return /stream not found/i.test((e as Error)?.message ?? "") || (e as { code?: number })?.code === JetStreamApiCodes.StreamNotFound;
}

/** JSSequenceNotFoundErrF ("sequence N not found"). */
const SEQUENCE_NOT_FOUND = 10043;
/** JSStreamMsgDeleteFailedF: a delete the store refused, its reason only in the text. */
const MSG_DELETE_FAILED = 10057;

/** A stream message looked up or deleted by sequence does not exist (never stored, or deleted already). */
export function isMessageNotFound(e: unknown): boolean {
  return e instanceof JetStreamApiError && (e.code === JetStreamApiCodes.NoMessageFound || e.code === SEQUENCE_NOT_FOUND);
}

/**
 * A delete by sequence found nothing to delete. Servers answer that three ways (measured on 2.9 and 2.10): the
 * codes above, or MSG_DELETE_FAILED with the store's "no message found" (deleted already) or "stream store EOF"
 * (past the last message); the text is the only difference from a real failure, so it is read here, once.
 */
export function isDeleteOfMissingMessage(e: unknown): boolean {
  if (isMessageNotFound(e)) return true;
  return e instanceof JetStreamApiError && e.code === MSG_DELETE_FAILED && /no message found|not found|EOF/i.test(e.message);
}

/** A compare-and-set write (KV create or update by revision) lost: the key changed since it was read. */
export function isWrongLastSequence(e: unknown): boolean {
  return (
    e instanceof JetStreamApiError &&
    (e.code === JetStreamApiCodes.StreamWrongLastSequence || e.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** JetStream refused the request for a reason that repeating it will not change (e.g. a consumer limit). */
export function isPermanentJetStreamError(e: unknown): boolean {
  if (!(e instanceof JetStreamApiError)) return false;
  // 5xx and 408: the server or cluster could not answer now (leader election, storage busy): transient.
  return e.status >= 400 && e.status < 500 && e.status !== 408;
}

/** Anything that is not a permanent refusal may clear by itself: retry with backoff. */
export function isTransientNatsError(e: unknown): boolean {
  return !isPermanentJetStreamError(e);
}

/** What a write did not get confirmed: how many of its messages, what they are, the first failure's reason. */
export interface UnconfirmedWrite {
  readonly failed: number;
  readonly total: number;
  /** Plural: "publishes", "rejected copies". */
  readonly what: string;
  readonly reason: string;
  /** JetStream's answer when it refused (not when an ack was missing). */
  readonly refusal?: JetStreamApiError;
  /** What the caller's caller may do, e.g. that retrying is safe. */
  readonly advice?: string;
}

export function unconfirmedWrite(w: UnconfirmedWrite): UnavailableError {
  return new UnavailableError(
    `JetStream did not confirm ${w.failed} of ${w.total} ${w.what} (${w.reason})${w.advice ? `; ${w.advice}` : ""}`,
    w.refusal ? { cause: w.refusal } : undefined,
  );
}
