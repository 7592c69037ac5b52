/**
 * Proto Router ⇄ stored RouterConfig. Requests become a RouterInput (plain, proto-shaped, durations in ms) that
 * router-validation checks; responses never carry a password, a token or a header value (has_secret says a
 * password or token is stored; headers come back as names with empty values).
 */
import { create } from "@bufbuild/protobuf";
import { durationFromMs, durationMs, timestampFromDate, type Duration } from "@bufbuild/protobuf/wkt";
import { Backend } from "../../gen/eventrouting/v1/event_pb.js";
import {
  DeliverySettingsSchema,
  ExhaustedStatements,
  MatchParamSchema,
  RateLimitSchema,
  RouterAuthSchema,
  RouterSchema,
  RouterState,
  RouterStatusSchema,
  type Router,
  type RouterAuth as ProtoRouterAuth,
  type RouterStatus as ProtoRouterStatus,
} from "../../gen/eventrouting/v1/router_admin_service_pb.js";
import type { ExhaustedPolicy, RouterAuth, RouterConfig, RouterDeliverySettings } from "../routing/router-model.js";
import type { RouterState as RouterStateName, RouterStatus } from "../routing/router-status-contract.js";
import type { RouterInput } from "../routing/router-validation.js";

export function backendName(b: Backend): string {
  return b === Backend.XAPI ? "xapi" : b === Backend.CALIPER ? "caliper" : "unspecified";
}

function authInput(a: ProtoRouterAuth | undefined): RouterAuth {
  switch (a?.kind.case) {
    case "basic":
      return { kind: "basic", username: a.kind.value.username, password: a.kind.value.password };
    case "bearer":
      return { kind: "bearer", token: a.kind.value.token };
    case "oauth2": {
      const o = a.kind.value;
      return {
        kind: "oauth2",
        tokenUrl: o.tokenUrl,
        clientId: o.clientId,
        clientSecret: o.clientSecret,
        scope: o.scope,
        audience: o.audience,
      };
    }
    default:
      return { kind: "none" };
  }
}

/** Unspecified means "the default" (KEEP_ALL) and is stored as absent; an unknown number is refused by validation. */
function exhaustedFromProto(e: ExhaustedStatements): { exhausted?: ExhaustedPolicy } {
  if (e === ExhaustedStatements.UNSPECIFIED) return {};
  if (e === ExhaustedStatements.KEEP_ALL) return { exhausted: "all" };
  if (e === ExhaustedStatements.KEEP_CRITICAL) return { exhausted: "critical" };
  return { exhausted: `unknown value ${e}` as ExhaustedPolicy };
}

function exhaustedToProto(e: ExhaustedPolicy | undefined): ExhaustedStatements {
  if (e === "all") return ExhaustedStatements.KEEP_ALL;
  if (e === "critical") return ExhaustedStatements.KEEP_CRITICAL;
  return ExhaustedStatements.UNSPECIFIED;
}

const ms = (d: Duration | undefined): number | undefined => (d === undefined ? undefined : durationMs(d));

/** Request Router → unvalidated input. Proto defaults (0, empty) mean "service default". */
export function routerInputFromProto(r: Router): RouterInput {
  const d = r.delivery;
  const delivery: RouterDeliverySettings = d
    ? {
        ...(d.batchSize !== 0 ? { batchSize: d.batchSize } : {}),
        ...(d.batchInterval ? { batchIntervalMs: ms(d.batchInterval) } : {}),
        ...(d.maxRetries !== undefined ? { maxRetries: d.maxRetries } : {}),
        ...(d.countdown ? { countdownMs: ms(d.countdown) } : {}),
        ...(d.backoff.length > 0 ? { backoffMs: d.backoff.map((b) => durationMs(b)) } : {}),
        ...(d.httpTimeout ? { httpTimeoutMs: ms(d.httpTimeout) } : {}),
        ...(d.criticalEvents.length > 0 ? { criticalEvents: [...d.criticalEvents] } : {}),
        ...exhaustedFromProto(d.exhausted),
        ...(d.rateLimit ? { rateLimit: { requests: d.rateLimit.requests, periodMs: ms(d.rateLimit.period) ?? 0 } } : {}),
      }
    : {};
  return {
    id: r.id,
    displayName: r.displayName,
    backend: backendName(r.backend),
    endpointUrl: r.endpointUrl,
    auth: authInput(r.auth),
    enabled: r.enabled,
    matchParams: r.matchParams.map((m) => ({ path: m.path, patterns: [...m.patterns] })),
    overrideArgs: r.overrideArgs ?? {},
    headers: { ...r.headers },
    delivery,
  };
}

