/**
 * Bookkeeping for the fault suite: what the service ACKNOWLEDGED, and the exact accounting against what arrived.
 *
 * - `faultEvents` makes distinct Open edX events (unique raw timestamps, so unique statement ids) for one scenario,
 *   with the scenario in the course id so a router's match_params can select them.
 * - `LoadGenerator` sends them with EmitBatch (or Emit) and behaves like a careful client: a call that fails (Unavailable, a
 *   dead connection) is retried with the same events, which is safe because statement ids de-duplicate. An OK
 *   answer acknowledges an event that is PUBLISHED to the router; on a retried call DUPLICATE acknowledges it too,
 *   as the contract says (the failed attempt may have stored it before its answer was lost), while a DUPLICATE on a
 *   first attempt is a failure (these events are new). Every call is logged with its times and code, so a test can
 *   check what the service answered during an outage.
 * - `countFaults` is the accounting: lost = acknowledged − (delivered ∪ failed ∪ dropped) must be empty; duplicates
 *   (received more than once) and unexpected (received but never acknowledged) are reported.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { appendFileSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { EventInputSchema, Outcome } from "../../gen/eventrouting/v1/event_pb.js";
import type { EventRoutingService } from "../../gen/eventrouting/v1/event_routing_service_pb.js";
import { authed } from "./service-process.js";

export const CRITICAL_EVENT = "edx.course.enrollment.activated";
export const ORDINARY_EVENT = "edx.course.enrollment.mode_changed";

export interface FaultEvent {
  readonly name: string;
  readonly json: string;
}

/** `n` distinct enrollment events, numbered from `offset`; every `criticalEvery`-th is critical (0: none). */
export function faultEvents(scenario: string, n: number, opts: { criticalEvery?: number; offset?: number } = {}): FaultEvent[] {
  const courseId = `course-v1:Fault+${scenario}+2026`;
  // A base time per scenario so two scenarios never share a raw timestamp (and so a statement id).
  let h = 0;
  for (const c of scenario) h = (h * 31 + c.charCodeAt(0)) % 10_000;
  const base = Date.UTC(2026, 0, 1) + h * 86_400_000;
  return Array.from({ length: n }, (_, k) => {
    const i = k + (opts.offset ?? 0);
    const critical = opts.criticalEvery ? i % opts.criticalEvery === 0 : false;
    const name = critical ? CRITICAL_EVENT : ORDINARY_EVENT;
    const user = 1000 + (i % 97);
    const timestamp = `${new Date(base + i * 1000).toISOString().slice(0, 19)}.${String(i % 1_000_000).padStart(6, "0")}+00:00`;
    const event = {
      name,
      timestamp,
      context: {
        course_id: courseId,
        org_id: "Fault",
        user_id: user,
        username: `learner${user}`,
        path: "/change_enrollment",
        host: "localhost:18000",
      },
      data: { course_id: courseId, mode: "audit", user_id: user },
    };
    return { name, json: JSON.stringify(event) };
  });
}

/** match_params selecting one scenario's events. */
export function scenarioMatch(scenario: string) {
  return [{ path: "context.course_id", patterns: [`\\+${scenario}\\+`] }];
}

export interface CallRecord {
  readonly start: number;
  readonly end: number;
  /** "OK" or the Connect code name. */
  readonly code: string;
  readonly events: number;
}

export interface LoadOptions {
  /** The client of the service incarnation to call now (it changes when the service restarts). */
  readonly client: () => Client<typeof EventRoutingService>;
  readonly events: readonly FaultEvent[];
  readonly batchSize: number;
  /** Calls in flight at once. */
  readonly concurrency?: number;
  /** Router every statement must be routed to. */
  readonly routerId: string;
  /** Give up (and fail the test) after this long. */
  readonly deadlineMs: number;
  /** Deadline of one call. */
  readonly callTimeoutMs?: number;
  /** Send each event with Emit instead of EmitBatch. */
  readonly single?: boolean;
  /** Each worker waits this long after an acknowledged call, so the load lasts long enough to be interrupted. */
  readonly pauseMs?: number;
}

const FIRST_ATTEMPT = new Set([Outcome.PUBLISHED]);
const RETRIED = new Set([Outcome.PUBLISHED, Outcome.DUPLICATE]);

/**
 * The outcomes that mean "stored for the router". DUPLICATE means JetStream already held every statement under its
 * id: on a retry that is the earlier, unanswered attempt's store (the README: treat it like PUBLISHED); on a first
 * attempt of events that were never sent it would be a false answer.
 */
export function storedOutcomes(attempt: number): ReadonlySet<Outcome> {
  return attempt > 1 ? RETRIED : FIRST_ATTEMPT;
}

export class LoadGenerator {
  /** statement id -> event name, for every statement of an acknowledged call. */
  readonly acknowledged = new Map<string, string>();
  readonly calls: CallRecord[] = [];
  /** A false OK would show up here: an OK answer whose event was not PUBLISHED to the router. */
  readonly notPublished: string[] = [];
  private readonly waiters: Array<{ n: number; resolve: () => void }> = [];
  private done = false;
  readonly finished: Promise<void>;

  constructor(private readonly opts: LoadOptions) {
    this.finished = this.run();
    this.finished
      .catch(() => {})
      .finally(() => {
        this.done = true;
        for (const w of this.waiters.splice(0)) w.resolve();
      });
  }

  static start(opts: LoadOptions): LoadGenerator {
    return new LoadGenerator(opts);
  }

