/**
 * Wires one service instance: NATS, streams, routers, directories, the emit path, delivery and the Connect
 * server. Used by main.ts and by end-to-end tests; `close()` shuts down in the order that loses nothing.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { DirectoryAdminService } from "../gen/eventrouting/v1/directory_admin_service_pb.js";
import { EventRoutingService } from "../gen/eventrouting/v1/event_routing_service_pb.js";
import { IngestAdminService } from "../gen/eventrouting/v1/ingest_admin_service_pb.js";
import { RouterAdminService } from "../gen/eventrouting/v1/router_admin_service_pb.js";
import { createDirectoryAdminService } from "./admin/directory-admin-service.js";
import { createIngestAdminService } from "./admin/ingest-admin-service.js";
import { createRouterAdminService } from "./admin/router-admin-service.js";
import type { Config } from "./config.js";
import { startDelivery, type Delivery } from "./delivery/delivery.js";
import { createFailedRpc } from "./delivery/failed-rpc.js";
import { FailedStore } from "./delivery/failed-store.js";
import { openDirectories } from "./directory/open-directories.js";
import { backendSettings } from "./ingest/backend-settings.js";
import { defaultConsumerName, eventBusStreamKey, type EventBusSettings } from "./ingest/event-bus/redis-consumer.js";
import { createEventRoutingService } from "./ingest/event-routing-service.js";
import { startIngestInputs, type IngestInputs } from "./ingest/ingest-inputs.js";
import { caliperSensorId } from "./transform/caliper/envelope.js";
import { readFileSync } from "node:fs";
import { connectNats, natsConnectOptions } from "./nats/connection.js";
import { logNatsStatus } from "./nats/connection-log.js";
import { ingestNames, natsNames } from "./nats/names.js";
import { ensureStreams } from "./nats/streams.js";
import type { DeliveryDefaults } from "./routing/router-model.js";
import { RouterStore } from "./routing/router-store.js";
import { StatementPublisher } from "./routing/statement-publisher.js";
import { resolveTokens, type Tokens } from "./server/auth.js";
import { bindHealthToDelivery, bindHealthToNats, HealthRegistry } from "./server/health.js";
import { standardInterceptors, startServer, type ServerOptions } from "./server/server.js";

export interface RunningService {
  readonly port: number;
  readonly nc: NatsConnection;
  readonly tokens: Tokens;
  /** Present when DELIVERY_ENABLED (tests wait on `settled()`). */
  readonly delivery: Delivery | undefined;
  /** The Redis event-bus and NATS ingest inputs (each undefined when off). */
  readonly ingest: IngestInputs;
  readonly routers: RouterStore;
  /** Health NOT_SERVING, finish in-flight calls, stop delivery, then close NATS. */
  close(): Promise<void>;
}

/** How long Emit waits for JetStream to confirm a publish before answering Unavailable. */
const PUBLISH_TIMEOUT_MS = 5000;

