/**
 * Runs forgets: scans the failed stream, then the delivery stream, for the learner's statements and deletes them,
 * saving progress in the forget record (forget-record.ts) so a restart resumes where the last save left off.
 *
 * Order. The failed stream first: RetryFailed moves failed entries into the delivery stream, so one moved during
 * the scan is still found there. The delivery stream's bound is read again once the events that were in flight
 * when the tombstone was written have settled (an Emit on another instance may have passed the check a moment
 * before the tombstone reached it, and it publishes within PUBLISH_TIMEOUT_MS); the workers drop anything later.
 *
 * Exactness after a crash. The deletes of a batch are saved as `pending` (and counted) BEFORE they are made, so a
 * resumed run makes them again (a delete of a sequence already gone is a no-op) and no count is lost or doubled.
 *
 * Claims. The instance that takes the request scans; its claim (owner, leaseUntil) is renewed with every save.
 * Every instance looks for running forgets whose claim lapsed (a crash) or was released (a graceful stop) and takes
 * one over with a compare-and-set write, so a restart, of this instance or another, finishes the forget.
 */
import type { JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { sleep } from "../backoff.js";
import type { LearnerHasher } from "../directory/learner-hash.js";
import type { NatsNames } from "../nats/names.js";
import { completed, isRunning, withCounts, type ForgetRecord } from "./forget-record.js";
import { LostClaimError, type ForgetStore, type Revisioned } from "./forget-store.js";
import { messageLearnerHashes } from "./learner-gate.js";
import { deleteMatches, StreamScanner, type Match } from "./stream-scan.js";

export interface ForgetRunnerDeps {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly names: NatsNames;
  readonly store: ForgetStore;
  readonly hasher: LearnerHasher;
  /** Stores tombstones (idempotent): a run writes its learner's first, in case the request died before it did. */
  readonly addTombstones: (hashes: readonly string[], forgetId: string) => Promise<void>;
  readonly logger: Logger;
  /** This instance, as the owner of its claims. */
  readonly instanceId: string;
  /** FORGET_SCAN_RATE: messages read per second at most; 0 = as fast as NATS answers. */
  readonly scanRate: number;
  /** How long after the request events in flight may still be stored (default SETTLE_MS). */
  readonly settleMs?: number;
  /** How long a claim holds without a save (default LEASE_MS). */
  readonly leaseMs?: number;
  /** How often lapsed claims are looked for (default RESUME_EVERY_MS). */
  readonly resumeEveryMs?: number;
}

/** The emit path's publish timeout (5 s) plus the tombstone watch's latency, with room. */
export const SETTLE_MS = 7_000;
export const LEASE_MS = 15_000;
export const RESUME_EVERY_MS = 5_000;
/** Progress is saved at least this often while a scan runs (renewing the claim). */
const SAVE_EVERY_MS = 1_000;

type Phase = "failed" | "delivery";

export class ForgetRunner {
  readonly #runs = new Map<string, Promise<void>>();
  readonly #stopping = new AbortController();
  #resumeLoop: Promise<void> | undefined;

  constructor(private readonly deps: ForgetRunnerDeps) {}

  /** Starts looking for forgets to resume (at once, then every resumeEveryMs). */
  start(): void {
    this.#resumeLoop = this.#resumeForever();
  }

  /** Scans a forget this instance has claimed, in the background. */
  run(claimed: Revisioned): void {
    const id = claimed.record.id;
    if (this.#runs.has(id) || this.#stopping.signal.aborted) return;
    const p = this.#execute(claimed)
      .catch((err) => {
        if (err instanceof LostClaimError) this.deps.logger.warn({ forgetId: id }, err.message);
        else this.deps.logger.error({ forgetId: id, err }, "forget scan stopped; another instance or a restart resumes it");
      })
      .finally(() => this.#runs.delete(id));
    this.#runs.set(id, p);
  }

  /** Resolves true when this instance's run of the forget ended within `ms`, false when it still runs. */
  async waitLocal(id: string, ms: number): Promise<boolean> {
    const run = this.#runs.get(id);
    if (run === undefined) return true;
    let t: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((r) => (t = setTimeout(() => r(false), ms)));
    const ended = await Promise.race([run.then(() => true as const), timeout]);
    clearTimeout(t);
    return ended;
  }

  /** Stops scanning; every run saves its progress and releases its claim. */
  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.#resumeLoop;
    await Promise.all(this.#runs.values());
  }

  async #resumeForever(): Promise<void> {
    const signal = this.#stopping.signal;
    while (!signal.aborted) {
      try {
        await this.#resumeLapsed();
      } catch (err) {
        this.deps.logger.warn({ err }, "cannot look for forgets to resume; trying again later");
      }
      await sleep(this.deps.resumeEveryMs ?? RESUME_EVERY_MS, signal);
    }
  }

  async #resumeLapsed(): Promise<void> {
    for (const r of await this.deps.store.list()) {
      if (!isRunning(r) || this.#runs.has(r.id) || (r.leaseUntil ?? 0) > Date.now()) continue;
      const current = await this.deps.store.get(r.id);
      if (current === undefined || !isRunning(current.record) || (current.record.leaseUntil ?? 0) > Date.now()) continue;
      try {
        const revision = await this.deps.store.save(this.#claimed(current.record), current.revision);
        this.deps.logger.info({ forgetId: r.id, phase: r.phase }, "resuming a forget whose scan had stopped");
        this.run({ record: current.record, revision });
      } catch (e) {
        if (!(e instanceof LostClaimError)) throw e;
      }
    }
  }

  #claimed(r: ForgetRecord, release = false): ForgetRecord {
    return { ...r, owner: this.deps.instanceId, leaseUntil: release ? 0 : Date.now() + (this.deps.leaseMs ?? LEASE_MS) };
  }

  async #execute(claimed: Revisioned): Promise<void> {
    const job = new ForgetJob(this.deps, claimed, (r, release) => this.#claimed(r, release), this.#stopping.signal);
    await job.run();
  }
}

/** One run of one forget: the state a scan carries between saves. */
class ForgetJob {
  #record: ForgetRecord;
  #revision: number;
  #lastSave = Date.now();
  readonly #hashes: ReadonlySet<string>;
  readonly #test: (m: JsMsg) => boolean;

  constructor(
    private readonly deps: ForgetRunnerDeps,
    claimed: Revisioned,
    private readonly claim: (r: ForgetRecord, release?: boolean) => ForgetRecord,
    private readonly signal: AbortSignal,
  ) {
    this.#record = claimed.record;
    this.#revision = claimed.revision;
    this.#hashes = new Set(claimed.record.hashes ?? []);
    this.#test = (m) => messageLearnerHashes(m.headers, m.data, deps.hasher).some((h) => this.#hashes.has(h));
  }

  async run(): Promise<void> {
    if (this.#hashes.size > 0) await this.deps.addTombstones([...this.#hashes], this.#record.id);
    await this.#redoPending();
    while (this.#record.phase !== "done") {
      if (this.signal.aborted) return await this.#save(true);
      const phase = this.#record.phase;
      if (this.#record.nextSeq === 0) await this.#beginPhase(phase);
      if (!(await this.#scanToBound(phase))) return await this.#save(true);
      if (phase === "delivery" && !this.#record.settled) {
        await this.#settle();
        continue;
      }
      const next =
        phase === "failed" ? { ...this.#record, phase: "delivery" as const, nextSeq: 0, bound: 0 } : completed(this.#record, new Date());
      this.#record = next;
      await this.#save();
    }
    this.deps.logger.info(
      { forgetId: this.#record.id, routers: this.#record.routers, scanned: this.#record.scanned },
      "learner forgotten: their statements are removed from the delivery and failed streams",
    );
  }

  #streamOf(phase: Phase): string {
    return phase === "failed" ? this.deps.names.failedStream : this.deps.names.deliveryStream;
  }

  /** Deletes decided before a restart are made again (a no-op for those that were made). */
  async #redoPending(): Promise<void> {
    const pending = this.#record.pending;
    if (pending === undefined) return;
    await deleteMatches(
      this.deps.jsm,
      this.#streamOf(pending.phase),
      pending.seqs.map((seq) => ({ seq, routerId: "" })),
    );
    const { pending: _, ...rest } = this.#record;
    this.#record = rest;
  }

  async #beginPhase(phase: Phase): Promise<void> {
    const { state } = await this.deps.jsm.streams.info(this.#streamOf(phase));
    this.#record = {
      ...this.#record,
      nextSeq: Math.max(1, state.first_seq),
      bound: state.last_seq,
      toScan: this.#record.toScan + state.messages,
    };
    await this.#save();
  }

  /** Reads up to the bound; false when stopped first. */
  async #scanToBound(phase: Phase): Promise<boolean> {
    const stream = this.#streamOf(phase);
    const scanner = new StreamScanner(this.deps.js, stream, this.#record.nextSeq, this.#record.bound, this.#test);
    const started = Date.now();
    let read = 0;
    for (;;) {
      if (this.signal.aborted) return false;
      const batch = await scanner.next();
      read += batch.read;
      this.#record = { ...this.#record, nextSeq: batch.nextSeq, scanned: this.#record.scanned + batch.read };
      if (batch.matches.length > 0) await this.#remove(phase, stream, batch.matches);
      else if (Date.now() - this.#lastSave >= SAVE_EVERY_MS) await this.#save();
      if (batch.done) return true;
      await this.#pace(started, read);
    }
  }

  /** Counted and saved as pending first, then deleted: a crash in between redoes the deletes, never the counts. */
  async #remove(phase: Phase, stream: string, matches: readonly Match[]): Promise<void> {
    const byRouter = new Map<string, number>();
    for (const m of matches) byRouter.set(m.routerId, (byRouter.get(m.routerId) ?? 0) + 1);
    this.#record = { ...withCounts(this.#record, phase, byRouter), pending: { phase, seqs: matches.map((m) => m.seq) } };
    await this.#save();
    await deleteMatches(this.deps.jsm, stream, matches);
  }

  /** Waits out the settle window, then extends the delivery bound to what was stored meanwhile. */
  async #settle(): Promise<void> {
    const settleAt = Date.parse(this.#record.requestedAt) + (this.deps.settleMs ?? SETTLE_MS);
    while (Date.now() < settleAt && !this.signal.aborted) {
      await sleep(Math.min(settleAt - Date.now(), SAVE_EVERY_MS), this.signal);
      await this.#save();
    }
    if (this.signal.aborted) return;
    const { state } = await this.deps.jsm.streams.info(this.deps.names.deliveryStream);
    const bound = Math.max(this.#record.bound, state.last_seq);
    this.#record = { ...this.#record, settled: true, bound, toScan: this.#record.toScan + (bound - this.#record.bound) };
    await this.#save();
  }

  async #pace(started: number, read: number): Promise<void> {
    const rate = this.deps.scanRate;
    if (rate <= 0) return;
    const due = started + (read / rate) * 1000 - Date.now();
    if (due > 0) await sleep(due, this.signal);
  }

  async #save(release = false): Promise<void> {
    const r = this.#record.phase === "done" ? this.#record : this.claim(this.#record, release);
    this.#revision = await this.deps.store.save(r, this.#revision);
    this.#lastSave = Date.now();
  }
}
