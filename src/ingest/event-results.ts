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

/** When no backend published, the overall outcome is the most telling one: a skip says more than a filter. */
const TELLING_ORDER = [Outcome.SKIPPED, Outcome.NO_TRANSFORMER, Outcome.FILTERED];

export function backendResult(o: BackendOutput): BackendResult {
  const r = o.result;
  return create(BackendResultSchema, {
    backend: BACKEND_TO_PROTO[o.backend],
    outcome: OUTCOME_TO_PROTO[r.outcome],
    reason: r.outcome === "transformed" ? "" : r.reason,
    statementIds: r.outcome === "transformed" ? r.statements.map((s) => String(s["id"])) : [],
    routerIds: o.routers.map((rt) => rt.id),
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
