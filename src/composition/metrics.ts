/**
 * Metrics (METRICS_PORT): the Prometheus registry, created before delivery and the emit path so they can record
 * into it, and the GET /metrics server, started after the front ends (its input gauges read their health). The
 * server is stopped right after the front ends have drained, so /metrics answers during the drain delay.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import type { Config } from "../config.js";
import type { Delivery } from "../delivery/delivery.js";
import { FailedStore } from "../delivery/failed/failed-store.js";
import { StatsRegistry } from "../delivery/status/router-stats.js";
import { createStatusProvider } from "../delivery/status/router-status-provider.js";
import { HEALTH_EVENT_BUS_REDIS, HEALTH_NATS_INGEST, type IngestInputs } from "../ingest/ingest-inputs.js";
import { registerIngestLossMetrics } from "../metrics/ingest-loss-metrics.js";
import { createServiceMetrics, type ServiceMetrics } from "../metrics/metrics.js";
import { type MetricsServer, startMetricsServer } from "../metrics/metrics-server.js";
import type { HealthRegistry } from "../server/health.js";
import type { BackendSettings } from "../transform/transform-event.js";
import type { LifecycleStack } from "./lifecycle-stack.js";
import type { NatsLayer } from "./nats.js";
import type { Stores } from "./stores.js";

/** The registry when METRICS_PORT is set, else undefined (nothing records). */
export function createMetrics(config: Config, backends: BackendSettings[]): ServiceMetrics | undefined {
  // Event names become label values only when some backend has a transformer for them (bounded cardinality).
  return config.metricsPort > 0 ? createServiceMetrics((name) => backends.some((b) => b.registry.has(name))) : undefined;
}

export interface MetricsDeps {
  readonly nats: NatsLayer;
  readonly stores: Stores;
  readonly delivery: Delivery | undefined;
  readonly ingest: IngestInputs;
  /** The RPC server's health, which the inputs report to. */
  readonly health: HealthRegistry;
  readonly config: Config;
  readonly logger: Logger;
}

export async function startMetricsLayer(
  stack: LifecycleStack,
  metrics: ServiceMetrics | undefined,
  deps: MetricsDeps,
): Promise<MetricsServer | undefined> {
  if (!metrics) return undefined;
  const { nats, stores, delivery, ingest, health, config, logger } = deps;
  const { nc, names } = nats;
  const { routers } = stores;
  const serving = (service: string) => health.status(service) === HealthCheckResponse_ServingStatus.SERVING;
  const metricsServer = stack.adopt(
    await startMetricsServer({
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
    }),
    (s) => s.close(),
  );
  registerIngestLossMetrics(metrics.registry, [
    ...(ingest.eventBus ? [{ input: "event-bus-redis", stats: ingest.eventBus.stats }] : []),
    ...(ingest.natsIngest ? [{ input: "nats", stats: ingest.natsIngest.stats }] : []),
  ]);
  // A deleted router's series go with it, so the label set stays the configured routers.
  stack.defer(routers.subscribe((c) => c.kind === "delete" && metrics.forgetRouter(c.id)));
  return metricsServer;
}
