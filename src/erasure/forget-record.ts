/**
 * One forget as stored under `f.<forget id>` in the forgotten bucket: while it runs, its progress (which stream,
 * up to where, the deletes it decided on) so any instance can resume it after a restart; once done, its audit
 * record. The learner's hashes are kept only while it runs (the scan needs them after a restart) and removed when
 * it is done, so the audit record holds no identifier, hashed or not. Pure: the record and its changes.
 */

/** Statements removed for one router, per stream. */
export interface RouterCounts {
  readonly delivery: number;
  readonly failed: number;
}

/** Which stream is being scanned: the failed stream first (RetryFailed moves its entries to the delivery stream). */
export type ForgetPhase = "failed" | "delivery" | "done";

export interface ForgetRecord {
  readonly id: string;
  readonly requestedAt: string;
  readonly completedAt?: string;
  readonly requestedBy: string;
  readonly identityRecordsDeleted: number;
  readonly phase: ForgetPhase;
  /** Next stream sequence to read in the phase's stream; 0 = the phase has not started. */
  readonly nextSeq: number;
  /** Last sequence to read in the phase's stream. */
  readonly bound: number;
  /** The delivery stream's bound was read again once events in flight at the request had settled. */
  readonly settled: boolean;
  readonly routers: Readonly<Record<string, RouterCounts>>;
  readonly scanned: number;
  readonly toScan: number;
  /** While running: the learner's keyed hashes (the scan's test), and deletes decided but maybe not yet done. */
  readonly hashes?: readonly string[];
  readonly pending?: { readonly phase: "failed" | "delivery"; readonly seqs: readonly number[] };
  /** The instance scanning it and until when its claim holds (ms since the epoch); 0 = released. */
  readonly owner?: string;
  readonly leaseUntil?: number;
}

export const FORGET_PREFIX = "f.";

/** Sortable by time (newest last as text), unique enough across instances, a valid KV key token. */
export function newForgetId(now: Date, random: string): string {
  return `${now.toISOString().replace(/[-:.TZ]/g, "")}-${random}`;
}

export function isRunning(r: ForgetRecord): boolean {
  return r.phase !== "done";
}

/** Adds removed statements to the router counts. */
export function withCounts(r: ForgetRecord, phase: "failed" | "delivery", byRouter: ReadonlyMap<string, number>): ForgetRecord {
  if (byRouter.size === 0) return r;
  const routers: Record<string, RouterCounts> = { ...r.routers };
  for (const [id, n] of byRouter) {
    const c = routers[id] ?? { delivery: 0, failed: 0 };
    routers[id] = phase === "failed" ? { ...c, failed: c.failed + n } : { ...c, delivery: c.delivery + n };
  }
  return { ...r, routers };
}

/** The audit record: done, with no hashes, pending deletes or claim left. */
export function completed(r: ForgetRecord, at: Date): ForgetRecord {
  const { hashes: _h, pending: _p, owner: _o, leaseUntil: _l, ...rest } = r;
  return { ...rest, phase: "done", completedAt: at.toISOString() };
}

/** Statements of every router, per stream. */
export function totals(r: ForgetRecord): RouterCounts {
  let delivery = 0;
  let failed = 0;
  for (const c of Object.values(r.routers)) {
    delivery += c.delivery;
    failed += c.failed;
  }
  return { delivery, failed };
}

/** What no forget reaches; said in every answer and in docs/privacy.md. */
export const OUT_OF_REACH: readonly string[] = [
  "statements already delivered to an LRS or Caliper endpoint: erase them there (docs/privacy.md)",
  "statement log lines already written (XAPI_STATEMENT_LOG, CALIPER_STATEMENT_LOG) and what log shippers took from them",
  "malformed input kept in the rejected stream (30 days; ListRejected finds it, PurgeRejected removes it)",
  "backups of NATS or of an LRS",
];
