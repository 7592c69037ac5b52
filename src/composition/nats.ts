/**
 * The NATS layer: the connection and the streams every other layer uses. Built first and stopped last (only the
 * statement log outlives it), so every layer above can still acknowledge and publish while it stops.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import { connectNats, natsConnectOptions } from "../nats/connection.js";
import { logNatsStatus } from "../nats/connection-log.js";
import { natsNames, type NatsNames } from "../nats/names.js";
import { ensureStreams } from "../nats/streams.js";
import type { LifecycleStack } from "./lifecycle-stack.js";

export interface NatsLayer {
  readonly nc: NatsConnection;
  readonly names: NatsNames;
}

export async function startNats(stack: LifecycleStack, config: Config & { natsUrl: string }, logger: Logger): Promise<NatsLayer> {
  const names = natsNames(config.natsPrefix);
  const nc = await connectNats(natsConnectOptions(config, config.natsUrl));
  void logNatsStatus(nc.status(), logger);
  // Drained when NATS is there; when it is not (a shutdown during an outage), closed, so the client stops
  // reconnecting instead of keeping the process alive.
  stack.defer(() => nc.drain().catch(() => nc.close()));
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
  return { nc, names };
}
