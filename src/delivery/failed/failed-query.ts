/**
 * Which failed entries a request means, and walking them in stream order. The walk reads one entry at a time
 * ("next message on the subject at or after sequence n", a direct get: no consumer to create or clean up) from a
 * FailedReader, the I/O the store supplies; filtering and paging are pure.
 *
 * A walk that changes the stream (RetryFailed, PurgeFailed) is bounded by the last sequence read when the call
 * began: entries appended during the call, for example a retried statement that failed again at once, belong
 * to the next call. Without the bound a poison statement would be retried again and again within one call.
 * ListFailed pages are not bounded: the next page shows what was added meanwhile.
 */
import type { NatsNames } from "../../nats/names.js";
import type { FailedEntry } from "./failed-codec.js";

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

export interface FailedReader {
  /** The first entry on `subject` at or after sequence `seq`, or null when there is none. */
  nextOnSubject(subject: string, seq: number): Promise<FailedEntry | null>;
}

/** The signal fired between two entries: the walk stops without reading further. */
export class WalkAbortedError extends Error {
  override name = "WalkAbortedError";
}

export function isEmptyQuery(q: FailedQuery): boolean {
  return !q.routerId && !q.eventName && !q.startTime && !q.endTime;
}

/** A query that a subject filter expresses exactly (so a whole-subject purge may serve it). */
export function isRouterOnly(q: FailedQuery): q is FailedQuery & { routerId: string } {
  return !!q.routerId && !q.eventName && !q.startTime && !q.endTime;
}

/** The narrowest subject for a query: one router's subject, or all of the failed stream. */
export function querySubject(names: NatsNames, q: FailedQuery): string {
  return q.routerId ? names.failedSubject(q.routerId) : `${names.prefix}.failed.>`;
}

export function matches(e: FailedEntry, q: FailedQuery): boolean {
  if (q.routerId && e.routerId !== q.routerId) return false;
  if (q.eventName && e.eventName !== q.eventName) return false;
  if (q.startTime && e.failedTime < q.startTime) return false;
  if (q.endTime && e.failedTime >= q.endTime) return false;
  return true;
}

export interface WalkOptions {
  readonly fromSeq?: number;
  /** Stop after this sequence (inclusive); unbounded when absent. */
  readonly lastSeq?: number;
  /** Checked before every read; aborting ends the walk with WalkAbortedError. */
  readonly signal?: AbortSignal;
}

/** The entries matching `q`, in stream order. */
export async function* walk(reader: FailedReader, subject: string, q: FailedQuery, opts: WalkOptions = {}): AsyncGenerator<FailedEntry> {
  const last = opts.lastSeq ?? Number.MAX_SAFE_INTEGER;
  let seq = opts.fromSeq ?? 1;
  while (seq <= last) {
    if (opts.signal?.aborted) throw new WalkAbortedError("aborted");
    const e = await reader.nextOnSubject(subject, seq);
    if (!e || e.id > last) return;
    seq = e.id + 1;
    if (matches(e, q)) yield e;
  }
}

/** One page of at most `pageSize` matching entries from `fromSeq` on. */
export async function listPage(
  reader: FailedReader,
  subject: string,
  q: FailedQuery,
  pageSize: number,
  fromSeq: number,
  signal?: AbortSignal,
): Promise<FailedPage> {
  const size = Math.max(1, pageSize);
  const entries: FailedEntry[] = [];
  for await (const e of walk(reader, subject, q, { fromSeq, ...(signal ? { signal } : {}) })) {
    entries.push(e);
    if (entries.length === size) break;
  }
  const last = entries.at(-1);
  if (entries.length < size || !last) return { entries };
  // A page ending exactly at the end has no next page. The peek ignores the filter: a later non-matching entry
  // costs the caller one empty page, a full filtered scan here would cost every page.
  const more = await reader.nextOnSubject(subject, last.id + 1);
  return more ? { entries, nextSeq: last.id + 1 } : { entries };
}
