/**
 * Delivery (DELIVERY_ENABLED): the workers that read the delivery stream and POST to the routers' endpoints.
 * Started after the stores it reads and stopped before them; stopped after the inputs and the front ends, so a
 * statement accepted while stopping is still in the stream for the next start.
 */
import type { Logger } from "pino";
import type { Config } from "../config.js";
import { type Delivery, startDelivery } from "../delivery/delivery.js";
import type { ForgottenMessages } from "../delivery/delivery-runtime.js";
import type { ServiceMetrics } from "../metrics/metrics.js";
import type { DeliveryDefaults } from "../routing/router-model.js";
import { caliperSensorId } from "../transform/caliper/envelope.js";
import type { LifecycleStack } from "./lifecycle-stack.js";
import type { NatsLayer } from "./nats.js";
import type { Stores } from "./stores.js";

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

/** The running delivery, or undefined when DELIVERY_ENABLED is false. */
export async function startDeliveryLayer(
  stack: LifecycleStack,
  { nc, names }: NatsLayer,
  { routers }: Stores,
  config: Config,
  logger: Logger,
  metrics: ServiceMetrics | undefined,
  forgotten: ForgottenMessages,
): Promise<Delivery | undefined> {
  if (!config.deliveryEnabled) return undefined;
  return stack.use(
    await startDelivery({
      nc,
      names,
      routers,
      defaults: deliveryDefaults(config),
      caliperSensorId: caliperSensorId(config, config.caliperSensorId),
      logger,
      ...(metrics ? { metrics: metrics.recorder } : {}),
      failedMaxBytes: config.failedMaxBytes,
      forgotten,
      replicas: config.natsReplicas,
    }),
  );
}
