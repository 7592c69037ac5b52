/**
 * Entry point of HTTP delivery: consumers and workers per router, the failed store, the advisory sweeper and
 * the status provider. Streams must exist (ensureStreams) before this starts.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { KV } from "@nats-io/kv";
import type { Logger } from "pino";
import type { MetricsRecorder } from "../metrics/metrics.js";
import { openKvBucket } from "../nats/kv-bucket.js";
import { JetStreamWriter } from "../nats/jetstream-writer.js";
import type { NatsNames } from "../nats/names.js";
import type { DeliveryDefaults } from "../routing/router-model.js";
import type { RouterSource } from "../routing/router-source.js";
import { ConsumerManager } from "./worker/consumer-manager.js";
import type { DeliveryRuntime, ForgottenMessages } from "./delivery-runtime.js";
import { createFailedRpc, type FailedRpc } from "./failed/failed-rpc.js";
import { FailedSweeper } from "./failed/failed-sweeper.js";
import { FailedStore } from "./failed/failed-store.js";
import { FailedTrimmer } from "./failed/failed-trim.js";
import { PendingAgeMonitor } from "./status/pending-age.js";
import { StatsRegistry } from "./status/router-stats.js";
import { REQUEUE_TIMEOUT_MS } from "./worker/requeue.js";
import type { RouterStatusProvider } from "../routing/router-status-contract.js";
import { createStatusProvider } from "./status/router-status-provider.js";

export interface DeliveryOptions {
  readonly nc: NatsConnection;
  readonly names: NatsNames;
  readonly routers: RouterSource;
  readonly defaults: DeliveryDefaults;
  /** Caliper envelope sensor (CALIPER_SENSOR_ID, else LMS_ROOT_URL). */
  readonly caliperSensorId: string;
  readonly logger: Logger;
  /** Run the advisory backstop in this instance (default true). */
  readonly sweeper?: boolean;
  /** Failed-attempt summaries per router at most this often (default 60 s; tests shorten it). */
  readonly failureSummaryEveryMs?: number;
  /** How often the pending-age warning is checked (default 60 s; tests shorten it). */
  readonly ageCheckEveryMs?: number;
  /** Delivery counters (src/metrics/); absent when metrics are off. */
  readonly metrics?: MetricsRecorder;
  /**
   * FAILED_MAX_BYTES: above it, the oldest non-critical failed statements are discarded (failed-trim.ts);
   * 0 = no limit. Default DEFAULT_FAILED_MAX_BYTES.
   */
  readonly failedMaxBytes?: number;
  /** Forgotten learners (src/erasure/): the workers drop their statements unsent. */
  readonly forgotten?: ForgottenMessages;
  /** NATS_REPLICAS: replicas of the rate limits bucket when delivery creates it. Default 1. */
  readonly replicas?: number;
}

/** Longer than any rate limit period (at most 1 h): an idle router's key goes away by itself. */
const RATE_LIMIT_KEY_TTL_MS = 24 * 3_600_000;

/** 1 GiB: room for about a million failed statements of ~1 KiB. */
export const DEFAULT_FAILED_MAX_BYTES = 1024 ** 3;

/** Routers this instance cannot deliver for (gRPC health: server/health.ts bindHealthToDelivery). */
export interface DeliveryHealth {
  /** Router id -> reason, for every router currently UNHEALTHY here. */
  unhealthy(): ReadonlyMap<string, string>;
  /** Called after any change of that set; returns an unsubscribe function. */
  onChange(listener: () => void): () => void;
}

export interface Delivery {
  stop(): Promise<void>;
  readonly status: RouterStatusProvider;
  readonly failed: FailedStore;
  /** ListFailed / RetryFailed / PurgeFailed handlers over `failed` (the caller checks the admin token). */
  readonly failedRpc: FailedRpc;
  /** Resolves when every router change seen so far has been applied (consumers exist, workers run). */
  settled(): Promise<void>;
  readonly health: DeliveryHealth;
}

export async function startDelivery(opts: DeliveryOptions): Promise<Delivery> {
  const js = jetstream(opts.nc);
  const jsm = await jetstreamManager(opts.nc);
  const logger = opts.logger.child({ component: "delivery" });
  const stats = new StatsRegistry();
  const trimmer = new FailedTrimmer({
    jsm,
    names: opts.names,
    logger,
    maxBytes: opts.failedMaxBytes ?? DEFAULT_FAILED_MAX_BYTES,
    stats,
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
  });
  const failed = new FailedStore(
    js,
    jsm,
    opts.names,
    (id) => opts.routers.get(id),
    () => trimmer.request(),
  );
  // The limit may have been lowered since the last run.
  trimmer.request();
  const runtime: DeliveryRuntime = {
    js,
    jsm,
    writer: new JetStreamWriter(opts.nc, { timeoutMs: REQUEUE_TIMEOUT_MS, logger }),
    names: opts.names,
    routers: opts.routers,
    defaults: opts.defaults,
    failed,
    stats,
    logger,
    rateLimitsBucket: openOnce(() =>
      openKvBucket(opts.nc, opts.names.rateLimitsBucket, { replicas: opts.replicas ?? 1, history: 1, ttl: RATE_LIMIT_KEY_TTL_MS }),
    ),
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
    ...(opts.forgotten ? { forgotten: opts.forgotten } : {}),
  };
  const manager = new ConsumerManager({
    ...runtime,
    caliperSensorId: opts.caliperSensorId,
    ...(opts.failureSummaryEveryMs !== undefined ? { failureSummaryEveryMs: opts.failureSummaryEveryMs } : {}),
  });
  await manager.start();
  const sweeper = opts.sweeper === false ? undefined : new FailedSweeper(runtime);
  await sweeper?.start();
  const ages = new PendingAgeMonitor({ jsm, names: opts.names, routers: opts.routers, logger }, opts.ageCheckEveryMs);
  ages.start();
  return {
    status: createStatusProvider({
      jsm,
      names: opts.names,
      routers: opts.routers,
      stats,
      failed,
      isRunning: (id) => manager.isRunning(id),
    }),
    failed,
    failedRpc: createFailedRpc(failed, { logger }),
    settled: () => manager.settled(),
    health: { unhealthy: () => stats.unhealthy(), onChange: (l) => stats.onUnhealthyChange(l) },
    async stop() {
      await ages.stop();
      await sweeper?.stop();
      await manager.stop();
      await trimmer.idle();
    },
  };
}

/** `open`, run on first use and shared; a failed open is tried again on the next use. */
function openOnce(open: () => Promise<KV>): () => Promise<KV> {
  let opening: Promise<KV> | undefined;
  return () => {
    opening ??= open().catch((e: unknown) => {
      opening = undefined;
      throw e;
    });
    return opening;
  };
}
