/** What every delivery component of one instance shares: the JetStream handles, routers, defaults and stores. */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { MsgHdrs } from "@nats-io/transport-node";
import type { KV } from "@nats-io/kv";
import type { Logger } from "pino";
import type { MetricsRecorder } from "../metrics/metrics.js";
import type { JetStreamWriter } from "../nats/jetstream-writer.js";
import type { NatsNames } from "../nats/names.js";
import type { DeliveryDefaults } from "../routing/router-model.js";
import type { RouterSource } from "../routing/router-source.js";
import type { FailedStore } from "./failed/failed-store.js";
import type { StatsRegistry } from "./status/router-stats.js";

/** Recognises a forgotten learner's statement (implemented by src/erasure/learner-gate.ts). */
export interface ForgottenMessages {
  /** True when the message (its Er-Learner header, or its actor when stored without one) is a forgotten learner's. */
  isForgotten(headers: MsgHdrs | undefined, body: Uint8Array): boolean;
}

export interface DeliveryRuntime {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** The workers' hand-backs on stop (requeue.ts). */
  readonly writer: JetStreamWriter;
  readonly names: NatsNames;
  readonly routers: RouterSource;
  readonly defaults: DeliveryDefaults;
  readonly failed: FailedStore;
  readonly stats: StatsRegistry;
  readonly logger: Logger;
  /** The rate limits bucket (worker/rate-limiter.ts), opened when a rate-limited router first sends. */
  rateLimitsBucket(): Promise<KV>;
  /** Counts attempts and settled statements (src/metrics/); absent when metrics are off. */
  readonly metrics?: MetricsRecorder;
  /** Forgotten learners: their statements are dropped unsent right before a batch goes out. */
  readonly forgotten?: ForgottenMessages;
}
