/**
 * One place that classifies NATS and JetStream errors, by the API's error codes (JetStreamApiError.code) rather
 * than by message text, so every caller (consumer set-up, status, failed store, stream provisioning) agrees.
 *
 * Transient: the request may succeed if repeated later (no connection, timeouts, no responders while a server
 * restarts, 503 while a cluster elects a leader). Permanent: JetStream understood the request and refused it
 * (limits, invalid configuration); repeating it unchanged fails the same way.
 */
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";

export function isConsumerNotFound(e: unknown): boolean {
  if (e instanceof JetStreamApiError) return e.code === JetStreamApiCodes.ConsumerNotFound;
  return /consumer not found/i.test((e as Error)?.message ?? "");
}

export function isStreamNotFound(e: unknown): boolean {
  if (e instanceof JetStreamApiError) return e.code === JetStreamApiCodes.StreamNotFound;
  return /stream not found/i.test((e as Error)?.message ?? "") || (e as { code?: number })?.code === JetStreamApiCodes.StreamNotFound;
}

/** A stream message looked up or deleted by sequence does not exist (never stored, or deleted already). */
export function isMessageNotFound(e: unknown): boolean {
  return e instanceof JetStreamApiError && e.code === JetStreamApiCodes.NoMessageFound;
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
