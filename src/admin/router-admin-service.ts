/**
 * RouterAdminService: CRUD on the routers bucket plus per-router delivery status. Handlers throw domain errors
 * (src/errors.ts); the server's error-mapping interceptor turns them into Connect codes.
 */
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { RouterAdminService } from "../../gen/eventrouting/v1/router_admin_service_pb.js";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { probeRouter } from "../delivery/http/router-probe.js";
import { ValidationError } from "../errors.js";
import type { DeliveryDefaults } from "../routing/router-model.js";
import type { RouterStatusProvider } from "../routing/router-status-contract.js";
import type { RouterStore } from "../routing/router-store.js";
import { FALLBACK_DELIVERY_DEFAULTS, validateRouter, validateRouterId } from "../routing/router-validation.js";
import { routerInputFromConfig, routerInputFromProto, routerStatusToProto, routerToProto } from "./router-convert.js";
import { applyUpdateMask } from "./router-update-mask.js";
import type { Logger } from "pino";
import type { RouterConfig } from "../routing/router-model.js";
import type { BackendName } from "../transform/registry.js";
import { changedFields, checkXapiEndpoint, lrsVersionWarnings, routerWarnings } from "./router-checks.js";
import { reconcileRouter, type RouterReconcileDeps } from "./router-reconcile.js";

/** The part of RouterStore the admin service uses (a narrower type keeps tests and fakes simple). */
export type RouterAdminStore = Pick<RouterStore, "create" | "fetch" | "list" | "update" | "delete">;

export interface RouterAdminServiceDeps {
  readonly store: RouterAdminStore;
  /** Absent when this instance runs no delivery; GetRouterStatus then fails with FailedPrecondition. */
  readonly status?: RouterStatusProvider;
  /** The service's delivery defaults, so cross-field checks (http_timeout < countdown, ...) use effective values. */
  readonly deliveryDefaults?: DeliveryDefaults;
  /** Backends this service produces (XAPI_ENABLED / CALIPER_ENABLED): a router for another one gets a warning. */
  readonly enabledBackends?: ReadonlySet<BackendName>;
  /** Router changes applied are logged (id and changed field names, never values of secrets). */
  readonly logger?: Logger;
  /** TestRouter's Caliper envelope sensor (CALIPER_SENSOR_ID, else LMS_ROOT_URL), as delivery sends it. */
  readonly caliperSensorId?: string;
  /** ReconcileRouter's JetStream access and report sink; absent: the RPC answers FailedPrecondition. */
  readonly reconcile?: Pick<RouterReconcileDeps, "reconcile" | "onReport">;
}

export function createRouterAdminService(deps: RouterAdminServiceDeps): ServiceImpl<typeof RouterAdminService> {
  const defaults = deps.deliveryDefaults ?? FALLBACK_DELIVERY_DEFAULTS;
  return {
    ...routerChanges(deps, defaults),
    ...routerQueries(deps, defaults),
    reconcileRouter(req, ctx) {
      const r = deps.reconcile;
      if (!r) throw new ConnectError("reconcile is not available in this instance", Code.FailedPrecondition);
      return reconcileRouter({ store: deps.store, defaults, ...r, ...(deps.logger ? { logger: deps.logger } : {}) }, req, ctx);
    },
  };
}

type Handlers<K extends keyof ServiceImpl<typeof RouterAdminService>> = Pick<ServiceImpl<typeof RouterAdminService>, K>;

/** CreateRouter, UpdateRouter and DeleteRouter: validated, stored, and logged (ids and changed field names only). */
function routerChanges(
  deps: RouterAdminServiceDeps,
  defaults: DeliveryDefaults,
): Handlers<"createRouter" | "updateRouter" | "deleteRouter"> {
  const { store } = deps;
  return {
    async createRouter(req) {
      if (!req.router) throw new ValidationError("router", "is required");
      const valid = validateRouter(routerInputFromProto(req.router), defaults);
      checkXapiEndpoint(valid);
      const created = await store.create(valid);
      deps.logger?.info(
        { routerId: created.id, backend: created.backend, enabled: created.enabled, revision: created.revision },
        "router created",
      );
      const warnings = [
        ...routerWarnings(created, deps.enabledBackends),
        ...(await lrsVersionWarnings(created, defaults.httpTimeoutMs, deps.caliperSensorId ?? "event-routing")),
      ];
      return { router: routerToProto(created), warnings };
    },

    async updateRouter(req) {
      if (!req.router) throw new ValidationError("router", "is required");
      const patchProto = req.router;
      const id = validateRouterId(patchProto.id, "router.id");
      const paths = req.updateMask?.paths ?? [];
      const patch = routerInputFromProto(patchProto);
      let before: RouterConfig | undefined;
      const updated = await store.update(
        id,
        (current) => {
          before = current;
          const next = validateRouter(applyUpdateMask(routerInputFromConfig(current), patch, paths), defaults);
          // Only a new or changed endpoint is checked: a router stored before the rule keeps working.
          if (next.endpointUrl !== current.endpointUrl || next.backend !== current.backend) checkXapiEndpoint(next);
          return next;
        },
        Number(patchProto.revision),
      );
      deps.logger?.info(
        { routerId: id, changed: before ? changedFields(before, updated) : [], revision: updated.revision },
        "router updated",
      );
      return { router: routerToProto(updated), warnings: routerWarnings(updated, deps.enabledBackends) };
    },

    async deleteRouter(req) {
      const id = validateRouterId(req.id);
      await store.delete(id);
      deps.logger?.info({ routerId: id }, "router deleted (its consumer, backlog and secrets are removed)");
      return {};
    },
  };
}

/** GetRouter, ListRouters, TestRouter and GetRouterStatus: nothing is stored. */
function routerQueries(
  deps: RouterAdminServiceDeps,
  defaults: DeliveryDefaults,
): Handlers<"getRouter" | "listRouters" | "testRouter" | "getRouterStatus"> {
  const { store, status } = deps;
  return {
    async getRouter(req) {
      return { router: routerToProto(await store.fetch(validateRouterId(req.id))) };
    },

    async listRouters() {
      const routers = [...store.list()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      return { routers: routers.map(routerToProto) };
    },

    async testRouter(req) {
      const router = await store.fetch(validateRouterId(req.id));
      const r = await probeRouter(router, {
        timeoutMs: router.delivery.httpTimeoutMs ?? defaults.httpTimeoutMs,
        caliperSensorId: deps.caliperSensorId ?? "event-routing",
      });
      deps.logger?.info({ routerId: router.id, url: r.url, httpStatus: r.httpStatus, ok: r.ok }, "router tested");
      return {
        method: r.method,
        url: r.url,
        httpStatus: r.httpStatus,
        ok: r.ok,
        verdict: r.verdict,
        detail: r.detail,
        xapiVersions: [...r.xapiVersions],
        warnings: [...r.warnings],
        latency: durationFromMs(Math.round(r.latencyMs)),
      };
    },

    async getRouterStatus(req) {
      if (!status) throw new ConnectError("delivery is not running in this instance", Code.FailedPrecondition);
      const id = req.id === "" ? undefined : validateRouterId(req.id);
      const statuses = await status.status(id);
      return { statuses: statuses.map(routerStatusToProto) };
    },
  };
}
