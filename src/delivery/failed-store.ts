/**
 * The failed stream: statements of business-critical events that exhausted their delivery attempts (or were
 * refused for good), kept until an operator retries or purges them. One message per statement, subject
 * <prefix>.failed.<router id>, body = the statement as it was to be delivered, metadata in headers.
 *
 * Idempotency: the worker (primary path) and the sweeper (crash backstop) publish with the same Nats-Msg-Id,
 * the names.failedMsgId plus the delivery stream sequence. The sequence makes every delivery "generation" of a
 * statement distinct: after RetryFailed a statement may fail again within the 24 h dedupe window and must be
 * stored again, not swallowed as a duplicate.
 */
import type { JetStreamClient, JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";
import type { NatsNames } from "../nats/names.js";
import { HDR_BACKEND, HDR_EVENT_NAME, HDR_ROUTER_ID, HDR_STATEMENT_ID } from "../routing/delivery-message.js";

export const HDR_ATTEMPTS = "Er-Attempts";
export const HDR_LAST_HTTP_STATUS = "Er-Last-Http-Status";
export const HDR_LAST_ERROR = "Er-Last-Error";
export const HDR_FIRST_ATTEMPT = "Er-First-Attempt-Time";
export const HDR_LAST_ATTEMPT = "Er-Last-Attempt-Time";
export const HDR_DELIVERY_SEQ = "Er-Delivery-Seq";

export interface FailureRecord {
  readonly routerId: string;
  readonly eventName: string;
  readonly statementId: string;
  readonly backend: string;
  readonly attempts: number;
  /** 0 when the last attempt got no HTTP answer. */
  readonly lastHttpStatus: number;
  readonly lastError: string;
  readonly firstAttemptTime: Date;
  readonly lastAttemptTime: Date;
  /** Sequence of the original in the delivery stream. */
  readonly deliverySeq: number;
}

export interface FailedEntry extends FailureRecord {
  /** The failed stream sequence: the handle for retry and purge. */
  readonly id: number;
  readonly failedTime: Date;
  /** The statement JSON text. */
  readonly body: string;
}

export interface FailedQuery {
  readonly routerId?: string;
  readonly eventName?: string;
  /** Failed at or after. */
  readonly startTime?: Date;
  /** Failed before. */
  readonly endTime?: Date;
}

export type FailedSelection = { readonly ids: readonly number[] } | { readonly query: FailedQuery };

export interface FailedPage {
  readonly entries: FailedEntry[];
  /** Sequence to continue from; undefined on the last page. */
  readonly nextSeq?: number;
}

/** Header values are single-line and bounded: errors quote response bodies. */
function headerSafe(s: string, max = 500): string {
  return s.replace(/[\r\n]+/g, " ").slice(0, max);
}

export class FailedStore {
  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly names: NatsNames,
    /** Retrying for a deleted router would park the statement where no consumer reads it: such entries stay. */
    private readonly routerExists: (routerId: string) => boolean = () => true,
  ) {}

  msgId(routerId: string, statementId: string, deliverySeq: number): string {
    return `${this.names.failedMsgId(routerId, statementId)}:${deliverySeq}`;
  }

  /** Stores a failure; resolves only once JetStream confirmed (or reported a duplicate of) it. */
  async record(rec: FailureRecord, body: Uint8Array | string): Promise<void> {
    const h = natsHeaders();
    h.set(HDR_ROUTER_ID, rec.routerId);
    h.set(HDR_EVENT_NAME, rec.eventName);
    h.set(HDR_STATEMENT_ID, rec.statementId);
    h.set(HDR_BACKEND, rec.backend);
    h.set(HDR_ATTEMPTS, String(rec.attempts));
    h.set(HDR_LAST_HTTP_STATUS, String(rec.lastHttpStatus));
    h.set(HDR_LAST_ERROR, headerSafe(rec.lastError));
    h.set(HDR_FIRST_ATTEMPT, rec.firstAttemptTime.toISOString());
    h.set(HDR_LAST_ATTEMPT, rec.lastAttemptTime.toISOString());
    h.set(HDR_DELIVERY_SEQ, String(rec.deliverySeq));
    await this.js.publish(this.names.failedSubject(rec.routerId), body, {
      msgID: this.msgId(rec.routerId, rec.statementId, rec.deliverySeq),
      headers: h,
      expect: { streamName: this.names.failedStream },
    });
  }

  async get(id: number): Promise<FailedEntry | null> {
    const m = await this.jsm.direct.getMessage(this.names.failedStream, { seq: id }).catch(() => null);
    return m && m.seq === id ? toEntry(m) : null;
  }

  /** One page, in failed-stream order, starting at sequence `fromSeq`. */
  async list(query: FailedQuery, pageSize: number, fromSeq = 1): Promise<FailedPage> {
    const subject = query.routerId ? this.names.failedSubject(query.routerId) : `${this.names.prefix}.failed.>`;
    const entries: FailedEntry[] = [];
    let seq = fromSeq;
    // Direct get "next message on subject at or after seq" walks the stream without creating a consumer.
    while (entries.length < pageSize) {
      const m = await this.jsm.direct.getMessage(this.names.failedStream, { seq, next_by_subj: subject });
      if (!m) return { entries };
      seq = m.seq + 1;
      const e = toEntry(m);
      if (matches(e, query)) entries.push(e);
    }
    const more = await this.jsm.direct.getMessage(this.names.failedStream, { seq, next_by_subj: subject });
    return more ? { entries, nextSeq: seq } : { entries };
  }

  private async *select(sel: FailedSelection): AsyncGenerator<{ id: number; entry: FailedEntry | null }> {
    if ("ids" in sel) {
      for (const id of sel.ids) yield { id, entry: await this.get(id) };
      return;
    }
    let from = 1;
    while (true) {
      const page = await this.list(sel.query, 200, from);
      for (const e of page.entries) yield { id: e.id, entry: e };
      if (page.nextSeq === undefined) return;
      from = page.nextSeq;
    }
  }

  /**
   * Re-publishes to the delivery subject, then deletes from the failed stream: a crash in between leaves the
   * entry in place, and a second RetryFailed is de-duplicated by the deterministic msg id.
   */
  async retry(sel: FailedSelection): Promise<{ retried: number; notFound: number[]; noRouter: number[] }> {
    let retried = 0;
    const notFound: number[] = [];
    const noRouter: number[] = [];
    for await (const { id, entry } of this.select(sel)) {
      if (!entry) {
        notFound.push(id);
        continue;
      }
      if (!this.routerExists(entry.routerId)) {
        noRouter.push(id);
        continue;
      }
      const h = natsHeaders();
      h.set(HDR_ROUTER_ID, entry.routerId);
      h.set(HDR_EVENT_NAME, entry.eventName);
      h.set(HDR_STATEMENT_ID, entry.statementId);
      h.set(HDR_BACKEND, entry.backend);
      // A new msg id: the original one is still inside the delivery stream's dedupe window.
      await this.js.publish(this.names.deliverSubject(entry.routerId), entry.body, {
        msgID: `${this.names.deliveryMsgId(entry.routerId, entry.statementId)}:retry:${id}`,
        headers: h,
        expect: { streamName: this.names.deliveryStream },
      });
      await this.jsm.streams.deleteMessage(this.names.failedStream, id).catch(() => false);
      retried++;
    }
    return { retried, notFound, noRouter };
  }

  async purge(sel: FailedSelection): Promise<{ purged: number; notFound: number[] }> {
    if (!("ids" in sel) && isEmptyQuery(sel.query)) {
      const r = await this.jsm.streams.purge(this.names.failedStream);
      return { purged: r.purged, notFound: [] };
    }
    if (!("ids" in sel) && onlyRouter(sel.query)) {
      const r = await this.jsm.streams.purge(this.names.failedStream, { filter: this.names.failedSubject(sel.query.routerId!) });
      return { purged: r.purged, notFound: [] };
    }
    let purged = 0;
    const notFound: number[] = [];
    for await (const { id, entry } of this.select(sel)) {
      const ok = entry ? await this.jsm.streams.deleteMessage(this.names.failedStream, id).catch(() => false) : false;
      if (ok) purged++;
      else notFound.push(id);
    }
    return { purged, notFound };
  }

  /** How many failed statements are stored for a router. */
  async count(routerId: string): Promise<number> {
    const subject = this.names.failedSubject(routerId);
    const info = await this.jsm.streams.info(this.names.failedStream, { subjects_filter: subject });
    return info.state.subjects?.[subject] ?? 0;
  }
}

