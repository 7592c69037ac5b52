/**
 * Reads one stream from a sequence to a bound, a batch at a time, with an ordered consumer: the server keeps the
 * position, the client holds one batch, so a backlog of hundreds of thousands of statements costs the memory of a
 * few hundred. Nothing is acknowledged or changed by reading; the forget deletes what matched by sequence.
 *
 * Deletes erase (JetStream overwrites the stored bytes instead of only dropping the index entry): the point is
 * that the learner's statement is gone from the disk, not only from view. A sequence already gone (deleted by an
 * earlier run of the same forget, acknowledged under work-queue retention, aged out) counts as not deleted.
 */
import { DeliverPolicy, type Consumer, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import { mapLimit } from "../directory/map-limit.js";
import { isDeleteOfMissingMessage } from "../nats/jetstream-errors.js";
import { HDR_ROUTER_ID } from "../routing/delivery-message.js";

/** Messages per fetch: one batch in memory at a time. */
export const SCAN_BATCH = 256;
/** Deletes in flight per batch. */
const DELETE_CONCURRENCY = 32;

export interface Match {
  readonly seq: number;
  readonly routerId: string;
}

export interface ScannedBatch {
  /** Messages read in this batch (up to the bound). */
  readonly read: number;
  /** The next sequence to read. */
  readonly nextSeq: number;
  readonly matches: readonly Match[];
  /** The bound is reached (or the stream has nothing more). */
  readonly done: boolean;
}

export type MessageTest = (m: JsMsg) => boolean;

/** The router a delivery or failed message belongs to: its header, else its subject `<prefix>.<kind>.<router id>...`. */
export function routerOfMessage(m: Pick<JsMsg, "headers" | "subject">): string {
  return m.headers?.get(HDR_ROUTER_ID) || m.subject.split(".")[2] || "";
}

export class StreamScanner {
  #consumer: Consumer | undefined;
  #next: number;

  constructor(
    private readonly js: JetStreamClient,
    private readonly stream: string,
    from: number,
    private readonly bound: number,
    private readonly test: MessageTest,
  ) {
    this.#next = from;
  }

  async next(): Promise<ScannedBatch> {
    if (this.#next > this.bound) return { read: 0, nextSeq: this.#next, matches: [], done: true };
    this.#consumer ??= await this.js.consumers.get(this.stream, {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: this.#next,
    });
    const matches: Match[] = [];
    let read = 0;
    let done = false;
    const batch = await this.#consumer.fetch({ max_messages: SCAN_BATCH, expires: 1000 });
    for await (const m of batch) {
      if (m.seq > this.bound) {
        done = true;
        break;
      }
      read++;
      this.#next = m.seq + 1;
      if (this.test(m)) matches.push({ seq: m.seq, routerId: routerOfMessage(m) });
    }
    // Nothing before the bound came: the rest up to it is deleted or aged out.
    if (read === 0) done = true;
    if (this.#next > this.bound) done = true;
    return { read, nextSeq: done ? this.bound + 1 : this.#next, matches, done };
  }
}

/** Deletes (erasing) the sequences; resolves to the per-router count of messages that were still there. */
export async function deleteMatches(jsm: JetStreamManager, stream: string, matches: readonly Match[]): Promise<Map<string, number>> {
  const deleted = new Map<string, number>();
  await mapLimit(matches, DELETE_CONCURRENCY, async (m) => {
    try {
      await jsm.streams.deleteMessage(stream, m.seq, true);
      deleted.set(m.routerId, (deleted.get(m.routerId) ?? 0) + 1);
    } catch (e) {
      if (!isDeleteOfMissingMessage(e)) throw e;
    }
  });
  return deleted;
}
