/**
 * UpdateRouter semantics: the update_mask names the fields to take from the request (snake_case proto paths);
 * an empty mask replaces every writable field. Secrets (password, token, header values) follow router-secrets.ts:
 * empty keeps the stored value, except that an endpoint_url change needs them all again.
 */
import { ValidationError } from "../errors.js";
import type { RouterDeliverySettings } from "../routing/router-model.js";
import type { RouterInput } from "../routing/router-validation.js";
import { carrySecrets } from "./router-secrets.js";

const TOP: Readonly<Record<string, keyof RouterInput>> = {
  display_name: "displayName",
  backend: "backend",
  endpoint_url: "endpointUrl",
  auth: "auth",
  enabled: "enabled",
  match_params: "matchParams",
  override_args: "overrideArgs",
  headers: "headers",
  delivery: "delivery",
};

const DELIVERY: Readonly<Record<string, keyof RouterDeliverySettings>> = {
  batch_size: "batchSize",
  batch_interval: "batchIntervalMs",
  max_retries: "maxRetries",
  countdown: "countdownMs",
  backoff: "backoffMs",
  http_timeout: "httpTimeoutMs",
  critical_events: "criticalEvents",
  exhausted: "exhausted",
  rate_limit: "rateLimit",
};

const OUTPUT_ONLY = new Set(["create_time", "update_time", "revision", "incarnation"]);

export function applyUpdateMask(current: RouterInput, patch: RouterInput, paths: readonly string[]): RouterInput {
  let next: RouterInput;
  if (paths.length === 0) {
    next = { ...patch, id: current.id };
  } else {
    const out: Record<string, unknown> = { ...current, delivery: { ...current.delivery } };
    const delivery = out["delivery"] as Record<string, unknown>;
    paths.forEach((p, i) => {
      const field = `update_mask.paths[${i}]`;
      if (p === "id") {
        if (patch.id !== current.id) throw new ValidationError(field, "the router id cannot be changed");
        return;
      }
      if (OUTPUT_ONLY.has(p)) throw new ValidationError(field, `${p} is output only`);
      const top = TOP[p];
      if (top) {
        out[top] = top === "delivery" ? { ...patch.delivery } : patch[top];
        return;
      }
      const sub = p.startsWith("delivery.") ? DELIVERY[p.slice("delivery.".length)] : undefined;
      if (!sub) throw new ValidationError(field, `unknown or non-updatable field ${JSON.stringify(p)}`);
      if (patch.delivery[sub] === undefined) delete delivery[sub];
      else delivery[sub] = patch.delivery[sub];
    });
    next = out as unknown as RouterInput;
  }
  const fromRequest = (path: string): boolean => paths.length === 0 || paths.includes(path);
  return carrySecrets(current, next, { authFromRequest: fromRequest("auth"), headersFromRequest: fromRequest("headers") });
}
