/**
 * Reconcile: prove what arrived. For one xAPI router, every statement stored for it in [since, until) (read back
 * from the delivery stream, stored-window.ts) is looked up in its LRS by id (http/xapi-lookup.ts), a bounded
 * number at a time, and counted as found, missing (404), pending (404, but the router's consumer has not
 * acknowledged it yet: still being delivered) or unknown (the LRS did not answer clearly). With `resend`, each
 * missing statement is stored again for delivery from its copy in the stream: same subject, same Er-* headers,
 * same statement id (so the LRS keeps it once), a fresh attempt count, and the msg id
 * `<router>:<statement>:reconcile:<run>`: the original's msg id would be swallowed as a duplicate inside
 * DELIVERY_DUPLICATE_WINDOW_HOURS, and one run per call keeps a second call able to resend again.
 *
 * Memory is bounded whatever the window: one pull batch of headers, `concurrency` look-ups, one resend batch, and
 * the ids listed in the report (capped: MAX_LISTED_MISSING, MAX_LISTED_UNKNOWN). Progress is yielded about every
 * PROGRESS_EVERY_MS, then the report as the last update.
 */
import { setMaxListeners } from "node:events";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { CanceledError, UnavailableError } from "../../errors.js";
import { isConsumerNotFound } from "../../nats/jetstream-errors.js";
import type { JetStreamMessage, JetStreamWriter } from "../../nats/jetstream-writer.js";
import type { NatsNames } from "../../nats/names.js";
import type { RouterConfig } from "../../routing/router-model.js";
import { createStatementLookup, type LookupResult, type StatementLookup } from "../http/xapi-lookup.js";
import { HDR_ATTEMPTS_SPENT, HDR_STORED_TIME } from "../worker/requeue.js";
import { clipWindow, storedStatements, type StoredStatementRef } from "./stored-window.js";

export const MAX_LISTED_MISSING = 10_000;
export const MAX_LISTED_UNKNOWN = 1000;
const MAX_REASONS = 10;
const PROGRESS_EVERY_MS = 500;
/** Missing statements re-published per JetStream round trip. */
const RESEND_BATCH = 100;

export interface ReconcileCounts {
  checked: number;
  found: number;
  missing: number;
  pending: number;
  unknown: number;
}

export interface ReconcileProgress extends ReconcileCounts {
  /** Statements to check, estimated at the start (0 until known). */
  total: number;
}

export interface ReconcileReport extends ReconcileCounts {
  readonly routerId: string;
  readonly since: Date;
  readonly until: Date;
  readonly clipReason: string | undefined;
  readonly missingIds: string[];
  missingIdsTruncated: boolean;
  readonly unknownIds: string[];
  readonly unknownReasons: string[];
  resent: number;
  elapsedMs: number;
}

export type ReconcileUpdate =
  | { readonly kind: "progress"; readonly progress: ReconcileProgress }
  | { readonly kind: "report"; readonly report: ReconcileReport };

export interface ReconcileDeps {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly writer: JetStreamWriter;
  readonly names: NatsNames;
}

export interface ReconcileRequest {
  readonly router: RouterConfig;
  /** Each look-up's timeout: the router's http_timeout. */
  readonly timeoutMs: number;
  readonly since: Date;
  readonly until: Date;
  readonly resend: boolean;
  readonly concurrency: number;
  /** The call's signal: a client that goes away stops the run between look-ups. */
  readonly signal?: AbortSignal;
  readonly now?: Date;
}

/** Runs one reconcile: progress updates, then the report. Throws UnavailableError when NATS fails it. */
export async function* reconcile(deps: ReconcileDeps, req: ReconcileRequest): AsyncGenerator<ReconcileUpdate> {
  const bounds = await clipWindow(deps.jsm, deps.names, req.since, req.until, req.now ?? new Date()).catch((e: unknown) => {
    throw new UnavailableError(`cannot read the delivery stream: ${(e as Error).message}`);
  });
  const run = new ReconcileRun(deps, req, bounds);
  try {
    yield* run.walk();
    yield { kind: "report", report: run.finish() };
  } finally {
    run.close();
  }
}

class ReconcileRun {
  private readonly started = performance.now();
  private readonly runId = Date.now().toString(36);
  private readonly report: ReconcileReport;
  private total = 0;
  private ackFloor = Number.POSITIVE_INFINITY;
  private readonly inFlight = new Set<Promise<void>>();
  private toResend: StoredStatementRef[] = [];
  private resending: Promise<void> = Promise.resolve();
  private resendError: unknown;
  private readonly lookup: StatementLookup;
  /** Aborted with the call: every look-up in flight listens to it (one listener each, hence the raised limit). */
  private readonly stop = new AbortController();

  constructor(
    private readonly deps: ReconcileDeps,
    private readonly req: ReconcileRequest,
    bounds: { since: Date; until: Date; clipReason?: string },
  ) {
    this.lookup = createStatementLookup(req.router, { timeoutMs: req.timeoutMs, sockets: req.concurrency });
    setMaxListeners(req.concurrency + 10, this.stop.signal);
    req.signal?.addEventListener("abort", () => this.stop.abort(), { once: true });
    this.report = {
      routerId: req.router.id,
      since: bounds.since,
      until: bounds.until,
      clipReason: bounds.clipReason,
      checked: 0,
      found: 0,
      missing: 0,
      pending: 0,
      unknown: 0,
      missingIds: [],
      missingIdsTruncated: false,
      unknownIds: [],
      unknownReasons: [],
      resent: 0,
      elapsedMs: 0,
    };
  }

