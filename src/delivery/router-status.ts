/**
 * GetRouterStatus data: consumer state from JetStream (shared by all instances) plus this instance's counters.
 * Implements src/routing/router-status.ts.
 */
import { NotFoundError, UnavailableError } from "../errors.js";
import type { RouterStatus, RouterStatusProvider } from "../routing/router-status.js";
import type { JetStreamManager } from "@nats-io/jetstream";
import { isConsumerNotFound } from "../nats/jetstream-errors.js";
import type { NatsNames } from "../nats/names.js";
import type { RouterSource } from "../routing/router-source.js";
import type { FailedStore } from "./failed-store.js";
import type { StatsRegistry } from "./router-stats.js";

/** The shared interface's status plus what only delivery knows. */
export interface DeliveryRouterStatus extends RouterStatus {
  /** Of `failed`: non-critical statements dropped (logged with ids), not kept in the failed stream. */
  readonly dropped: number;
}

export function createStatusProvider(deps: {
  jsm: JetStreamManager;
  names: NatsNames;
  routers: RouterSource;
  stats: StatsRegistry;
  failed: FailedStore;
}): RouterStatusProvider & { status(routerId?: string): Promise<DeliveryRouterStatus[]> } {
  return {
    async status(routerId) {
      if (routerId && !deps.routers.get(routerId)) throw new NotFoundError(`router ${routerId} not found`);
      const ids = routerId ? [routerId] : deps.routers.list().map((r) => r.id);
      return Promise.all(
        ids.map(async (id): Promise<DeliveryRouterStatus> => {
          const ci = await deps.jsm.consumers.info(deps.names.deliveryStream, deps.names.deliveryConsumer(id)).catch((e: unknown) => {
            if (isConsumerNotFound(e)) return null;
            throw new UnavailableError(`JetStream did not answer: ${(e as Error).message}`);
          });
          const s = deps.stats.peek(id);
          return {
            routerId: id,
            pending: ci?.num_pending ?? 0,
            inFlight: ci?.num_ack_pending ?? 0,
            redelivered: ci?.num_redelivered ?? 0,
            delivered: s?.delivered ?? 0,
            // "Exhausted": stored in the failed stream or, for non-critical events, dropped.
            failed: (s?.failed ?? 0) + (s?.dropped ?? 0),
            dropped: s?.dropped ?? 0,
            failedStored: await deps.failed.count(id).catch(() => 0),
            ...(s?.lastError !== undefined ? { lastError: s.lastError } : {}),
            ...(s?.lastErrorTime ? { lastErrorTime: s.lastErrorTime } : {}),
            ...(s?.lastSuccessTime ? { lastSuccessTime: s.lastSuccessTime } : {}),
          };
        }),
      );
    },
  };
}