/** Stored router → input form (with secrets), the base an update mask is applied to. */
export function routerInputFromConfig(c: RouterConfig): RouterInput {
  return {
    id: c.id,
    displayName: c.displayName,
    backend: c.backend,
    endpointUrl: c.endpointUrl,
    auth: c.auth,
    enabled: c.enabled,
    matchParams: c.matchParams,
    overrideArgs: c.overrideArgs,
    headers: c.headers,
    delivery: c.delivery,
  };
}

/** The stored credentials without their secret (has_secret says one is stored); undefined for "none". */
function authToProto(a: RouterAuth): ProtoRouterAuth | undefined {
  switch (a.kind) {
    case "basic":
      return create(RouterAuthSchema, {
        kind: { case: "basic", value: { username: a.username, password: "" } },
        hasSecret: a.password !== "",
      });
    case "bearer":
      return create(RouterAuthSchema, { kind: { case: "bearer", value: { token: "" } }, hasSecret: a.token !== "" });
    case "oauth2": {
      const value = { tokenUrl: a.tokenUrl, clientId: a.clientId, clientSecret: "", scope: a.scope, audience: a.audience };
      return create(RouterAuthSchema, { kind: { case: "oauth2", value }, hasSecret: a.clientSecret !== "" });
    }
    default:
      return undefined;
  }
}

/** Stored router → response. Secrets and header values are dropped here, the only way out of the service. */
export function routerToProto(c: RouterConfig): Router {
  const d = c.delivery;
  const auth = authToProto(c.auth);
  return create(RouterSchema, {
    id: c.id,
    displayName: c.displayName,
    backend: c.backend === "xapi" ? Backend.XAPI : Backend.CALIPER,
    endpointUrl: c.endpointUrl,
    ...(auth ? { auth } : {}),
    enabled: c.enabled,
    matchParams: c.matchParams.map((m) => create(MatchParamSchema, { path: m.path, patterns: [...m.patterns] })),
    overrideArgs: c.overrideArgs,
    headers: Object.fromEntries(Object.keys(c.headers).map((name) => [name, ""])),
    delivery: create(DeliverySettingsSchema, {
      batchSize: d.batchSize ?? 0,
      ...(d.batchIntervalMs !== undefined ? { batchInterval: durationFromMs(d.batchIntervalMs) } : {}),
      ...(d.maxRetries !== undefined ? { maxRetries: d.maxRetries } : {}),
      ...(d.countdownMs !== undefined ? { countdown: durationFromMs(d.countdownMs) } : {}),
      backoff: (d.backoffMs ?? []).map((b) => durationFromMs(b)),
      ...(d.httpTimeoutMs !== undefined ? { httpTimeout: durationFromMs(d.httpTimeoutMs) } : {}),
      criticalEvents: [...(d.criticalEvents ?? [])],
      exhausted: exhaustedToProto(d.exhausted),
      ...(d.rateLimit
        ? { rateLimit: create(RateLimitSchema, { requests: d.rateLimit.requests, period: durationFromMs(d.rateLimit.periodMs) }) }
        : {}),
    }),
    createTime: timestampFromDate(new Date(c.createTime)),
    updateTime: timestampFromDate(new Date(c.updateTime)),
    revision: BigInt(c.revision),
    incarnation: BigInt(c.incarnation ?? 0),
  });
}

export function routerStatusToProto(s: RouterStatus): ProtoRouterStatus {
  return create(RouterStatusSchema, {
    routerId: s.routerId,
    pending: BigInt(s.pending),
    inFlight: BigInt(s.inFlight),
    redelivered: BigInt(s.redelivered),
    delivered: BigInt(s.delivered),
    failed: BigInt(s.failed),
    failedStored: BigInt(s.failedStored),
    dropped: BigInt(s.dropped ?? 0),
    discarded: BigInt(s.discarded ?? 0),
    lastError: s.lastError ?? "",
    ...(s.lastErrorTime ? { lastErrorTime: timestampFromDate(s.lastErrorTime) } : {}),
    ...(s.lastSuccessTime ? { lastSuccessTime: timestampFromDate(s.lastSuccessTime) } : {}),
    state: s.state ? ROUTER_STATES[s.state] : RouterState.UNSPECIFIED,
    stateReason: s.stateReason ?? "",
    ...(s.oldestPendingTime ? { oldestPendingTime: timestampFromDate(s.oldestPendingTime) } : {}),
    ...(s.oldestPendingExpireTime ? { oldestPendingExpireTime: timestampFromDate(s.oldestPendingExpireTime) } : {}),
  });
}

const ROUTER_STATES: Record<RouterStateName, RouterState> = {
  active: RouterState.ACTIVE,
  disabled: RouterState.DISABLED,
  paused: RouterState.PAUSED,
  failing: RouterState.FAILING,
  unhealthy: RouterState.UNHEALTHY,
  not_running_here: RouterState.NOT_RUNNING_HERE,
};