export function deliveryDefaults(config: Config): DeliveryDefaults {
  return {
    batchSize: config.deliveryBatchSize,
    batchIntervalMs: config.deliveryBatchIntervalMs,
    maxRetries: config.deliveryMaxRetries,
    countdownMs: config.deliveryCountdownMs,
    httpTimeoutMs: config.deliveryHttpTimeoutMs,
    criticalEvents: config.criticalEvents,
  };
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

/** TLS files are read once at start; connections over MAX_CONNECTIONS are logged at most every 10 s. */
function httpOptions(config: Config, logger: Logger): NonNullable<ServerOptions["http"]> {
  let refused = 0;
  let lastLog = 0;
  return {
    ...(config.tlsCertFile && config.tlsKeyFile
      ? { tls: { cert: readFileSync(config.tlsCertFile), key: readFileSync(config.tlsKeyFile) } }
      : {}),
    maxConcurrentStreams: config.http2MaxConcurrentStreams,
    idleTimeoutMs: config.httpIdleTimeoutMs,
    maxConnections: config.maxConnections,
    onConnectionRefused() {
      refused++;
      if (Date.now() - lastLog < 10_000) return;
      logger.warn({ refused, maxConnections: config.maxConnections }, "connections refused: MAX_CONNECTIONS reached");
      lastLog = Date.now();
      refused = 0;
    },
  };
}

export async function startService(config: Config & { natsUrl: string }, logger: Logger): Promise<RunningService> {
  const names = natsNames(config.natsPrefix);
  // Read before connecting, so a missing certificate fails start-up before anything else is opened.
  const http = httpOptions(config, logger);
  const nc = await connectNats(natsConnectOptions(config, config.natsUrl));
  void logNatsStatus(nc.status(), logger);
  const cleanup: Array<() => Promise<void> | void> = [() => nc.drain()];
  try {
    await ensureStreams(
      nc,
      names,
      {
        replicas: config.natsReplicas,
        deliveryMaxAgeHours: config.deliveryMaxAgeHours,
        ...(config.deliveryMaxBytes !== undefined ? { deliveryMaxBytes: config.deliveryMaxBytes } : {}),
        advisoryMaxBytes: config.advisoryMaxBytes,
      },
      (stream, maxBytes) =>
        logger.warn(
          { stream, maxBytes },
          "the NATS server cannot reserve the default DELIVERY_MAX_BYTES; using a smaller limit (set it to size the stream)",
        ),
    );
    const routers = await RouterStore.open(nc, names, {
      replicas: config.natsReplicas,
      onInvalid: (id, err) => logger.error({ routerId: id, err: err.message }, "stored router is unusable; ignored until fixed"),
      onWatchRestart: ({ error, retryInMs, fromRevision }) =>
        error
          ? logger.error(
              { err: error, retryInMs, fromRevision },
              "router watch stopped; reopening it (router changes are not seen meanwhile)",
            )
          : logger.warn({ fromRevision }, "router watch reopened"),
    });
    cleanup.unshift(() => routers.close());
    const directories = await openDirectories(nc, names, {
      replicas: config.natsReplicas,
      ...(config.identityHmacSecret ? { hmacSecret: config.identityHmacSecret } : {}),
      ...(config.coursesFile ? { coursesFile: config.coursesFile } : {}),
    });
    cleanup.unshift(() => directories.close());
    const defaults = deliveryDefaults(config);
    const delivery = config.deliveryEnabled
      ? await startDelivery({ nc, names, routers, defaults, caliperSensorId: caliperSensorId(config, config.caliperSensorId), logger })
      : undefined;
    if (delivery) cleanup.unshift(() => delivery.stop());

    const tokens = resolveTokens(config, logger);
    const pipeline = {
      settings: { lmsRootUrl: config.lmsRootUrl, transformerVersion: config.transformerVersion, agentIfiType: config.agentIfiType },
      backends: backendSettings(config),
      directories,
      routers,
      names,
    };
    const publisher = new StatementPublisher(jetstream(nc), {
      timeoutMs: PUBLISH_TIMEOUT_MS,
      streamName: names.deliveryStream,
      maxPayload: () => nc.info?.max_payload,
    });
    // Created before the server so the inputs can report their health from their first moment.
    const health = new HealthRegistry();
    const ingest = await startIngestInputs({
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
    });
    // Before delivery and NATS close: a batch being stored finishes and is acknowledged at its source.
    cleanup.unshift(() => ingest.stop());
    const eventRouting = createEventRoutingService({
      pipeline,
      publisher,
      emitBatchMax: config.emitBatchMax,
      // The failed stream needs only JetStream, so every instance answers these RPCs, delivering or not.
      failed:
        delivery?.failedRpc ??
        createFailedRpc(new FailedStore(jetstream(nc), await jetstreamManager(nc), names, (id) => routers.get(id) !== undefined), {
          logger,
        }),
    });
    const server = await startServer({
      host: config.host,
      port: config.port,
      readMaxBytes: config.readMaxBytes,
      maxTimeoutMs: config.maxTimeoutMs,
      interceptors: standardInterceptors({ logger, logRpcs: config.logRpcs, tokens }),
      health,
      ...(config.logRpcs ? { rpcLog: logger } : {}),
      http,
      register(router) {
        router.service(EventRoutingService, eventRouting);
        router.service(
          RouterAdminService,
          createRouterAdminService({ store: routers, deliveryDefaults: defaults, ...(delivery ? { status: delivery.status } : {}) }),
        );
        router.service(
          DirectoryAdminService,
          createDirectoryAdminService({ identities: directories.identities, courses: directories.courses }),
        );
        router.service(IngestAdminService, createIngestAdminService({ eventBus: ingest.eventBus, natsIngest: ingest.natsIngest }));
      },
    });
    void bindHealthToNats(nc.status(), server.health);
    if (delivery) cleanup.unshift(bindHealthToDelivery(delivery.health, server.health));

    let closing: Promise<void> | undefined;
    return {
      port: server.port,
      nc,
      tokens,
      delivery,
      ingest,
      routers,
      close() {
        closing ??= (async () => {
          await server.shutdown(config.shutdownGraceMs);
          for (const step of cleanup) await step();
        })();
        return closing;
      },
    };
  } catch (e) {
    for (const step of cleanup) await Promise.resolve(step()).catch(() => {});
    throw e;
  }
}
