/**
 * The composition root: wires one service instance from the layers in src/composition/, each registering its stop
 * on one LifecycleStack, so `close()` (and a start that fails part-way) stops what started, in reverse. Used by
 * main.ts and by end-to-end tests; the order below is the order that loses nothing on close.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { Config } from "./config.js";
import { deliveryDefaults, startDeliveryLayer } from "./composition/delivery.js";
import { httpOptions, startFrontEnds } from "./composition/front-ends.js";
import { emitPath, eventBusSettings, startInputs } from "./composition/inputs.js";
import { LifecycleStack } from "./composition/lifecycle-stack.js";
import { createMetrics, startMetricsLayer } from "./composition/metrics.js";
import { startNats } from "./composition/nats.js";
import { openStatementLog, startStatementLogReaders } from "./composition/statement-log.js";
import { openErasureLayer } from "./composition/erasure.js";
import { openStores } from "./composition/stores.js";
import type { Delivery } from "./delivery/delivery.js";
import { backendSettings } from "./ingest/backend-settings.js";
import type { IngestInputs } from "./ingest/ingest-inputs.js";
import type { RouterStore } from "./routing/router-store.js";
import { resolveTokens, type Tokens } from "./server/auth.js";
import { HealthRegistry } from "./server/health.js";

export { deliveryDefaults, eventBusSettings };

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

export async function startService(config: Config & { natsUrl: string }, logger: Logger): Promise<RunningService> {
  // Read before connecting, so a missing certificate fails start-up before anything else is opened.
  const http = httpOptions(config, logger);
  const stack = new LifecycleStack((err) => logger.error({ err }, "a further shutdown step failed"));
  return stack.build(async () => {
    // Registered first so it is closed last: the readers and the NATS drain come before the files end.
    const statementLog = openStatementLog(stack, config);
    const nats = await startNats(stack, config, logger);
    const stores = await openStores(stack, nats, config, logger);
    const erasure = await openErasureLayer(stack, nats, stores, config, logger);
    // The emit path's registries consult the custom mappings; the metrics' event labels follow the built-ins only.
    const backends = backendSettings(config, () => stores.mappings.current());
    const metrics = createMetrics(config, backendSettings(config));
    const delivery = await startDeliveryLayer(stack, nats, stores, config, logger, metrics, erasure.gate);
    const tokens = resolveTokens(config);
    const emit = emitPath(nats, stores, backends, config, logger, metrics, erasure.gate);
    await startStatementLogReaders(stack, nats, statementLog, config, logger, metrics);
    // Created before the server so the inputs can report their health from their first moment.
    const health = new HealthRegistry();
    // Stopped before delivery and NATS: a batch being stored finishes and is acknowledged at its source.
    const ingest = await startInputs(stack, nats, emit, health, config, logger);
    const front = await startFrontEnds(stack, {
      nats,
      stores,
      emit,
      backends,
      delivery,
      ingest,
      erasure,
      health,
      tokens,
      metrics,
      http,
      config,
      logger,
    });
    const metricsServer = await startMetricsLayer(stack, metrics, {
      nats,
      stores,
      delivery,
      ingest,
      health: front.server.health,
      config,
      logger,
    });
    let closing: Promise<void> | undefined;
    return {
      port: front.server.port,
      consolePort: front.consoleServer?.port,
      nc: nats.nc,
      tokens,
      delivery,
      ingest,
      routers: stores.routers,
      metricsUrl: metricsServer?.url,
      close(opts = {}) {
        // The front ends drain first (with the ports still open during the drain delay), then the stack unwinds;
        // every step runs even when one fails (the statement log is still closed, the NATS connection still
        // ended) and the first failure is reported after.
        closing ??= (async () => {
          const shutdown = new LifecycleStack((err) => logger.error({ err }, "a further shutdown step failed"));
          shutdown.defer(() => stack.disposeAsync());
          shutdown.defer(() => front.drain(opts.drainDelayMs));
          await shutdown.disposeAsync();
        })();
        return closing;
      },
    };
  });
}
