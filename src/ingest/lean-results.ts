/**
 * The lean EmitBatch answer (EmitBatchRequest.only_unstored_results): counts for every event, and a full
 * EventResult only for the events a caller has to act on: those not stored (overall outcome other than PUBLISHED
 * or DUPLICATE) and those a backend SKIPPED (a published xAPI statement next to a Caliper event that could not be
 * made still needs a look).
 *
 * Why it exists: at one router, building 100 EventResults, encoding them with protobuf-es and gzipping the answer
 * cost the service about twice what storing the statement did (~11.5 against ~5 µs per event, docs/benchmarks.md,
 * "Where the one-router EmitBatch CPU goes"), and the caller paid again to decode them. Counting needs no message.
 */
import { create } from "@bufbuild/protobuf";
import { type EmitBatchCounts, EmitBatchCountsSchema } from "../../gen/eventrouting/v1/event_routing_service_pb.js";
import { type EventResult, Outcome } from "../../gen/eventrouting/v1/event_pb.js";
import type { BackendOutput } from "./emit-pipeline.js";
import { backendOutcome, eventResult, overallOutcome } from "./event-results.js";

type Counts = { -readonly [K in Exclude<keyof EmitBatchCounts, "$typeName" | "$unknown">]: number };

const COUNT_OF: Partial<Record<Outcome, keyof Counts>> = {
  [Outcome.PUBLISHED]: "published",
  [Outcome.DUPLICATE]: "duplicate",
  [Outcome.FILTERED]: "filtered",
  [Outcome.NO_TRANSFORMER]: "noTransformer",
  [Outcome.SKIPPED]: "skipped",
  [Outcome.INVALID]: "invalid",
};

/** Every event of a batch: its index in the request and, once emitted, its name and outputs (or why it is invalid). */
export type BatchEvent =
  | { readonly index: number; readonly name: string; readonly outputs: readonly BackendOutput[] }
  | { readonly index: number; readonly invalid: EventResult };

export interface LeanAnswer {
  readonly results: EventResult[];
  readonly counts: EmitBatchCounts;
}

/** `events` in request order. */
export function leanAnswer(events: Iterable<BatchEvent>): LeanAnswer {
  const counts: Counts = {
    published: 0,
    duplicate: 0,
    filtered: 0,
    noTransformer: 0,
    skipped: 0,
    invalid: 0,
    statements: 0,
    messagesStored: 0,
  };
  const results: EventResult[] = [];
  for (const e of events) {
    if ("invalid" in e) {
      counts.invalid++;
      results.push(e.invalid);
      continue;
    }
    const outcome = overallOutcome(e.outputs);
    counts[COUNT_OF[outcome] ?? "invalid"]++;
    const stored = outcome === Outcome.PUBLISHED || outcome === Outcome.DUPLICATE;
    if (!stored || countStatements(e.outputs, counts)) results.push(eventResult(e.index, e.name, e.outputs));
  }
  return { results, counts: create(EmitBatchCountsSchema, counts) };
}

/** Adds a stored event's statements and messages to `counts`; whether a backend was SKIPPED (the event is listed). */
function countStatements(outputs: readonly BackendOutput[], counts: Counts): boolean {
  let skipped = false;
  for (const o of outputs) {
    const r = o.result;
    if (r.outcome !== "transformed") {
      skipped ||= backendOutcome(o) === Outcome.SKIPPED;
      continue;
    }
    counts.statements += r.statements.length;
    let held = 0;
    if (o.duplicates) for (const n of o.duplicates.perRouter.values()) held += n;
    counts.messagesStored += r.statements.length * o.routers.length - held;
  }
  return skipped;
}