  async *walk(): AsyncGenerator<ReconcileUpdate> {
    const { js, names } = this.deps;
    const { router } = this.req;
    this.ackFloor = await this.readAckFloor();
    let lastProgress = performance.now();
    const refs = storedStatements(js, names, router, this.report, (n) => (this.total = n));
    for await (const ref of this.nats("read the delivery stream", refs)) {
      this.throwIfStopped();
      while (this.inFlight.size >= this.req.concurrency) await Promise.race(this.inFlight);
      const p = this.check(ref).finally(() => this.inFlight.delete(p));
      this.inFlight.add(p);
      if (performance.now() - lastProgress >= PROGRESS_EVERY_MS) {
        lastProgress = performance.now();
        yield { kind: "progress", progress: this.progress() };
      }
    }
    await Promise.all(this.inFlight);
    this.throwIfStopped();
    this.flushResends();
    await this.resending;
    if (this.resendError !== undefined) throw this.resendError;
  }

  private throwIfStopped(): void {
    if (this.req.signal?.aborted)
      throw new CanceledError(`reconcile stopped after ${this.report.checked} statements: the call was cancelled`);
    if (this.resendError !== undefined) throw this.resendError;
  }

  close(): void {
    this.stop.abort();
    this.lookup.close();
  }

  finish(): ReconcileReport {
    this.report.elapsedMs = performance.now() - this.started;
    return this.report;
  }

  private progress(): ReconcileProgress {
    const { checked, found, missing, pending, unknown } = this.report;
    return { checked, found, missing, pending, unknown, total: Math.max(this.total, checked) };
  }

  /** The router consumer's acknowledged floor: statements after it may still be on their way to the LRS. */
  private async readAckFloor(): Promise<number> {
    const { jsm, names } = this.deps;
    const { router } = this.req;
    try {
      const ci = await jsm.consumers.info(names.deliveryStream, names.deliveryConsumer(router.id, router.incarnation));
      return ci.ack_floor.stream_seq;
    } catch (e) {
      // No consumer: nothing is being delivered for the router, so every statement has had its chance.
      if (isConsumerNotFound(e)) return Number.POSITIVE_INFINITY;
      throw new UnavailableError(`cannot read the router's delivery consumer: ${(e as Error).message}`);
    }
  }

  /** Never rejects: a look-up only throws when the call was cancelled, which the walk reports itself. */
  private async check(ref: StoredStatementRef): Promise<void> {
    try {
      this.count(ref, await this.lookup.lookup(ref.statementId, this.stop.signal));
    } catch {
      // cancelled: not counted
    }
  }

  private count(ref: StoredStatementRef, result: LookupResult): void {
    const r = this.report;
    r.checked++;
    if (result.kind === "found") r.found++;
    else if (result.kind === "unknown") {
      r.unknown++;
      if (r.unknownIds.length < MAX_LISTED_UNKNOWN) r.unknownIds.push(ref.statementId);
      if (r.unknownReasons.length < MAX_REASONS && !r.unknownReasons.includes(result.reason)) r.unknownReasons.push(result.reason);
    } else if (ref.seq > this.ackFloor) r.pending++;
    else {
      r.missing++;
      if (r.missingIds.length < MAX_LISTED_MISSING) r.missingIds.push(ref.statementId);
      else r.missingIdsTruncated = true;
      if (this.req.resend) {
        this.toResend.push(ref);
        if (this.toResend.length >= RESEND_BATCH) this.flushResends();
      }
    }
  }

  /** Resends one batch after the one before (in order, one round trip each); a failure fails the run. */
  private flushResends(): void {
    if (this.toResend.length === 0) return;
    const batch = this.toResend;
    this.toResend = [];
    // Caught here and rethrown by the walk: a rejection waiting for the end would be an unhandled one.
    this.resending = this.resending
      .then(() => (this.resendError === undefined ? this.resend(batch) : undefined))
      .catch((e: unknown) => {
        this.resendError ??= e;
      });
  }

  private async resend(batch: readonly StoredStatementRef[]): Promise<void> {
    const { jsm, names, writer } = this.deps;
    const messages: JetStreamMessage[] = [];
    for (const ref of batch) {
      const m = await this.nats("read a missing statement from the delivery stream", () =>
        jsm.direct.getMessage(names.deliveryStream, { seq: ref.seq }),
      );
      // Gone since it was read (aged out under the run): nothing left to resend it from.
      if (!m) continue;
      const h = natsHeaders();
      for (const [k, values] of m.header ?? [])
        if (!k.startsWith("Nats-") && k !== HDR_ATTEMPTS_SPENT && k !== HDR_STORED_TIME) for (const v of values) h.append(k, v);
      const { router } = this.req;
      const msgId = `${names.deliveryMsgId(router.id, ref.statementId, router.incarnation)}:reconcile:${this.runId}`;
      messages.push({ subject: m.subject, body: m.data, msgId, headers: h });
    }
    await writer.publish(messages, {
      stream: names.deliveryStream,
      what: "resends",
      advice: `${this.report.resent} resent before this; calling again resends what is still missing`,
    });
    this.report.resent += messages.length;
  }

  private nats<T>(what: string, f: () => Promise<T>): Promise<T>;
  private nats<T>(what: string, f: AsyncIterable<T>): AsyncIterable<T>;
  private nats<T>(what: string, f: (() => Promise<T>) | AsyncIterable<T>): Promise<T> | AsyncIterable<T> {
    const fail = (e: unknown): never => {
      if (e instanceof CanceledError || e instanceof UnavailableError) throw e;
      throw new UnavailableError(`cannot ${what}: ${(e as Error).message}`);
    };
    if (typeof f === "function") return f().catch(fail);
    return (async function* () {
      try {
        yield* f;
      } catch (e) {
        fail(e);
      }
    })();
  }
}