  /** Resolves once at least `n` statements are acknowledged (or the load ended). */
  whenAcknowledged(n: number): Promise<void> {
    if (this.acknowledged.size >= n || this.done) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  /** Calls answered with `code` ("OK", "Unavailable", ...). */
  count(code: string): number {
    return this.calls.filter((c) => c.code === code).length;
  }

  /** Codes of the calls that started and ended inside [from, to]. */
  codesWithin(from: number, to: number): Map<string, number> {
    const out = new Map<string, number>();
    for (const c of this.calls) if (c.start >= from && c.end <= to) out.set(c.code, (out.get(c.code) ?? 0) + 1);
    return out;
  }

  private async run(): Promise<void> {
    const { events } = this.opts;
    const batchSize = this.opts.single ? 1 : this.opts.batchSize;
    const batches: FaultEvent[][] = [];
    for (let i = 0; i < events.length; i += batchSize) batches.push(events.slice(i, i + batchSize));
    let next = 0;
    const deadline = Date.now() + this.opts.deadlineMs;
    const worker = async () => {
      while (next < batches.length) {
        const batch = batches[next++]!;
        await this.sendUntilAcknowledged(batch, deadline);
        if (this.opts.pauseMs) await sleep(this.opts.pauseMs);
      }
    };
    await Promise.all(Array.from({ length: this.opts.concurrency ?? 1 }, worker));
  }

  private async sendUntilAcknowledged(batch: FaultEvent[], deadline: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (Date.now() > deadline)
        throw new Error(`load: a batch was not acknowledged within ${this.opts.deadlineMs} ms (${this.summary()})`);
      const start = Date.now();
      try {
        const inputs = batch.map((e) => create(EventInputSchema, { event: { case: "json", value: e.json } }));
        const callOpts = { ...authed, timeoutMs: this.opts.callTimeoutMs ?? 10_000 };
        const client = this.opts.client();
        const res = this.opts.single
          ? { results: [(await client.emit({ event: inputs[0]! }, callOpts)).result!] }
          : await client.emitBatch({ events: inputs }, callOpts);
        this.calls.push({ start, end: Date.now(), code: "OK", events: batch.length });
        for (const r of res.results) {
          const stored = storedOutcomes(attempt);
          const b = r.backends.find((x) => stored.has(x.outcome) && x.routerIds.includes(this.opts.routerId));
          if (!stored.has(r.outcome) || !b || b.statementIds.length === 0) {
            this.notPublished.push(`${r.name}: ${Outcome[r.outcome]} ${r.reason}${attempt > 1 ? ` (attempt ${attempt})` : ""}`);
            continue;
          }
          for (const id of b.statementIds) this.acknowledged.set(id, r.name);
        }
        for (const w of [...this.waiters]) {
          if (this.acknowledged.size >= w.n) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve();
          }
        }
        return;
      } catch (e) {
        const code = e instanceof ConnectError ? Code[e.code] : "NotConnect";
        this.calls.push({ start, end: Date.now(), code: code ?? "Unknown", events: batch.length });
        // A careful client: back off a little and send the same events again (ids de-duplicate).
        await sleep(100);
      }
    }
  }

  summary(): string {
    const codes = new Map<string, number>();
    for (const c of this.calls) codes.set(c.code, (codes.get(c.code) ?? 0) + 1);
    return `acknowledged ${this.acknowledged.size}, calls ${[...codes].map(([k, v]) => `${k} ${v}`).join(", ")}`;
  }
}

export interface FaultCounts {
  readonly acknowledged: number;
  /** Acknowledged statements the endpoint stored at least once. */
  readonly delivered: number;
  /** Acknowledged statements in the failed stream (and not delivered). */
  readonly failed: number;
  /** Acknowledged statements the service logged as dropped by policy (and not delivered). */
  readonly dropped: number;
  readonly lost: number;
  /** Statements stored more than once. */
  readonly duplicates: number;
  /** Statements stored that were never acknowledged. */
  readonly unexpected: number;
  readonly lostIds: readonly string[];
  readonly unexpectedIds: readonly string[];
}

export function countFaults(
  acknowledged: Iterable<string>,
  received: ReadonlyMap<string, number>,
  failed: ReadonlySet<string> = new Set(),
  dropped: ReadonlySet<string> = new Set(),
): FaultCounts {
  const ack = new Set(acknowledged);
  let delivered = 0;
  let inFailed = 0;
  let inDropped = 0;
  const lostIds: string[] = [];
  for (const id of ack) {
    if (received.has(id)) delivered++;
    else if (failed.has(id)) inFailed++;
    else if (dropped.has(id)) inDropped++;
    else lostIds.push(id);
  }
  const unexpectedIds = [...received.keys()].filter((id) => !ack.has(id));
  const duplicates = [...received.values()].filter((n) => n > 1).length;
  return {
    acknowledged: ack.size,
    delivered,
    failed: inFailed,
    dropped: inDropped,
    lost: lostIds.length,
    duplicates,
    unexpected: unexpectedIds.length,
    lostIds,
    unexpectedIds,
  };
}

/**
 * The one line per scenario that docs/reliability.md quotes. Also appended to $FAULT_SUMMARY_FILE when set, so a
 * run's lines can be collected from the parallel test processes.
 */
export function summaryLine(scenario: string, c: FaultCounts, extra = ""): string {
  const line =
    `fault ${scenario}: acknowledged ${c.acknowledged}, delivered ${c.delivered}, failed ${c.failed}, dropped ${c.dropped}, ` +
    `lost ${c.lost}, duplicates ${c.duplicates}, unexpected ${c.unexpected}${extra ? `; ${extra}` : ""}`;
  const file = process.env["FAULT_SUMMARY_FILE"];
  if (file) appendFileSync(file, `${line}\n`);
  return line;
}
