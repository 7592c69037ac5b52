/**
 * A batch of stream entries classified into what the emit path takes (events), what is rejected (with a copy of the
 * entry), and what is only counted: entries of another signal type, and entries trimmed from the stream while
 * pending (nothing left to read). Pure.
 */
import type { IngestItem, IngestRef } from "../ingest-batch.js";
import { redisEntryCopy } from "../rejected-store.js";
import { decodeEntry } from "./entry-decoding.js";
import type { StreamEntry } from "./redis-stream.js";

export interface ClassifiedEntries {
  readonly items: IngestItem[];
  readonly otherType: number;
  /** Ids of entries that no longer exist. */
  readonly trimmed: string[];
}

export function classifyEntries(entries: readonly StreamEntry[], streamKey: string): ClassifiedEntries {
  const items: IngestItem[] = [];
  const trimmed: string[] = [];
  let otherType = 0;
  for (const entry of entries) {
    if (entry.fields === undefined) {
      trimmed.push(entry.id);
      continue;
    }
    const verdict = decodeEntry(entry.fields);
    if (verdict.kind === "other_type") {
      otherType++;
      continue;
    }
    const ref = entryRef(streamKey, entry.id, entry.fields);
    items.push(verdict.kind === "event" ? { kind: "event", ref, event: verdict.event } : { kind: "reject", ref, reason: verdict.reason });
  }
  return { items, otherType, trimmed };
}

/** The rejected copy is built only when needed: encoding every good entry would cost time on the hot path. */
function entryRef(origin: string, sourceId: string, fields: Readonly<Record<string, Buffer>>): IngestRef {
  let raw: Uint8Array | undefined;
  return {
    origin,
    sourceId,
    get raw(): Uint8Array {
      raw ??= redisEntryCopy(fields);
      return raw;
    },
  };
}
