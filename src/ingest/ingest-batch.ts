/**
 * One batch of input (Redis entries or NATS messages, already decoded) through exactly the Emit path: the good
 * events go to emitEvents together (one pipelined publish), the malformed ones to the rejected stream. Resolves
 * only when JetStream confirmed both, so the caller acknowledges its input after this and never before; throws
 * UnavailableError otherwise (nothing may be acknowledged; retrying is safe, ids de-duplicate).
 *
 * An event the emit path throws on must not block the input forever: when the batch fails for any reason other
 * than storage, its events are retried one by one and the one that fails is rejected with the error as the reason.
 * A transformer that throws (a bug on odd input) no longer fails the batch: the pipeline isolates it as a SKIPPED
 * backend result, and the event is also copied to the rejected stream with that reason, so its input is kept for
 * processing again once the transformer is fixed.
 */
import type { Outcome } from "../../gen/eventrouting/v1/event_pb.js";
import { UnavailableError } from "../errors.js";
import type { IngestSource } from "../nats/names.js";
import type { StatementPublisher } from "../routing/statement-publisher.js";
import type { EdxEvent } from "../transform/edx-event.js";
import { emitEvents, type BackendOutput, type PipelineDeps } from "./emit-pipeline.js";
import { eventResult } from "./event-results.js";
import type { RejectedCopy, RejectedStore } from "./rejected-store.js";

/** Where an item came from, for its rejected copy. */
export interface IngestRef {
  readonly origin: string;
  readonly sourceId: string;
  /** The input as received (the rejected copy's body). */
  readonly raw: Uint8Array;
}

export type IngestItem =
  | { readonly kind: "event"; readonly ref: IngestRef; readonly event: EdxEvent }
  | { readonly kind: "reject"; readonly ref: IngestRef; readonly reason: string };

export interface IngestDeps {
  readonly source: IngestSource;
  readonly pipeline: PipelineDeps;
  readonly publisher: StatementPublisher;
  readonly rejected: RejectedStore;
}

export interface BatchTally {
  /** Overall outcome per event (as Emit reports it), counted. */
  readonly outcomes: Map<Outcome, number>;
  /** Delivery messages newly stored: one per statement per matching router. */
  readonly statements: number;
  /** Delivery messages JetStream already held under their id (the batch was processed before): not stored again. */
  readonly duplicates: number;
  readonly rejected: number;
  /** The reasons, for the log. */
  readonly rejectReasons: ReadonlyArray<{ readonly sourceId: string; readonly reason: string }>;
}

type EventItem = Extract<IngestItem, { kind: "event" }>;

/** The reason a transformer threw on this event (isolated by the pipeline), or undefined. */
function transformerFailure(outputs: readonly BackendOutput[]): string | undefined {
  for (const o of outputs) if (o.result.outcome === "skipped" && o.result.skip.kind === "transformer_error") return o.result.reason;
  return undefined;
}

/** One attempt: the inputs retry it through ingestBatchWithRetry (ingest-stats.ts). */
export async function ingestBatchOnce(items: readonly IngestItem[], deps: IngestDeps): Promise<BatchTally> {
  const events = items.filter((i): i is EventItem => i.kind === "event");
  const rejects: Array<{ ref: IngestRef; reason: string }> = items.filter((i) => i.kind === "reject");
  const emitted: Array<{ item: EventItem; outputs: BackendOutput[] }> = [];
  try {
    const outputs = await emitEvents(
      events.map((e) => e.event),
      deps.pipeline,
      deps.publisher,
    );
    events.forEach((item, i) => {
      emitted.push({ item, outputs: outputs[i]! });
      const crash = transformerFailure(outputs[i]!);
      if (crash !== undefined) rejects.push({ ref: item.ref, reason: crash });
    });
  } catch (e) {
    if (e instanceof UnavailableError) throw e;
    for (const item of events) {
      try {
        const [outputs] = await emitEvents([item.event], deps.pipeline, deps.publisher);
        emitted.push({ item, outputs: outputs! });
      } catch (single) {
        if (single instanceof UnavailableError) throw single;
        rejects.push({ ref: item.ref, reason: `the emit path failed on this event: ${(single as Error)?.message ?? String(single)}` });
      }
    }
  }
  const copies = rejects.map(
    (r): RejectedCopy => ({ source: deps.source, origin: r.ref.origin, sourceId: r.ref.sourceId, reason: r.reason, body: r.ref.raw }),
  );
  await deps.rejected.store(copies);

  const outcomes = new Map<Outcome, number>();
  let statements = 0;
  let duplicates = 0;
  for (const { item, outputs } of emitted) {
    const outcome = eventResult(0, item.event.name, outputs).outcome;
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    for (const o of outputs) {
      if (o.result.outcome !== "transformed") continue;
      let held = 0;
      for (const n of o.duplicates?.perRouter.values() ?? []) held += n;
      statements += o.result.statements.length * o.routers.length - held;
      duplicates += held;
    }
  }
  return {
    outcomes,
    statements,
    duplicates,
    rejected: rejects.length,
    rejectReasons: rejects.map((r) => ({ sourceId: r.ref.sourceId, reason: r.reason })),
  };
}
