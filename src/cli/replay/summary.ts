/**
 * The run's counts: lines read, events by outcome, statements produced and stored, skips by reason and events by
 * name (with their outcomes). A pure tally fed with committed lines; rendered as text for people and as JSON
 * (`--json`) for scripts. Event names and skip reasons are bounded (MAX_KEYS each, the rest under OTHER): tracking
 * logs hold browser events named by URL, and a years-long backfill must not grow the tally without limit.
 */
import type { LineOutcome } from "./line-outcome.js";

export interface SummaryData {
  lines: number;
  blank: number;
  events: number;
  statements: number;
  stored: number;
  duplicates: number;
  outcomes: Record<string, number>;
  skippedReasons: Record<string, number>;
  byEvent: Record<string, Record<string, number>>;
}

export const MAX_KEYS = 1000;
export const OTHER = "(other)";

const bump = (m: Record<string, number>, key: string, by = 1) => {
  m[key] = (m[key] ?? 0) + by;
};

/** The key itself while there is room (or it is already there), else OTHER. */
function bounded(m: Record<string, unknown>, key: string, size: { n: number }): string {
  if (key in m) return key;
  if (size.n >= MAX_KEYS) return OTHER;
  size.n += 1;
  return key;
}

export class Tally {
  private readonly reasonKeys = { n: 0 };
  private readonly eventKeys = { n: 0 };

  readonly data: SummaryData = {
    lines: 0,
    blank: 0,
    events: 0,
    statements: 0,
    stored: 0,
    duplicates: 0,
    outcomes: {},
    skippedReasons: {},
    byEvent: {},
  };

  add(outcome: LineOutcome | undefined): void {
    const d = this.data;
    d.lines += 1;
    if (outcome === undefined) {
      d.blank += 1;
      return;
    }
    d.events += 1;
    d.statements += outcome.statements;
    d.stored += outcome.stored;
    d.duplicates += outcome.duplicates ?? 0;
    bump(d.outcomes, outcome.outcome);
    if (outcome.outcome === "skipped") {
      bump(d.skippedReasons, bounded(d.skippedReasons, outcome.reason || "(no reason)", this.reasonKeys));
    }
    if (outcome.name !== "") {
      const key = bounded(d.byEvent, outcome.name, this.eventKeys);
      d.byEvent[key] ??= {};
      bump(d.byEvent[key], outcome.outcome);
    }
  }

  count(outcome: string): number {
    return this.data.outcomes[outcome] ?? 0;
  }
}

export interface RunInfo {
  readonly mode: "emit" | "dry-run" | "offline";
  readonly interrupted: boolean;
  readonly error?: string | undefined;
  readonly seconds: number;
  readonly inputs: ReadonlyArray<{ path: string; note: string }>;
  /** Where the resume state is kept, when there is one. */
  readonly checkpoint?: string | undefined;
}

export function summaryJson(t: Tally, run: RunInfo): string {
  return `${JSON.stringify({ ...run, ...t.data, linesPerSecond: Math.round(t.data.lines / Math.max(run.seconds, 1e-3)) })}\n`;
}

const sortedEntries = (m: Record<string, number>) => Object.entries(m).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));

export function summaryText(t: Tally, run: RunInfo): string {
  const d = t.data;
  const rate = Math.round(d.lines / Math.max(run.seconds, 1e-3));
  const out: string[] = [];
  const state = run.error
    ? `stopped by an error: ${run.error}`
    : run.interrupted
      ? "interrupted (re-run to continue from the checkpoint)"
      : "done";
  const mode = run.mode === "emit" ? "" : `, ${run.mode}: nothing stored`;
  out.push(`replay ${state}: ${d.lines} lines in ${run.seconds.toFixed(1)} s (${rate} lines/s)${mode}`);
  if (run.checkpoint) out.push(`  checkpoint: ${run.checkpoint}`);
  const stored = run.mode === "emit" ? `, stored ${d.stored} (one per statement per router)` : "";
  out.push(`  events ${d.events}, blank lines ${d.blank}, statements ${d.statements}${stored}`);
  if (d.duplicates > 0) out.push(`  statements already stored (sent before, not stored again): ${d.duplicates}`);
  out.push(
    `  by outcome: ${
      sortedEntries(d.outcomes)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ") || "none"
    }`,
  );
  for (const [reason, n] of sortedEntries(d.skippedReasons)) out.push(`    skipped: ${reason}: ${n}`);
  out.push("  by event:");
  const events = Object.entries(d.byEvent).sort((a, b) => a[0].localeCompare(b[0]));
  for (const [name, m] of events)
    out.push(
      `    ${name}: ${sortedEntries(m)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")}`,
    );
  return `${out.join("\n")}\n`;
}
