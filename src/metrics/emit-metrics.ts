/**
 * Turns what one emitEvents call stored into counts: each event's overall outcome (the one Emit reports, so the
 * metric and the RPC answers agree) and the statements stored per router, apart from those JetStream already held
 * (a retried call: counted as duplicates, not as stored). Runs after the publish was confirmed, so nothing is
 * counted for a call that answered Unavailable.
 */
import { Outcome } from "../../gen/eventrouting/v1/event_pb.js";
import type { BackendOutput } from "../ingest/emit-pipeline.js";
import { eventResult } from "../ingest/event-results.js";
import type { EdxEvent } from "../transform/edx-event.js";
import type { MetricsRecorder } from "./metrics.js";

const OUTCOME_LABEL = new Map<Outcome, string>(
  Object.entries(Outcome)
    .filter(([, v]) => typeof v === "number")
    .map(([k, v]) => [v as Outcome, k.toLowerCase()]),
);

export function emitObserver(
  metrics: MetricsRecorder,
): (events: readonly EdxEvent[], outputs: readonly (readonly BackendOutput[])[]) => void {
  return (events, outputs) => {
    events.forEach((event, i) => {
      const perBackend = outputs[i] ?? [];
      metrics.event(event.name, OUTCOME_LABEL.get(eventResult(0, event.name, perBackend).outcome) ?? "unspecified");
      for (const o of perBackend) {
        if (o.result.outcome !== "transformed") continue;
        const n = o.result.statements.length;
        for (const r of o.routers) {
          const held = o.duplicates?.perRouter.get(r.id) ?? 0;
          if (n > held) metrics.stored(r.id, n - held);
          if (held > 0) metrics.duplicate(r.id, held);
        }
      }
    });
  };
}
