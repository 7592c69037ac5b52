/**
 * grpc.health.v1 (Check, Watch, List) with statuses that callers set, plus an adapter that keeps the service
 * NOT_SERVING while NATS is unreachable. Hand-written: no Connect-compatible health package exists.
 */
import { EventEmitter, on } from "node:events";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  type Health,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
  type HealthCheckRequest,
  type HealthCheckResponse,
} from "../../gen/grpc/health/v1/health_pb.js";

export { ServingStatus };

/** The overall status, as in the gRPC health protocol. */
export const OVERALL = "";

/**
 * For liveness probes: SERVING whenever the process answers a call, whatever NATS or a shutdown says. A liveness
 * probe that followed NATS would restart every instance during a NATS outage (a restart does not bring NATS back);
 * one on TCP passes even when the event loop is stuck, since the kernel accepts connections by itself.
 */
export const LIVENESS = "eventrouting.Liveness";

export class HealthRegistry {
  private readonly base = new Map<string, ServingStatus>([[OVERALL, ServingStatus.SERVING]]);
  // Dependencies currently down; any entry makes every service NOT_SERVING without forgetting the set statuses.
  private readonly down = new Set<string>();
  private shuttingDown = false;
  private readonly changes = new EventEmitter().setMaxListeners(0);

  /** Sets one service's own status ("" = overall). */
  set(service: string, status: ServingStatus): void {
    this.base.set(service, status);
    this.changed();
  }

  /** Adds a service as SERVING unless it already has a status. */
  add(service: string): void {
    if (!this.base.has(service)) this.set(service, ServingStatus.SERVING);
  }

  /** Marks a dependency (e.g. "nats") up or down; while any is down, everything reports NOT_SERVING. */
  setDependency(name: string, healthy: boolean): void {
    if (healthy ? !this.down.delete(name) : this.down.has(name)) return;
    if (!healthy) this.down.add(name);
    this.changed();
  }

  /** Final: everything NOT_SERVING from now on, whatever is set later; open Watch streams end. */
  shutdown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.changed();
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Effective status, or undefined for a service never registered. */
  status(service: string): ServingStatus | undefined {
    // Answered, not listed: List reports what the service serves.
    if (service === LIVENESS) return ServingStatus.SERVING;
    const own = this.base.get(service);
    if (own === undefined) return undefined;
    return this.shuttingDown || this.down.size > 0 ? ServingStatus.NOT_SERVING : own;
  }

  /** Effective status of every registered service. */
  statuses(): Map<string, ServingStatus> {
    return new Map([...this.base.keys()].map((s) => [s, this.status(s) ?? ServingStatus.UNKNOWN]));
  }

  readonly impl: ServiceImpl<typeof Health> = {
    check: (req) => {
      const status = this.status(req.service);
      if (status === undefined) throw new ConnectError(`unknown service ${JSON.stringify(req.service)}`, Code.NotFound);
      return response(status);
    },
    watch: (req, ctx) => this.watch(req, ctx),
    list: () => ({
      statuses: Object.fromEntries([...this.statuses()].map(([name, status]) => [name, response(status)])),
    }),
  };

  private async *watch(req: HealthCheckRequest, ctx: HandlerContext): AsyncGenerator<HealthCheckResponse> {
    // Subscribe before the first read so no change between the read and the subscription is missed.
    const changes = on(this.changes, "change", { signal: ctx.signal })[Symbol.asyncIterator]();
    const current = () => this.status(req.service) ?? ServingStatus.SERVICE_UNKNOWN;
    let last = current();
    yield response(last);
    try {
      for (;;) {
        // Re-read after every resume: changes may have happened while the client was reading the last message.
        const now = current();
        if (now !== last) {
          last = now;
          yield response(now);
        }
        // Ending the stream lets a graceful shutdown drain instead of waiting out the grace period.
        if (this.shuttingDown) throw new ConnectError("server shutting down", Code.Unavailable);
        await changes.next();
      }
    } catch (e) {
      // events.on rejects with a bare AbortError, which would reach the client as Internal.
      if (ctx.signal.aborted) throw ConnectError.from(ctx.signal.reason);
      throw e;
    } finally {
      await changes.return?.();
    }
  }

  private changed(): void {
    this.changes.emit("change");
  }
}

function response(status: ServingStatus): HealthCheckResponse {
  return create(HealthCheckResponseSchema, { status });
}

/** The part of a NATS status event this adapter reads (nc.status() of @nats-io/transport-node). */
export interface ConnectionStatusEvent {
  readonly type: string;
}

/**
 * Keeps `dependency` down in `health` while the connection is disconnected. Resolves when the status stream
 * ends (the connection closed), leaving the dependency down, since a closed connection does not come back.
 */
export async function bindHealthToNats(
  statusEvents: AsyncIterable<ConnectionStatusEvent>,
  health: HealthRegistry,
  dependency = "nats",
): Promise<void> {
  for await (const event of statusEvents) {
    if (event.type === "disconnect") health.setDependency(dependency, false);
    else if (event.type === "reconnect") health.setDependency(dependency, true);
  }
  health.setDependency(dependency, false);
}

/**
 * Health service name that reports delivery: NOT_SERVING while any router is UNHEALTHY in this instance (its
 * consumer is missing and cannot be recreated, or JetStream refuses it). The overall "" status stays tied to NATS
 * only: one broken router must not make a load balancer or orchestrator take the whole instance out, since Emit
 * and every other router still work.
 */
export const DELIVERY_HEALTH_SERVICE = "eventrouting.v1.Delivery";

/** The part of delivery this adapter reads (delivery.ts DeliveryHealth). */
export interface DeliveryHealthSource {
  unhealthy(): ReadonlyMap<string, string>;
  onChange(listener: () => void): () => void;
}

/** Keeps DELIVERY_HEALTH_SERVICE in step with `source`; returns the unsubscribe function. */
export function bindHealthToDelivery(source: DeliveryHealthSource, health: HealthRegistry): () => void {
  const update = () => health.set(DELIVERY_HEALTH_SERVICE, source.unhealthy().size > 0 ? ServingStatus.NOT_SERVING : ServingStatus.SERVING);
  update();
  return source.onChange(update);
}
