/**
 * Keeps the failed stream under FAILED_MAX_BYTES by discarding the oldest statements of NON-critical events
 * (entries marked Er-Discardable, failed-codec.ts). Critical ones are never discarded: a stream over the limit
 * with critical statements only stays over it, and says so in the log.
 *
 * Why not the stream's own max_bytes: JetStream would discard the oldest entries whatever they are (critical
 * ones too) and silently; here every discarded statement is logged with its id and counted
 * (event_routing_delivery_results_total{result="discarded"}, and the router's `discarded` in GetRouterStatus).
 *
 * Runs after a discardable entry was stored (the only way the stream grows past the limit with something to
 * discard) and once at start-up; one run at a time, a request during a run starts one more run after it.
 * Several instances may trim at once: a message another instance deleted first is simply not counted here.
 * `floor`: every entry below it that still exists is critical, so later runs start there instead of at the
 * stream's first sequence (in memory; a restart walks the critical head once).
 */
import type { JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { MetricsRecorder } from "../../metrics/metrics.js";
import { isMessageNotFound } from "../../nats/jetstream-errors.js";
import type { NatsNames } from "../../nats/names.js";
import { readDeliveryHeaders } from "../../routing/delivery-message.js";
import { HDR_DISCARDABLE } from "./failed-codec.js";
import type { StatsRegistry } from "../status/router-stats.js";

/** Entries deleted between two reads of the stream's size. */
const STEP = 100;

export interface FailedTrimDeps {
  readonly jsm: JetStreamManager;
  readonly names: NatsNames;
  readonly logger: Logger;
  /** 0 = no limit. */
  readonly maxBytes: number;
  readonly stats?: StatsRegistry;
  readonly metrics?: MetricsRecorder;
}

export class FailedTrimmer {
  private floor = 0;
  private running: Promise<void> | undefined;
  private again = false;

  constructor(private readonly deps: FailedTrimDeps) {}

  /** Asks for a run; coalesced with the one running. Never throws (a failed run is logged and retried next time). */
  request(): void {
    if (this.deps.maxBytes <= 0) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => (this.running = undefined));
  }

  /** Resolves when no run is pending (tests, stop). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.trim();
      } catch (e) {
        this.deps.logger.warn({ err: (e as Error).message }, "could not trim the failed stream; trying again after the next failure");
      }
    } while (this.again);
  }

  /** One run: returns how many statements this instance discarded. */
  async trim(): Promise<number> {
    const { jsm, names, maxBytes } = this.deps;
    const discarded = new Map<string, string[]>();
    let total = 0;
    try {
      while (true) {
        const { state } = await jsm.streams.info(names.failedStream);
        if (state.bytes <= maxBytes) return total;
        const n = await this.discardSome(Math.max(this.floor, state.first_seq), state.last_seq, discarded);
        total += n;
        if (n === 0) {
          this.deps.logger.warn(
            { bytes: state.bytes, maxBytes, messages: state.messages },
            "failed stream over FAILED_MAX_BYTES with critical statements only; they are never discarded (retry or purge them)",
          );
          return total;
        }
      }
    } finally {
      this.report(discarded);
    }
  }

  /** Deletes up to STEP discardable entries from `from` on; moves the floor over the critical ones it passes. */
  private async discardSome(from: number, last: number, discarded: Map<string, string[]>): Promise<number> {
    const { jsm, names } = this.deps;
    let deleted = 0;
    let seq = from;
    let criticalHead = true;
    while (deleted < STEP && seq <= last) {
      const m: StoredMsg | null = await jsm.direct.getMessage(names.failedStream, { seq, next_by_subj: `${names.prefix}.failed.>` });
      if (!m || m.seq > last) break;
      seq = m.seq + 1;
      if (m.header?.get(HDR_DISCARDABLE) !== "true") {
        if (criticalHead) this.floor = seq;
        continue;
      }
      criticalHead = false;
      const gone = await jsm.streams.deleteMessage(names.failedStream, m.seq).catch((e: unknown) => {
        if (isMessageNotFound(e)) return false;
        throw e;
      });
      if (!gone) continue;
      deleted++;
      const meta = readDeliveryHeaders(m.header);
      const routerId = meta.routerId || m.subject.split(".").pop() || "";
      const ids = discarded.get(routerId) ?? [];
      ids.push(meta.statementId || `failed-seq:${m.seq}`);
      discarded.set(routerId, ids);
    }
    if (criticalHead) this.floor = Math.max(this.floor, seq);
    return deleted;
  }

  /** One line per router with the ids, and the counters. */
  private report(discarded: Map<string, string[]>): void {
    for (const [routerId, ids] of discarded) {
      const stats = this.deps.stats?.for(routerId);
      if (stats) stats.discarded += ids.length;
      for (let i = 0; i < ids.length; i++) this.deps.metrics?.settled(routerId, "discarded");
      this.deps.logger.warn(
        { routerId, statementIds: ids, count: ids.length, maxBytes: this.deps.maxBytes },
        "failed stream over FAILED_MAX_BYTES: oldest non-critical statements discarded (dropped)",
      );
    }
  }
}