function isEmptyQuery(q: FailedQuery): boolean {
  return !q.routerId && !q.eventName && !q.startTime && !q.endTime;
}

function onlyRouter(q: FailedQuery): boolean {
  return !!q.routerId && !q.eventName && !q.startTime && !q.endTime;
}

function matches(e: FailedEntry, q: FailedQuery): boolean {
  if (q.routerId && e.routerId !== q.routerId) return false;
  if (q.eventName && e.eventName !== q.eventName) return false;
  if (q.startTime && e.failedTime < q.startTime) return false;
  if (q.endTime && e.failedTime >= q.endTime) return false;
  return true;
}

function hdr(h: MsgHdrs | undefined, k: string): string {
  return h?.get(k) ?? "";
}

function dateHdr(h: MsgHdrs | undefined, k: string, fallback: Date): Date {
  const t = Date.parse(hdr(h, k));
  return Number.isNaN(t) ? fallback : new Date(t);
}

function toEntry(m: StoredMsg): FailedEntry {
  const h = m.header;
  return {
    id: m.seq,
    routerId: hdr(h, HDR_ROUTER_ID) || m.subject.split(".").pop() || "",
    eventName: hdr(h, HDR_EVENT_NAME),
    statementId: hdr(h, HDR_STATEMENT_ID),
    backend: hdr(h, HDR_BACKEND),
    attempts: Number(hdr(h, HDR_ATTEMPTS)) || 0,
    lastHttpStatus: Number(hdr(h, HDR_LAST_HTTP_STATUS)) || 0,
    lastError: hdr(h, HDR_LAST_ERROR),
    firstAttemptTime: dateHdr(h, HDR_FIRST_ATTEMPT, m.time),
    lastAttemptTime: dateHdr(h, HDR_LAST_ATTEMPT, m.time),
    deliverySeq: Number(hdr(h, HDR_DELIVERY_SEQ)) || 0,
    failedTime: m.time,
    body: m.string(),
  };
}
