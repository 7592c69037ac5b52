/**
 * Admin-time checks on a router that the stored-router schema must not make (a router stored before a check
 * existed must keep loading and delivering): refusals for new or changed values, warnings for settings that are
 * accepted but will not do what they seem to, and the non-secret summary of what an update changed (for the log).
 */
import { probeRouter } from "../delivery/http/router-probe.js";
import { ValidationError } from "../errors.js";
import type { RouterConfig } from "../routing/router-model.js";
import type { BackendName } from "../transform/registry.js";

/**
 * An xAPI router's endpoint is the LRS base URL: delivery POSTs to `<endpoint>/statements` (senders.ts), so an
 * endpoint already ending in /statements would send to .../statements/statements. Refused with what to enter.
 */
export function checkXapiEndpoint(router: Pick<RouterConfig, "backend" | "endpointUrl">): void {
  if (router.backend !== "xapi") return;
  let path: string;
  try {
    path = new URL(router.endpointUrl).pathname;
  } catch {
    return; // the schema reports a malformed URL
  }
  if (/\/statements\/*$/i.test(path)) {
    const base = router.endpointUrl.replace(/\/statements\/*(?=$|[?#])/i, "");
    throw new ValidationError(
      "router.endpoint_url",
      `an xAPI endpoint is the LRS base URL; /statements is added when sending. Enter ${base} instead of ${router.endpointUrl}`,
    );
  }
}

/** Warnings for CreateRouter / UpdateRouter responses. */
export function routerWarnings(
  router: Pick<RouterConfig, "backend" | "enabled">,
  enabledBackends: ReadonlySet<BackendName> | undefined,
): string[] {
  if (!enabledBackends || enabledBackends.has(router.backend)) return [];
  const variable = router.backend === "xapi" ? "XAPI_ENABLED" : "CALIPER_ENABLED";
  return [
    `${variable} is false on this service: no ${router.backend === "xapi" ? "xAPI statements" : "Caliper events"} are produced, ` +
      `so this router receives nothing (Emit reports FILTERED for ${router.backend}) until ${variable}=true`,
  ];
}

/** Names of the fields that differ, secrets included only as a name ("auth", "headers"), never their values. */
export function changedFields(before: RouterConfig, after: RouterConfig): string[] {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const out: string[] = [];
  for (const k of ["displayName", "backend", "endpointUrl", "enabled", "matchParams", "overrideArgs"] as const) {
    if (!same(before[k], after[k])) out.push(k);
  }
  if (!same(before.auth, after.auth)) out.push("auth");
  if (!same(before.headers, after.headers)) out.push("headers");
  if (!same(before.delivery, after.delivery)) out.push("delivery");
  return out;
}

/** How long router creation waits for the LRS's /about: creation must not hang on an endpoint that is down. */
export const CREATE_ABOUT_TIMEOUT_MS = 3000;

/**
 * At creation, an xAPI router's LRS is asked for its /about (the TestRouter probe, with the router's credentials):
 * a version list without 1.0.3, the version delivery sends, is a warning. An LRS that does not answer is no
 * warning here (it may be set up after the router); `routers test` tells that apart.
 */
export async function lrsVersionWarnings(router: RouterConfig, defaultTimeoutMs: number, caliperSensorId: string): Promise<string[]> {
  if (router.backend !== "xapi") return [];
  const timeoutMs = Math.min(router.delivery.httpTimeoutMs ?? defaultTimeoutMs, CREATE_ABOUT_TIMEOUT_MS);
  const probe = await probeRouter(router, { timeoutMs, caliperSensorId });
  return [...probe.warnings];
}
