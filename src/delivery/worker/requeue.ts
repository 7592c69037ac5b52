/**
 * Attempt accounting across JetStream deliveries, and handing a message back WITHOUT spending an attempt.
 *
 * JetStream counts deliveries, not attempts: a message pulled by a worker that then stops (SIGTERM, router
 * disabled or changed) or that only got answers about the router (PAUSED) was delivered but never really tried.
 * A nak would make its next delivery count as another attempt, and with max_retries 0 (max_deliver 1) the server
 * would never deliver it again at all. So such a message is re-published as a new message carrying the attempts
 * it really spent (Er-Attempts-Spent) and the original is terminated (term() raises no max-deliveries advisory;
 * the sweeper ignores terminations). The re-published message keeps the original storage time in
 * Er-Stored-Time so the pending age stays honest.
 *
 * Attempt number of the current delivery = Er-Attempts-Spent + deliveryCount.
 * The msg id `<delivery msg id>:requeue:<original seq>` makes a repeated hand-back of the same delivery (a crash
 * between publish and term) a duplicate. If the publish fails (NATS unavailable), the message is nak'd: it
 * costs one attempt, which is the old behaviour and still loses nothing while attempts remain. Messages handed back
 * together are written in one round trip (nats/jetstream-writer.ts), each settled by its own PubAck.
 */
import type { JsMsg } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/transport-node";
import type { JetStreamMessage, JetStreamWriter } from "../../nats/jetstream-writer.js";
import { HDR_STATEMENT_ID } from "../../routing/delivery-message.js";

/** How long a hand-back waits for JetStream to confirm the re-published copies. */
export const REQUEUE_TIMEOUT_MS = 5000;

export const HDR_ATTEMPTS_SPENT = "Er-Attempts-Spent";
export const HDR_STORED_TIME = "Er-Stored-Time";

/** Attempts spent before this message was (re-)published. */
export function priorAttempts(m: JsMsg): number {
  const n = Number(m.headers?.get(HDR_ATTEMPTS_SPENT) ?? "0");
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

/** The attempt number of the current delivery (1 = first try). */
export function attemptNumber(m: JsMsg): number {
  return priorAttempts(m) + m.info.deliveryCount;
}

/** When the statement was first stored (before any hand-back). */
export function storedTime(m: { headers?: { get(k: string): string } | undefined; time?: Date }, fallback: Date): Date {
  const h = m.headers?.get(HDR_STORED_TIME);
  const t = h ? Date.parse(h) : Number.NaN;
  return Number.isNaN(t) ? fallback : new Date(t);
}

export function publishTime(m: JsMsg): Date {
  return new Date(Math.floor(Number(m.info.timestampNanos) / 1_000_000));
}

/**
 * Hands `messages` back as never tried in this delivery: each re-published with the attempts it spent before, then
 * term()ed; one JetStream did not confirm is nak'd instead. Resolves to each message's fate: false where it had to
 * fall back to nak.
 */
export async function requeue(writer: JetStreamWriter, messages: readonly JsMsg[], msgIdPrefix: string): Promise<boolean[]> {
  if (messages.length === 0) return [];
  const acks = await writer.publishEach(
    messages.map((m) => handBack(m, msgIdPrefix)),
    { what: "hand-backs" },
  );
  return messages.map((m, i) => {
    if (acks[i] === undefined) {
      m.nak();
      return false;
    }
    m.term();
    return true;
  });
}

function handBack(m: JsMsg, msgIdPrefix: string): JetStreamMessage {
  const h = natsHeaders();
  for (const [k, v] of m.headers ?? []) if (k !== HDR_ATTEMPTS_SPENT && k !== HDR_STORED_TIME) for (const x of v) h.append(k, x);
  h.set(HDR_ATTEMPTS_SPENT, String(priorAttempts(m) + m.info.deliveryCount - 1));
  h.set(HDR_STORED_TIME, storedTime(m, publishTime(m)).toISOString());
  const id = m.headers?.get(HDR_STATEMENT_ID) || `seq-${m.seq}`;
  return { subject: m.subject, body: m.data, msgId: `${msgIdPrefix}${id}:requeue:${m.seq}`, headers: h };
}
