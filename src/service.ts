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
import { RejectedStream } from "./ingest/rejected-stream.js";
import { createRouterAdminService } from "./admin/router-admin-service.js";
import type { Config } from "./config.js";
import { startConsoleServer } from "./console/console-server.js";
import { defaultAssetsDir } from "./console/static-files.js";
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
import { setTimeout as sleep } from "node:timers/promises";
import { connectNats, natsConnectOptions } from "./nats/connection.js";
import { logNatsStatus } from "./nats/connection-log.js";
import { ingestNames, natsNames } from "./nats/names.js";
import { ensureStreams } from "./nats/streams.js";
import type { DeliveryDefaults } from "./routing/router-model.js";
import { RouterStore } from "./routing/router-store.js";
import { StatementPublisher } from "./routing/statement-publisher.js";
import { StatementLog } from "./output/statement-log.js";
import { StatementLogReader } from "./output/statement-log-reader.js";
import { statementLogMetrics } from "./metrics/output-metrics.js";
import { registerIngestLossMetrics } from "./metrics/ingest-loss-metrics.js";
import { resolveTokens, type Tokens } from "./server/auth.js";
import { bindHealthToDelivery, bindHealthToNats, HealthRegistry } from "./server/health.js";
import { standardInterceptors, startServer, type ServerOptions } from "./server/server.js";
import { rpcErrorsOnly } from "./server/interceptors.js";
import { ADMIN_SERVICE_OPTIONS } from "./server/connect-handler.js";
import { createServiceMetrics, type ServiceMetrics } from "./metrics/metrics.js";
import { emitObserver } from "./metrics/emit-metrics.js";
import { startMetricsServer } from "./metrics/metrics-server.js";
import { metricsInterceptor } from "./metrics/rpc-metrics.js";
import { StatsRegistry } from "./delivery/router-stats.js";
import { createStatusProvider } from "./delivery/router-status.js";
import { HEALTH_EVENT_BUS_REDIS, HEALTH_NATS_INGEST } from "./ingest/ingest-inputs.js";
import { HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.js";

export interface RunningService {
  readonly port: number;
  /** The admin console's port when CONSOLE_PORT is set. */
  readonly consolePort: number | undefined;
  readonly nc: NatsConnection;
  readonly tokens: Tokens;
  /** Present when DELIVERY_ENABLED (tests wait on `settled()`). */
  readonly delivery: Delivery | undefined;
  /** The Redis event-bus and NATS ingest inputs (each undefined when off). */
  readonly ingest: IngestInputs;
  readonly routers: RouterStore;
  /** GET /metrics URL when METRICS_PORT is set. */
  readonly metricsUrl: string | undefined;
  /**
   * Health NOT_SERVING, then (after `drainDelayMs`, default 0, while the ports still accept calls) finish in-flight
   * calls, stop delivery, then close NATS.
   */
  close(opts?: { drainDelayMs?: number }): Promise<void>;
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
  // Drained when NATS is there; when it is not (a shutdown during an outage), closed, so the client stops
  // reconnecting instead of keeping the process alive.
  const cleanup: Array<() => Promise<void> | void> = [() => nc.drain().catch(() => nc.close())];
  // The listeners started so far, closed first when a later step fails (a busy METRICS_PORT), so a failed start
  // leaves no port open for its caller; once started, close() stops them with the grace period instead.
  const listeners: Array<() => Promise<void> | void> = [];
  try {
    await ensureStreams(
      nc,
      names,
      {
        replicas: config.natsReplicas,
        deliveryMaxAgeHours: config.deliveryMaxAgeHours,
        deliveryDuplicateWindowHours: config.deliveryDuplicateWindowHours,
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
      onListenerError: (change, err) =>
        logger.error(
          { routerId: change.kind === "put" ? change.router.id : change.id, change: change.kind, err },
          "a router change was not applied everywhere in this instance: a listener failed",
        ),
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
      cache: { logger },
    });
    cleanup.unshift(() => directories.close());
    const defaults = deliveryDefaults(config);
    const backends = backendSettings(config);
    // Event names become label values only when some backend has a transformer for them (bounded cardinality).
    const metrics: ServiceMetrics | undefined =
      config.metricsPort > 0 ? createServiceMetrics((name) => backends.some((b) => b.registry.has(name))) : undefined;
    const delivery = config.deliveryEnabled
      ? await startDelivery({
          nc,
          names,
          routers,
          defaults,
          caliperSensorId: caliperSensorId(config, config.caliperSensorId),
          logger,
          ...(metrics ? { metrics: metrics.recorder } : {}),
          failedMaxBytes: config.failedMaxBytes,
        })
      : undefined;
    if (delivery) cleanup.unshift(() => delivery.stop());

    const tokens = resolveTokens(config);
    const pipeline = {
      settings: { lmsRootUrl: config.lmsRootUrl, transformerVersion: config.transformerVersion, agentIfiType: config.agentIfiType },
      backends,
      directories,
      routers,
      names,
      logger,
      ...(metrics ? { observe: emitObserver(metrics.recorder) } : {}),
    };
    const statementLog = new StatementLog({
      destinations: { xapi: config.xapiStatementLog, caliper: config.caliperStatementLog },
      maxBytes: config.statementLogMaxBytes,
      maxFiles: config.statementLogMaxFiles,
    });
    cleanup.push(() => statementLog.close());
    // Fed from the delivery stream (statement-log-reader.ts), not from PubAcks: a late PubAck still gets logged.
    // Registered even with the logs off, so the alert rules' metrics always exist (deploy/prometheus/alerts.yml).
    const statementLogObserver = metrics ? statementLogMetrics(metrics.registry) : undefined;
    for (const backend of statementLog.backends) {
      const reader = new StatementLogReader({
        js: jetstream(nc),
        jsm: await jetstreamManager(nc),
        names,
        backend,
        log: statementLog,
        logger,
        inactiveThresholdMs: config.deliveryMaxAgeHours * 3_600_000,
        observer: statementLogObserver,
        maxPayload: () => nc.info?.max_payload,
      });
      await reader.start();
      cleanup.unshift(() => reader.stop());
    }
    const publisher = new StatementPublisher(jetstream(nc), {
      timeoutMs: PUBLISH_TIMEOUT_MS,
      streamName: names.deliveryStream,
      maxPayload: () => nc.info?.max_payload,
      logger,
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
        createFailedRpc(new FailedStore(jetstream(nc), await jetstreamManager(nc), names, (id) => routers.get(id)), {
          logger,
        }),
    });
    const rejectedStream = new RejectedStream(await jetstreamManager(nc), ingestNames(config.natsPrefix));
    const server = await startServer({
      host: config.host,
      port: config.port,
      readMaxBytes: config.readMaxBytes,
      maxTimeoutMs: config.maxTimeoutMs,
      interceptors: [
        ...(metrics ? [metricsInterceptor(metrics.recorder)] : []),
        ...standardInterceptors({ logger, logRpcs: config.logRpcs, tokens }),
      ],
      health,
      rpcLog: config.logRpcs ? logger : rpcErrorsOnly(logger),
      http,
      register(router) {
        router.service(EventRoutingService, eventRouting);
        router.service(
          RouterAdminService,
          createRouterAdminService({
            store: routers,
            deliveryDefaults: defaults,
            enabledBackends: new Set(backends.filter((b) => b.enabled).map((b) => b.backend)),
            logger,
            caliperSensorId: caliperSensorId(config, config.caliperSensorId),
            ...(delivery ? { status: delivery.status } : {}),
          }),
          ADMIN_SERVICE_OPTIONS,
        );
        router.service(
          DirectoryAdminService,
          createDirectoryAdminService({ identities: directories.identities, courses: directories.courses }),
          ADMIN_SERVICE_OPTIONS,
        );
        router.service(
          IngestAdminService,
          createIngestAdminService({
            eventBus: ingest.eventBus,
            natsIngest: ingest.natsIngest,
            rejected: rejectedStream,
          }),
          ADMIN_SERVICE_OPTIONS,
        );
      },
    });
    listeners.push(() => server.shutdown(0));
    // The console shares the RPC handler (same auth); closed with the main port so no call outlives shutdown.
    const consoleServer =
      config.consolePort === undefined
        ? undefined
        : await startConsoleServer({
            host: config.host,
            port: config.consolePort,
            rpcHandler: server.handler,
            assetsDir: defaultAssetsDir(),
            settings: { natsPrefix: config.natsPrefix },
            http,
          });
    if (consoleServer) listeners.unshift(() => consoleServer.close(0));
    void bindHealthToNats(nc.status(), server.health);
    if (delivery) cleanup.unshift(bindHealthToDelivery(delivery.health, server.health));
    const metricsServer = metrics
      ? await startMetricsServer({
          host: config.host,
          port: config.metricsPort,
          metrics,
          logger,
          sources: {
            nc,
            jsm: await jetstreamManager(nc),
            names,
            // Without delivery here, the consumers' numbers still come from JetStream; the state is NOT_RUNNING_HERE.
            status:
              delivery?.status ??
              createStatusProvider({
                jsm: await jetstreamManager(nc),
                names,
                routers,
                stats: new StatsRegistry(),
                failed: new FailedStore(jetstream(nc), await jetstreamManager(nc), names, (id) => routers.get(id)),
                isRunning: () => false,
              }),
            inputs: [
              ...(ingest.eventBus
                ? [{ input: "event-bus-redis", stats: ingest.eventBus.stats, serving: () => serving(HEALTH_EVENT_BUS_REDIS) }]
                : []),
              ...(ingest.natsIngest ? [{ input: "nats", stats: ingest.natsIngest.stats, serving: () => serving(HEALTH_NATS_INGEST) }] : []),
            ],
          },
        })
      : undefined;
    if (metricsServer) cleanup.unshift(() => metricsServer.close());
    if (metrics) {
      registerIngestLossMetrics(metrics.registry, [
        ...(ingest.eventBus ? [{ input: "event-bus-redis", stats: ingest.eventBus.stats }] : []),
        ...(ingest.natsIngest ? [{ input: "nats", stats: ingest.natsIngest.stats }] : []),
      ]);
    }
    // A deleted router's series go with it, so the label set stays the configured routers.
    if (metrics) cleanup.unshift(routers.subscribe((c) => c.kind === "delete" && metrics.forgetRouter(c.id)));
    const serving = (service: string) => server.health.status(service) === HealthCheckResponse_ServingStatus.SERVING;

    let closing: Promise<void> | undefined;
    return {
      port: server.port,
      consolePort: consoleServer?.port,
      nc,
      tokens,
      delivery,
      ingest,
      routers,
      metricsUrl: metricsServer?.url,
      close(opts = {}) {
        closing ??= (async () => {
          // Load balancers follow health: they stop sending new calls before the listeners refuse them.
          server.health.shutdown();
          if (opts.drainDelayMs) await sleep(opts.drainDelayMs);
          await Promise.all([server.shutdown(config.shutdownGraceMs), consoleServer?.close(config.shutdownGraceMs)]);
          // Every step runs even when one fails (the statement log is still closed, the NATS connection still
          // ended); the first failure is reported after.
          const failures: unknown[] = [];
          for (const step of cleanup) await Promise.resolve(step()).catch((e: unknown) => void failures.push(e));
          if (failures.length > 0) throw failures[0];
        })();
        return closing;
      },
    };
  } catch (e) {
    for (const step of [...listeners, ...cleanup]) await Promise.resolve(step()).catch(() => {});
    throw e;
  }
}
