/**
 * RouterAdminService: CRUD on the routers bucket plus per-router delivery status. Handlers throw domain errors
 * (src/errors.ts); the server's error-mapping interceptor turns them into Connect codes.
 */
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { RouterAdminService } from "../../gen/eventrouting/v1/router_admin_service_pb.js";
import { ValidationError } from "../errors.js";
import type { DeliveryDefaults } from "../routing/router-model.js";
import type { RouterStatusProvider } from "../routing/router-status.js";
import type { RouterStore } from "../routing/router-store.js";
import { FALLBACK_DELIVERY_DEFAULTS, validateRouter, validateRouterId } from "../routing/router-validation.js";
import { routerInputFromConfig, routerInputFromProto, routerStatusToProto, routerToProto } from "./router-convert.js";
import { applyUpdateMask } from "./router-update-mask.js";

/** The part of RouterStore the admin service uses (a narrower type keeps tests and fakes simple). */
export type RouterAdminStore = Pick<RouterStore, "create" | "fetch" | "list" | "update" | "delete">;

export interface RouterAdminServiceDeps {
  readonly store: RouterAdminStore;
  /** Absent when this instance runs no delivery; GetRouterStatus then fails with FailedPrecondition. */
  readonly status?: RouterStatusProvider;
  /** The service's delivery defaults, so cross-field checks (http_timeout < countdown, ...) use effective values. */
  readonly deliveryDefaults?: DeliveryDefaults;
}

export function createRouterAdminService(deps: RouterAdminServiceDeps): ServiceImpl<typeof RouterAdminService> {
  const { store, status } = deps;
  const defaults = deps.deliveryDefaults ?? FALLBACK_DELIVERY_DEFAULTS;
  return {
    async createRouter(req) {
      if (!req.router) throw new ValidationError("router", "is required");
      const valid = validateRouter(routerInputFromProto(req.router), defaults);
      return { router: routerToProto(await store.create(valid)) };
    },

    async getRouter(req) {
      return { router: routerToProto(await store.fetch(validateRouterId(req.id))) };
    },

    async listRouters() {
      const routers = [...store.list()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      return { routers: routers.map(routerToProto) };
    },

    async updateRouter(req) {
      if (!req.router) throw new ValidationError("router", "is required");
      const patchProto = req.router;
      const id = validateRouterId(patchProto.id, "router.id");
      const paths = req.updateMask?.paths ?? [];
      const patch = routerInputFromProto(patchProto);
      const updated = await store.update(
        id,
        (current) => validateRouter(applyUpdateMask(routerInputFromConfig(current), patch, paths), defaults),
        Number(patchProto.revision),
      );
      return { router: routerToProto(updated) };
    },

    async deleteRouter(req) {
      await store.delete(validateRouterId(req.id));
      return {};
    },

    async getRouterStatus(req) {
      if (!status) throw new ConnectError("delivery is not running in this instance", Code.FailedPrecondition);
      const id = req.id === "" ? undefined : validateRouterId(req.id);
      const statuses = await status.status(id);
      return { statuses: statuses.map(routerStatusToProto) };
    },
  };
}
