/**
 * What happened to one line, in a form every processor (EmitBatch, Transform, offline) produces, so the summary,
 * the progress bar and --output do not care where the line went. Pure mapping from the wire results.
 */
import { Outcome, type EventResult } from "../../../gen/eventrouting/v1/event_pb.js";
import type { JsonObject } from "../../transform/edx-event.js";

export interface OutputStatement {
  readonly backend: "xapi" | "caliper";
  readonly routerIds: readonly string[];
  readonly statement: JsonObject;
}

export interface LineOutcome {
  /**
   * The service's outcome in lower case: published, filtered, no_transformer, skipped, invalid, duplicate; in a
   * run that stores nothing, transformed instead of published.
   */
  readonly outcome: string;
  /** Event name; "" when the line did not parse. */
  readonly name: string;
  readonly reason: string;
  /** Statements produced (per backend, before fan-out to routers). */
  readonly statements: number;
  /** Delivery messages newly stored: one per statement per router (0 in a dry run). */
  readonly stored: number;
  /** Statements JetStream already held (a re-sent line): not stored again. */
  readonly duplicates?: number;
  /** The statements themselves, when the processor has them (Transform, offline) and --output wants them. */
  readonly output?: readonly OutputStatement[];
}

export function outcomeName(o: Outcome): string {
  return (Outcome[o] ?? `outcome_${o}`).toLowerCase();
}

/** From an EmitBatch (stored) or Transform (dry, `stored` false) result. */
export function fromEventResult(r: EventResult, stored: boolean): LineOutcome {
  let statements = 0;
  let messages = 0;
  let duplicates = 0;
  for (const b of r.backends) {
    statements += b.statementIds.length;
    duplicates += b.duplicateStatementIds.length;
    // A duplicate is one JetStream held for at least one router; a replay re-sends to the same routers, so
    // counting it as held for all of them is exact there.
    messages += (b.statementIds.length - b.duplicateStatementIds.length) * b.routerIds.length;
  }
  // PUBLISHED says "stored": a run that stores nothing (dry run, --output, offline) reports the event transformed.
  const outcome = !stored && r.outcome === Outcome.PUBLISHED ? "transformed" : outcomeName(r.outcome);
  return { outcome, name: r.name, reason: r.reason, statements, stored: stored ? messages : 0, duplicates };
}

export function invalidLine(reason: string): LineOutcome {
  return { outcome: "invalid", name: "", reason, statements: 0, stored: 0 };
}
