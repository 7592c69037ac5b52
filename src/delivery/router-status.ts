/**
 * GetRouterStatus data: consumer state from JetStream (shared by all instances) plus this instance's counters.
 * The RouterStatusProvider shape is defined here because src/routing/router-status.ts did not exist yet.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsNames } from "../nats/names.js";
import type { RouterSource } from "../routing/router-source.js";
import type { FailedStore } from "./failed-store.js";
import type { StatsRegistry } from "./router-stats.js";

export interface RouterStatus {
  readonly routerId: string;
  /** Waiting for their first delivery (consumer num_pending). */
  readonly pending: number;
  /** Delivered to a worker, not yet acknowledged (num_ack_pending). */
  readonly inFlight: number;
  /** Waiting for a redelivery (num_redelivered). */
  readonly redelivered: number;
  /** Delivered by this instance since it started. */
  readonly delivered: number;
  /** Exhausted critical statements stored in the failed stream by this instance since it started. */
  readonly failed: number;
  /** Exhausted non-critical statements dropped by this instance since it started. */
  readonly dropped: number;
  /** Currently in the failed stream for this router. */
  readonly failedStored: number;
  readonly lastError?: string;
  readonly lastErrorTime?: Date;
  readonly lastSuccessTime?: Date;
}

export interface RouterStatusProvider {
  /** Every known router, or just `routerId` (empty list when it is unknown). */
  status(routerId?: string): Promise<RouterStatus[]>;
}

export function createStatusProvider(deps: {
  jsm: JetStreamManager;
  names: NatsNames;
  routers: RouterSource;
  stats: StatsRegistry;
  failed: FailedStore;
}): RouterStatusProvider {
  return {
    async status(routerId) {
      const ids = routerId ? (deps.routers.get(routerId) ? [routerId] : []) : deps.routers.list().map((r) => r.id);
      return Promise.all(
        ids.map(async (id): Promise<RouterStatus> => {
          const ci = await deps.jsm.consumers.info(deps.names.deliveryStream, deps.names.deliveryConsumer(id)).catch(() => null);
          const s = deps.stats.peek(id);
          return {
            routerId: id,
            pending: ci?.num_pending ?? 0,
            inFlight: ci?.num_ack_pending ?? 0,
            redelivered: ci?.num_redelivered ?? 0,
            delivered: s?.delivered ?? 0,
            failed: s?.failed ?? 0,
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
