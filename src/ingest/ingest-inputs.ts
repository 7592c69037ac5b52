/**
 * Starts the configured inputs beside Emit: the Open edX event bus on Redis (when EVENT_BUS_REDIS_CONNECTION_URL
 * is set) and the NATS ingest subject (NATS_INGEST_ENABLED), with the streams they need and one health status
 * each. An input's source being down never stops the service: only that input's health says NOT_SERVING.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { IngestNames } from "../nats/names.js";
import { ensureIngestStreams } from "../nats/streams.js";
import type { StatementPublisher } from "../routing/statement-publisher.js";
import { ServingStatus, type HealthRegistry } from "../server/health.js";
import type { PipelineDeps } from "./emit-pipeline.js";
import { EventBusConsumer, type EventBusSettings } from "./event-bus/redis-consumer.js";
import { NatsIngest } from "./nats-ingest.js";
import { RejectedStore } from "./rejected-store.js";

/** Health service names of the inputs (grpc.health.v1 Check with `service` set to one of these). */
export const HEALTH_EVENT_BUS_REDIS = "eventrouting.ingest.EventBusRedis";
export const HEALTH_NATS_INGEST = "eventrouting.ingest.NatsIngest";

export interface IngestInputsOptions {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly names: IngestNames;
  readonly replicas: number;
  /** The NATS server is part of a cluster (stream size defaults are then used as they are). */
  readonly clustered: boolean;
  readonly pipeline: PipelineDeps;
  readonly publisher: StatementPublisher;
  readonly publishTimeoutMs: number;
  readonly health: HealthRegistry;
  readonly logger: Logger;
  /** Undefined: the Redis input is off. */
  readonly eventBus: EventBusSettings | undefined;
  readonly natsIngest: { readonly batchSize: number } | undefined;
}

export interface IngestInputs {
  readonly eventBus: EventBusConsumer | undefined;
  readonly natsIngest: NatsIngest | undefined;
  /** Stops reading; batches being stored finish and are acknowledged first. */
  stop(): Promise<void>;
}

export async function startIngestInputs(o: IngestInputsOptions): Promise<IngestInputs> {
  if (!o.eventBus && !o.natsIngest) return { eventBus: undefined, natsIngest: undefined, stop: async () => {} };
  await ensureIngestStreams(
    o.jsm,
    o.names,
    { replicas: o.replicas, ingest: o.natsIngest !== undefined, clustered: o.clustered },
    (stream, maxBytes) =>
      o.logger.warn({ stream, maxBytes }, "the NATS server cannot reserve this stream's default size limit; using a smaller one"),
  );
  const rejected = new RejectedStore(o.js, o.names, { timeoutMs: o.publishTimeoutMs });
  const healthOf = (service: string) => (serving: boolean) =>
    o.health.set(service, serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);

  const eventBus = o.eventBus
    ? new EventBusConsumer(o.eventBus, {
        ingest: { source: "event-bus-redis", pipeline: o.pipeline, publisher: o.publisher, rejected },
        logger: o.logger.child({ input: "event-bus-redis" }),
        onHealth: healthOf(HEALTH_EVENT_BUS_REDIS),
      })
    : undefined;
  const natsIngest = o.natsIngest
    ? new NatsIngest({
        js: o.js,
        jsm: o.jsm,
        names: o.names,
        ingest: { source: "nats", pipeline: o.pipeline, publisher: o.publisher, rejected },
        logger: o.logger.child({ input: "nats-ingest" }),
        batchSize: o.natsIngest.batchSize,
        onHealth: healthOf(HEALTH_NATS_INGEST),
      })
    : undefined;
  eventBus?.start();
  await natsIngest?.start();
  return {
    eventBus,
    natsIngest,
    async stop() {
      await Promise.all([eventBus?.stop(), natsIngest?.stop()]);
    },
  };
}
