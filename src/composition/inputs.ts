/**
 * The emit path (transform pipeline and the JetStream publisher) and the inputs that feed it: the Redis event bus
 * and NATS ingest. Started after delivery and the statement log readers, before the front ends; stopped before
 * them all (only the front ends stop earlier), so a batch being stored finishes and is acknowledged at its source
 * while delivery and NATS are still there.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { BackendSettings } from "../transform/transform-event.js";
import type { LearnerGate, PipelineDeps } from "../ingest/emit-pipeline.js";
import { defaultConsumerName, type EventBusSettings, eventBusStreamKey } from "../ingest/event-bus/redis-consumer.js";
import { type IngestInputs, startIngestInputs } from "../ingest/ingest-inputs.js";
import { emitObserver } from "../metrics/emit-metrics.js";
import type { ServiceMetrics } from "../metrics/metrics.js";
import { ingestNames } from "../nats/names.js";
import type { HealthRegistry } from "../server/health.js";
import { StatementPublisher } from "../routing/statement-publisher.js";
import type { LifecycleStack } from "./lifecycle-stack.js";
import type { NatsLayer } from "./nats.js";
import type { Stores } from "./stores.js";

/** How long Emit waits for JetStream to confirm a publish before answering Unavailable. */
export const PUBLISH_TIMEOUT_MS = 5000;

export interface EmitPath {
  readonly pipeline: PipelineDeps;
  readonly publisher: StatementPublisher;
}

/** The Redis input's settings, or undefined when EVENT_BUS_REDIS_CONNECTION_URL is unset. */
export function eventBusSettings(config: Config): EventBusSettings | undefined {
  if (!config.eventBusRedisUrl) return undefined;
  return {
    url: config.eventBusRedisUrl,
    streamKey: eventBusStreamKey(config.eventBusTopicPrefix, config.eventBusTrackingTopic),
    group: config.eventBusConsumerGroup,
    consumer: config.eventBusConsumerName ?? defaultConsumerName(),
    startId: config.eventBusStartId,
    batchSize: config.eventBusBatchSize,
    claimIdleMs: config.eventBusClaimIdleMs,
  };
}

/** Nothing to stop: the pipeline and the publisher hold no resources of their own. */
export function emitPath(
  { nc, names }: NatsLayer,
  { routers, directories }: Stores,
  backends: BackendSettings[],
  config: Config,
  logger: Logger,
  metrics: ServiceMetrics | undefined,
  learners: LearnerGate,
): EmitPath {
  const pipeline: PipelineDeps = {
    settings: { lmsRootUrl: config.lmsRootUrl, transformerVersion: config.transformerVersion, agentIfiType: config.agentIfiType },
    backends,
    directories,
    routers,
    names,
    logger,
    learners,
    ...(metrics ? { observe: emitObserver(metrics.recorder) } : {}),
  };
  const publisher = new StatementPublisher(jetstream(nc), {
    timeoutMs: PUBLISH_TIMEOUT_MS,
    streamName: names.deliveryStream,
    maxPayload: () => nc.info?.max_payload,
    logger,
  });
  return { pipeline, publisher };
}

/** `health` is created before the server so the inputs report their health from their first moment. */
export async function startInputs(
  stack: LifecycleStack,
  { nc }: NatsLayer,
  { pipeline, publisher }: EmitPath,
  health: HealthRegistry,
  config: Config,
  logger: Logger,
): Promise<IngestInputs> {
  return stack.use(
    await startIngestInputs({
      js: jetstream(nc),
      jsm: await jetstreamManager(nc),
      names: ingestNames(config.natsPrefix),
      replicas: config.natsReplicas,
      clustered: nc.info?.cluster !== undefined,
      pipeline,
      publisher,
      publishTimeoutMs: PUBLISH_TIMEOUT_MS,
      health,
      logger,
      eventBus: eventBusSettings(config),
      natsIngest: config.natsIngestEnabled ? { batchSize: config.eventBusBatchSize } : undefined,
    }),
  );
}
