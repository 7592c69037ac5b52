/** Maps pipeline outputs to the wire results (EventResult / BackendResult). */
import { create } from "@bufbuild/protobuf";
import {
  Backend,
  BackendResultSchema,
  EventResultSchema,
  Outcome,
  type BackendResult,
  type EventResult,
} from "../../gen/eventrouting/v1/event_pb.js";
import type { BackendName } from "../transform/registry.js";
import type { BackendOutput } from "./emit-pipeline.js";

export const BACKEND_TO_PROTO: Record<BackendName, Backend> = { xapi: Backend.XAPI, caliper: Backend.CALIPER };

const OUTCOME_TO_PROTO = {
  transformed: Outcome.PUBLISHED,
  filtered: Outcome.FILTERED,
  no_transformer: Outcome.NO_TRANSFORMER,
  skipped: Outcome.SKIPPED,
} as const;

/**
 * When no backend published, the overall outcome is the most telling one. DUPLICATE comes first: the event's
 * statements are stored (by an earlier call), which is what a caller retrying after Unavailable needs to know,
 * and like PUBLISHED it hides what other backends skipped (their own results still say it). Then a skip says
 * more than a missing transformer, and that more than a filter.
 */
const TELLING_ORDER = [Outcome.DUPLICATE, Outcome.SKIPPED, Outcome.NO_TRANSFORMER, Outcome.FILTERED];

const DUPLICATE_REASON =
  "JetStream already held every statement under its id (a retried call, or an event ERB's id rule maps to the same id); not stored again";

/** A backend output's outcome on the wire, without building its BackendResult (the lean EmitBatch answer). */
export function backendOutcome(o: BackendOutput): Outcome {
  const r = o.result;
  return r.outcome === "transformed" && o.duplicates?.all === true ? Outcome.DUPLICATE : OUTCOME_TO_PROTO[r.outcome];
}

/** The event's overall outcome from its backends' (as eventResult chooses it), without building any message. */
export function overallOutcome(outputs: readonly BackendOutput[]): Outcome {
  let best: Outcome | undefined;
  for (const o of outputs) {
    const outcome = backendOutcome(o);
    if (outcome === Outcome.PUBLISHED) return outcome;
    if (best === undefined || TELLING_ORDER.indexOf(outcome) < TELLING_ORDER.indexOf(best)) best = outcome;
  }
  return best ?? Outcome.FILTERED;
}

export function backendResult(o: BackendOutput): BackendResult {
  const r = o.result;
  const duplicate = r.outcome === "transformed" && o.duplicates?.all === true;
  return create(BackendResultSchema, {
    backend: BACKEND_TO_PROTO[o.backend],
    outcome: backendOutcome(o),
    reason: duplicate ? DUPLICATE_REASON : r.outcome === "transformed" ? "" : r.reason,
    statementIds: r.outcome === "transformed" ? r.statements.map((s) => String(s["id"])) : [],
    routerIds: o.routers.map((rt) => rt.id),
    duplicateStatementIds: o.duplicates ? [...o.duplicates.statementIds] : [],
    transformer: r.outcome === "transformed" || r.outcome === "skipped" ? (r.transformer ?? "") : "",
  });
}

export function eventResult(index: number, name: string, outputs: readonly BackendOutput[]): EventResult {
  const backends = outputs.map(backendResult);
  let chosen = backends.find((b) => b.outcome === Outcome.PUBLISHED);
  for (const outcome of TELLING_ORDER) chosen ??= backends.find((b) => b.outcome === outcome);
  return create(EventResultSchema, {
    index,
    name,
    outcome: chosen?.outcome ?? Outcome.FILTERED,
    reason: chosen ? chosen.reason : "every backend is disabled",
    backends,
  });
}

export function invalidResult(index: number, reason: string): EventResult {
  return create(EventResultSchema, { index, outcome: Outcome.INVALID, reason });
}
