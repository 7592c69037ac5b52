/**
 * GetRouterStatus data: consumer state from JetStream (shared by all instances), the oldest pending statement and
 * when the stream's age limit removes it (pending-age.ts), this instance's counters, and the delivery state this
 * instance sees (routerState below). Implements the interface of src/routing/router-status-contract.ts.
 *
 * Nothing is guessed: when JetStream does not answer (consumer info, the failed-stream count), the call fails
 * with Unavailable rather than reporting zeros.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { NotFoundError, UnavailableError } from "../../errors.js";
import { isConsumerNotFound } from "../../nats/jetstream-errors.js";
import type { NatsNames } from "../../nats/names.js";
import type { RouterConfig } from "../../routing/router-model.js";
import type { RouterSource } from "../../routing/router-source.js";
import type { RouterState, RouterStatus, RouterStatusProvider } from "../../routing/router-status-contract.js";
import type { FailedStore } from "../failed/failed-store.js";
import { deliveryMaxAgeMs, oldestPending } from "./pending-age.js";
import type { RouterStats, StatsRegistry } from "./router-stats.js";

/** The shared interface's status plus what only delivery knows. */
export interface DeliveryRouterStatus extends RouterStatus {
  /** Of `failed`: non-critical statements dropped (logged with ids), not kept in the failed stream. */
  readonly dropped: number;
}

/**
 * The state, most severe first: this instance cannot consume (UNHEALTHY) beats a refused router (PAUSED), which
 * beats failing attempts (FAILING). A disabled router is DISABLED whatever happened before; an enabled one
 * without a worker here (not set up yet) is NOT_RUNNING_HERE.
 */
export function routerState(
  router: Pick<RouterConfig, "enabled">,
  s: RouterStats | undefined,
  workerRunning: boolean,
): { state: RouterState; reason?: string } {
  if (s?.unhealthy !== undefined) return { state: "unhealthy", reason: s.unhealthy };
  if (!router.enabled) return { state: "disabled" };
  if (!workerRunning) return { state: "not_running_here" };
  if (s?.paused) return { state: "paused", reason: s.paused.reason };
  if (s?.failing) return { state: "failing", ...(s.lastError !== undefined ? { reason: s.lastError } : {}) };
  return { state: "active" };
}

export function createStatusProvider(deps: {
  jsm: JetStreamManager;
  names: NatsNames;
  routers: RouterSource;
  stats: StatsRegistry;
  failed: FailedStore;
  isRunning: (routerId: string) => boolean;
}): RouterStatusProvider & { status(routerId?: string): Promise<DeliveryRouterStatus[]> } {
  const unavailable = (e: unknown) => new UnavailableError(`JetStream did not answer: ${(e as Error).message}`);
  return {
    async status(routerId) {
      if (routerId && !deps.routers.get(routerId)) throw new NotFoundError(`router ${routerId} not found`);
      const routers = routerId ? [deps.routers.get(routerId)!] : deps.routers.list();
      const maxAgeMs = await deliveryMaxAgeMs(deps.jsm, deps.names).catch((e: unknown) => {
        throw unavailable(e);
      });
      return Promise.all(
        routers.map(async (router): Promise<DeliveryRouterStatus> => {
          const id = router.id;
          const ci = await deps.jsm.consumers
            .info(deps.names.deliveryStream, deps.names.deliveryConsumer(id, router.incarnation))
            .catch((e: unknown) => {
              if (isConsumerNotFound(e)) return null;
              throw unavailable(e);
            });
          const age = ci
            ? await oldestPending(deps.jsm, deps.names, router, ci, maxAgeMs).catch((e: unknown) => {
                throw unavailable(e);
              })
            : undefined;
          const s = deps.stats.peek(id);
          const { state, reason } = routerState(router, s, deps.isRunning(id));
          return {
            routerId: id,
            pending: ci?.num_pending ?? 0,
            inFlight: ci?.num_ack_pending ?? 0,
            redelivered: ci?.num_redelivered ?? 0,
            delivered: s?.delivered ?? 0,
            // "Exhausted": stored in the failed stream or, for non-critical events, dropped.
            failed: (s?.failed ?? 0) + (s?.dropped ?? 0),
            dropped: s?.dropped ?? 0,
            discarded: s?.discarded ?? 0,
            // FailedStore.count throws UnavailableError when it cannot count: never report 0 for "unknown".
            failedStored: await deps.failed.count(id),
            ...(s?.lastError !== undefined ? { lastError: s.lastError } : {}),
            ...(s?.lastErrorTime ? { lastErrorTime: s.lastErrorTime } : {}),
            ...(s?.lastSuccessTime ? { lastSuccessTime: s.lastSuccessTime } : {}),
            state,
            ...(reason !== undefined ? { stateReason: reason } : {}),
            ...(age ? { oldestPendingTime: age.oldest } : {}),
            ...(age?.expires ? { oldestPendingExpireTime: age.expires } : {}),
          };
        }),
      );
    },
  };
}
