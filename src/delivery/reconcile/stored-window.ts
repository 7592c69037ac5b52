/**
 * The statements stored for one router in a time window, read back from the delivery stream: the ids reconcile
 * checks against the LRS. The delivery stream is the record of what was handed to delivery; it keeps every
 * message (delivered or not) for DELIVERY_MAX_AGE_HOURS, so a window that starts earlier is clipped to the oldest
 * message it still holds, and the report says so instead of calling the older statements "checked".
 *
 * Read with an ordered consumer that carries headers only (the ids are in Er-Statement-Id; bodies are fetched
 * again only for a statement that is resent), starting at the window's start time on the router's subject and
 * stopping at `until`: memory stays at one pull batch whatever the window's size.
 *
 * Each statement counts once: only a first store by the emit path is read (Nats-Msg-Id = router:statement, as the
 * statement log does); hand-backs (requeue.ts), RetryFailed copies and reconcile's own resends carry other msg
 * ids and repeat a statement whose original is in the stream as long as they are.
 */
import type { JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import type { NatsNames } from "../../nats/names.js";
import { readDeliveryHeaders } from "../../routing/delivery-message.js";
import type { RouterConfig } from "../../routing/router-model.js";

/** Messages pulled per request by the window's consumer (headers only: about 300 bytes each). */
const PULL_BATCH = 1000;
/** How long a pull waits when the window holds nothing (more): the end of an empty window. */
const EMPTY_FETCH_MS = 1000;

export interface StoredStatementRef {
  readonly seq: number;
  readonly statementId: string;
  readonly storedAt: Date;
}

export interface WindowBounds {
  readonly since: Date;
  readonly until: Date;
  /** The stream no longer holds the start of the window asked for; why, for people. */
  readonly clipReason?: string;
}

/** The asked window clipped to what the delivery stream still holds. */
export async function clipWindow(jsm: JetStreamManager, names: NatsNames, since: Date, until: Date, now: Date): Promise<WindowBounds> {
  const si = await jsm.streams.info(names.deliveryStream);
  const maxAgeMs = Math.floor(Number(si.config.max_age ?? 0) / 1_000_000);
  const hours = maxAgeMs > 0 ? `${Math.round((maxAgeMs / 3_600_000) * 100) / 100} h` : "no limit";
  const firstTs = si.state.messages > 0 ? Date.parse(si.state.first_ts) : Number.NaN;
  // What the stream can still hold: its oldest message, or (when empty) nothing older than max_age.
  const floor = !Number.isNaN(firstTs) ? firstTs : maxAgeMs > 0 ? now.getTime() - maxAgeMs : Number.NEGATIVE_INFINITY;
  if (since.getTime() >= floor) return { since, until };
  const oldest = Number.isNaN(firstTs) ? "nothing (the stream is empty)" : new Date(firstTs).toISOString();
  return {
    since: new Date(Math.min(floor, until.getTime())),
    until,
    clipReason:
      `the delivery stream keeps statements for DELIVERY_MAX_AGE_HOURS (${hours}) and holds ${oldest} as its oldest: ` +
      `statements stored before ${new Date(floor).toISOString()} are gone from it and were not checked`,
  };
}

/**
 * The router's first stores in the window, in stream order. `onEstimate` gets, with the first message, the router's
 * messages from there to the end of the stream: an upper bound of the window's size, for progress.
 *
 * Pulled with fetch (not consume) so that an empty window ends: a fetch that finds nothing returns after
 * EMPTY_FETCH_MS, while the last message of the subject says so itself (pending 0) and ends the walk at once.
 * The start is found by the consumer's start time (nats-server 2.2+; a direct get by time needs 2.11).
 */
export async function* storedStatements(
  js: JetStreamClient,
  names: NatsNames,
  router: Pick<RouterConfig, "id" | "incarnation">,
  bounds: WindowBounds,
  onEstimate: (n: number) => void,
): AsyncGenerator<StoredStatementRef> {
  const consumer = await js.consumers.get(names.deliveryStream, {
    filter_subjects: names.deliverSubject(router.id, router.incarnation),
    deliver_policy: "by_start_time",
    opt_start_time: bounds.since.toISOString(),
    headers_only: true,
  });
  let first = true;
  for (;;) {
    const batch = await consumer.fetch({ max_messages: PULL_BATCH, expires: EMPTY_FETCH_MS });
    let seen = 0;
    for await (const m of batch) {
      seen++;
      if (first) onEstimate(m.info.pending + 1);
      first = false;
      const storedAt = new Date(Math.floor(Number(m.info.timestampNanos) / 1_000_000));
      if (storedAt.getTime() >= bounds.until.getTime()) return;
      const statementId = firstStoreId(m, names, router);
      if (statementId !== undefined) yield { seq: m.seq, statementId, storedAt };
      if (m.info.pending === 0) return;
    }
    if (seen === 0) return;
  }
}

/** The statement id of a first store by the emit path; undefined for a copy (see the opening comment). */
function firstStoreId(m: JsMsg, names: NatsNames, router: Pick<RouterConfig, "id" | "incarnation">): string | undefined {
  const { statementId } = readDeliveryHeaders(m.headers);
  if (!statementId) return undefined;
  return m.headers?.get("Nats-Msg-Id") === names.deliveryMsgId(router.id, statementId, router.incarnation) ? statementId : undefined;
}
