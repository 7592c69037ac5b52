/**
 * Entry point of forgetting learners (the right to erasure): the tombstones every input and delivery worker asks
 * (learner-gate.ts), ForgetLearner's steps (forget-learner.ts), the scans of the streams (forget-runner.ts) and
 * the forget records that are their progress and then their audit trail (forget-store.ts), all in the forgotten
 * KV bucket (nats/names.ts). docs/privacy.md describes what a forget reaches and what it cannot.
 */
import { randomBytes } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { ExternalIdDerivation } from "../directory/external-id.js";
import type { LearnerHasher } from "../directory/learner-hash.js";
import type { ForgottenMessages } from "../delivery/delivery-runtime.js";
import type { LearnerGate } from "../ingest/emit-pipeline.js";
import { openKvBucket } from "../nats/kv-bucket.js";
import type { NatsNames } from "../nats/names.js";
import { isRunning, type ForgetRecord } from "./forget-record.js";
import { ForgetStore } from "./forget-store.js";
import { beginForget, validateForget, type ForgetRequest, type LearnerRows } from "./forget-learner.js";
import { ForgetRunner, LEASE_MS } from "./forget-runner.js";
import { learnerGate } from "./learner-gate.js";
import { Tombstones } from "./tombstones.js";

export interface ErasureOptions {
  readonly nc: NatsConnection;
  readonly names: NatsNames;
  readonly replicas: number;
  readonly identities: LearnerRows;
  readonly hasher: LearnerHasher;
  readonly derive: ExternalIdDerivation & { clear?(): void };
  readonly logger: Logger;
  /** FORGET_SCAN_RATE (messages per second; 0 = unlimited). */
  readonly scanRate: number;
  /** Shorter windows for tests (forget-runner.ts). */
  readonly settleMs?: number;
  readonly resumeEveryMs?: number;
}

export interface Erasure {
  /** For the emit path and the delivery workers. */
  readonly gate: LearnerGate & ForgottenMessages;
  /** ForgetLearner: answers once the scan is done, or after `waitMs` with the record still running. */
  forget(req: ForgetRequest, requestedBy: string, waitMs: number): Promise<ForgetRecord>;
  progress(forgetId: string): Promise<ForgetRecord>;
  /** Newest first. */
  list(limit: number): Promise<ForgetRecord[]>;
  close(): Promise<void>;
}

export async function openErasure(opts: ErasureOptions): Promise<Erasure> {
  const logger = opts.logger.child({ component: "erasure" });
  const kv = await openKvBucket(opts.nc, opts.names.forgottenBucket, { replicas: opts.replicas, history: 1 });
  const tombstones = await Tombstones.open(kv, {
    logger,
    // Nothing that remembers identifiers keeps the forgotten learner's (the caches are refilled on demand).
    onAdded: () => {
      opts.hasher.clear();
      opts.derive.clear?.();
    },
  });
  const store = new ForgetStore(kv);
  const instanceId = randomBytes(6).toString("hex");
  const addTombstones = (hashes: readonly string[], id: string) => tombstones.add(hashes, id);
  const runner = new ForgetRunner({
    js: jetstream(opts.nc),
    jsm: await jetstreamManager(opts.nc),
    names: opts.names,
    store,
    hasher: opts.hasher,
    addTombstones,
    logger,
    instanceId,
    scanRate: opts.scanRate,
    ...(opts.settleMs !== undefined ? { settleMs: opts.settleMs } : {}),
    ...(opts.resumeEveryMs !== undefined ? { resumeEveryMs: opts.resumeEveryMs } : {}),
  });
  runner.start();
  const deps = {
    identities: opts.identities,
    derive: opts.derive,
    hasher: opts.hasher,
    store,
    addTombstones,
    instanceId,
    leaseMs: LEASE_MS,
  };
  return {
    gate: learnerGate(tombstones, opts.hasher),
    async forget(req, requestedBy, waitMs) {
      const claimed = await beginForget(validateForget(req), requestedBy, deps);
      logger.info({ forgetId: claimed.record.id, requestedBy }, "forgetting a learner: tombstone stored, scanning the streams");
      runner.run(claimed);
      await runner.waitLocal(claimed.record.id, waitMs);
      return (await store.require(claimed.record.id)).record;
    },
    async progress(forgetId) {
      return (await store.require(forgetId)).record;
    },
    async list(limit) {
      const all = await store.list();
      all.sort((a, b) => (a.requestedAt < b.requestedAt ? 1 : a.requestedAt > b.requestedAt ? -1 : 0));
      return all.slice(0, limit);
    },
    async close() {
      await runner.stop();
      tombstones.stop();
    },
  };
}

export { isRunning };
