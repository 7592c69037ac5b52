/**
 * Reading and purging the rejected stream (written by rejected-store.ts), so an operator can see what an input
 * refused and why without the nats CLI. Reads are direct gets ("next message on the subject at or after
 * sequence n"): no consumer to create or clean up, and any instance may answer, as the stream is shared.
 *
 * Errors: "no such message" is an answer (the end of a page, a not-found id); every other NATS failure is
 * UnavailableError, never an empty list or a zero count. A page token is the next sequence; tokens are opaque
 * to callers and checked here, so a made-up one is InvalidArgument naming page_token.
 */
import type { JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import { UnavailableError, ValidationError } from "../errors.js";
import { isMessageNotFound, isStreamNotFound } from "../nats/jetstream-errors.js";
import type { IngestNames, IngestSource } from "../nats/names.js";
import { HDR_INGEST_ID, HDR_INGEST_ORIGIN, HDR_INGEST_SOURCE, HDR_ORIGINAL_SIZE, HDR_REJECT_REASON } from "./rejected-store.js";

export const INGEST_SOURCES: readonly IngestSource[] = ["event-bus-redis", "nats"];
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;
const TOKEN_PREFIX = "r1:";

export interface RejectedEntry {
  /** The rejected stream's sequence. */
  readonly id: number;
  readonly source: string;
  readonly origin: string;
  readonly sourceId: string;
  readonly reason: string;
  readonly time: Date;
  readonly body: Uint8Array;
  /** Set when the body was cut: the input's size in bytes. */
  readonly originalSize?: number;
}

export interface RejectedPage {
  readonly entries: RejectedEntry[];
  /** Sequence to continue from; undefined on the last page. */
  readonly nextSeq?: number;
}

export function encodeRejectedPageToken(seq: number): string {
  return Buffer.from(`${TOKEN_PREFIX}${seq}`, "utf8").toString("base64url");
}

export function decodeRejectedPageToken(token: string): number {
  if (token === "") return 1;
  const raw = Buffer.from(token, "base64url").toString("utf8");
  const m = raw.startsWith(TOKEN_PREFIX) ? /^\d{1,15}$/.exec(raw.slice(TOKEN_PREFIX.length)) : null;
  const seq = m ? Number(m[0]) : NaN;
  if (!Number.isSafeInteger(seq) || seq < 1) throw new ValidationError("page_token", "not a token returned by ListRejected");
  return seq;
}

/** "" means every input; anything else must name one. */
export function parseSource(source: string): IngestSource | undefined {
  if (source === "") return undefined;
  if ((INGEST_SOURCES as readonly string[]).includes(source)) return source as IngestSource;
  throw new ValidationError("source", `expected one of ${INGEST_SOURCES.join(", ")} (or empty for all), got "${source}"`);
}

export function pageSizeOf(requested: number): number {
  return requested === 0 ? DEFAULT_PAGE_SIZE : Math.min(MAX_PAGE_SIZE, requested);
}

export function decodeRejected(m: StoredMsg): RejectedEntry {
  const h = m.header;
  const get = (name: string): string => (h?.has(name) ? h.get(name) : "");
  const originalSize = Number(get(HDR_ORIGINAL_SIZE));
  return {
    id: m.seq,
    // Hand-published copies may lack the header; the subject's last token names the input too.
    source: get(HDR_INGEST_SOURCE) || m.subject.split(".").pop() || "",
    origin: get(HDR_INGEST_ORIGIN),
    sourceId: get(HDR_INGEST_ID),
    reason: get(HDR_REJECT_REASON),
    time: m.time,
    body: m.data,
    ...(originalSize > 0 ? { originalSize } : {}),
  };
}

export class RejectedStream {
  constructor(
    private readonly jsm: JetStreamManager,
    private readonly names: IngestNames,
  ) {}

  private async nats<T>(what: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (e) {
      const why = isStreamNotFound(e) ? `stream ${this.names.rejectedStream} does not exist` : (e as Error)?.message || String(e);
      throw new UnavailableError(`NATS could not ${what}: ${why}`, { cause: e });
    }
  }

  /** One input's subject, or every input's: the wildcard in the source's place (`<prefix>.rejected.*`). */
  private subject(source: IngestSource | undefined): string {
    return this.names.rejectedSubject(source ?? ("*" as IngestSource));
  }

  private async next(subject: string, seq: number): Promise<RejectedEntry | null> {
    const m = await this.nats("read the rejected stream", () =>
      this.jsm.direct.getMessage(this.names.rejectedStream, { seq, next_by_subj: subject }),
    );
    return m ? decodeRejected(m) : null;
  }

  /** At most `pageSize` copies from sequence `fromSeq` on, oldest first. */
  async list(source: IngestSource | undefined, pageSize: number, fromSeq = 1): Promise<RejectedPage> {
    const subject = this.subject(source);
    const entries: RejectedEntry[] = [];
    let seq = fromSeq;
    while (entries.length < pageSize) {
      const e = await this.next(subject, seq);
      if (!e) return { entries };
      entries.push(e);
      seq = e.id + 1;
    }
    // A full page: peek once, so a page ending exactly at the end has no next page.
    return (await this.next(subject, seq)) ? { entries, nextSeq: seq } : { entries };
  }

  /** Deletes the given ids; the ones not stored (any more) are named. */
  async purgeIds(ids: readonly number[]): Promise<{ purged: number; notFound: number[] }> {
    let purged = 0;
    const notFound: number[] = [];
    for (const id of ids) {
      // Looked up first: deleting a missing sequence fails with a code that does not say "not found" alone.
      const m = await this.nats("read the rejected stream", () => this.jsm.direct.getMessage(this.names.rejectedStream, { seq: id }));
      const removed =
        m?.seq === id &&
        (await this.nats("delete from the rejected stream", async () => {
          try {
            return await this.jsm.streams.deleteMessage(this.names.rejectedStream, id);
          } catch (e) {
            if (isMessageNotFound(e)) return false;
            throw e;
          }
        }));
      if (removed) purged++;
      else notFound.push(id);
    }
    return { purged, notFound };
  }

  /** Every copy stored when the call began; copies stored meanwhile stay (they were not seen by the caller). */
  async purgeAll(): Promise<number> {
    const info = await this.nats("read the rejected stream's state", () => this.jsm.streams.info(this.names.rejectedStream));
    const last = info.state.last_seq;
    const r = await this.nats("purge the rejected stream", () => this.jsm.streams.purge(this.names.rejectedStream, { seq: last + 1 }));
    return r.purged;
  }
}
