/**
 * EmitBatch's `router_ids`: a backfill for one new LRS must not re-send years of events to every other router.
 * The restriction narrows the live router set the pipeline matches against (the usual rules still apply:
 * enabled, backend, match_params), so the emit pipeline itself needs no change. Admin only, because an emitter
 * that could pick routers could also starve one; unknown ids are refused rather than silently storing nothing.
 */
import { PermissionDeniedError, ValidationError } from "../errors.js";
import type { RouterSource } from "../routing/router-source.js";
import type { Role } from "../server/auth.js";

/** Checks the restriction and returns the narrowed source; the same source when no ids are given. */
export function restrictRouters(
  source: RouterSource,
  routerIds: readonly string[],
  role: Role | undefined,
  field = "router_ids",
): RouterSource {
  if (routerIds.length === 0) return source;
  if (role !== "admin") throw new PermissionDeniedError(`${field} needs an admin token`);
  routerIds.forEach((id, i) => {
    if (source.get(id) === undefined) throw new ValidationError(`${field}[${i}]`, `no router with id "${id}"`);
  });
  const allowed = new Set(routerIds);
  return {
    list: () => source.list().filter((r) => allowed.has(r.id)),
    get: (id) => (allowed.has(id) ? source.get(id) : undefined),
    subscribe: (listener) => source.subscribe(listener),
  };
}
