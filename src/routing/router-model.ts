/**
 * The router as stored (JSON in the routers KV bucket) and used in-process. The proto Router is only the wire
 * form; conversion lives in admin/router-convert.ts.
 */
import type { JsonObject } from "../transform/edx-event.js";
import type { BackendName } from "../transform/registry.js";

/**
 * How a router authenticates to its endpoint. Declared once, here: the admin input (router-validation.ts), the
 * stored router and the redactor (delivery/http/redact.ts) share it, so a new kind is added in one place.
 */
export type RouterAuth =
  | { readonly kind: "none" }
  | { readonly kind: "basic"; readonly username: string; readonly password: string }
  | { readonly kind: "bearer"; readonly token: string }
  | OAuth2Auth;

/**
 * OAuth 2 client credentials (RFC 6749 section 4.4): delivery fetches a bearer token from `tokenUrl`
 * (delivery/http/oauth-token.ts). The client secret is a secret like a password; `scope` and `audience` are "" when
 * not set.
 */
export interface OAuth2Auth {
  readonly kind: "oauth2";
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly scope: string;
  readonly audience: string;
}

/** At most `requests` HTTP requests to the endpoint in any window of `periodMs`, across instances. */
export interface RateLimit {
  readonly requests: number;
  readonly periodMs: number;
}

export interface MatchParam {
  /** Dotted exact path into the ORIGINAL event, e.g. "context.org_id". */
  readonly path: string;
  /** Unanchored regexes (re.search); any may match. */
  readonly patterns: readonly string[];
}

/** Per-router delivery settings; undefined fields take the service defaults (see resolveDelivery). */
export interface RouterDeliverySettings {
  readonly batchSize?: number;
  readonly batchIntervalMs?: number;
  readonly maxRetries?: number;
  readonly countdownMs?: number;
  readonly backoffMs?: readonly number[];
  readonly httpTimeoutMs?: number;
  readonly criticalEvents?: readonly string[];
  /** Which exhausted statements go to the failed stream (see ExhaustedPolicy); undefined = "all". */
  readonly exhausted?: ExhaustedPolicy;
  /** Undefined: no limit. */
  readonly rateLimit?: RateLimit;
}

/**
 * "all": every exhausted statement is kept in the failed stream; critical ones are never discarded, the others
 * may be, oldest first, when the stream is over FAILED_MAX_BYTES (failed-trim.ts). "critical": only critical
 * ones are kept and the others dropped (logged with their ids), as ERB does.
 */
export type ExhaustedPolicy = "all" | "critical";

export interface RouterConfig {
  readonly id: string;
  readonly displayName: string;
  readonly backend: BackendName;
  readonly endpointUrl: string;
  readonly auth: RouterAuth;
  readonly enabled: boolean;
  readonly matchParams: readonly MatchParam[];
  readonly overrideArgs: JsonObject;
  readonly headers: Readonly<Record<string, string>>;
  readonly delivery: RouterDeliverySettings;
  /** ISO 8601. */
  readonly createTime: string;
  readonly updateTime: string;
  /**
   * Absent for the first router under this id; for one created after a router of the same id was deleted, the
   * KV revision of that deletion. Names its own delivery subject, consumer and msg ids (nats/names.ts
   * "Incarnations"), so the deleted router's clean-up can never touch it. Set by the store, never by a client.
   */
  readonly incarnation?: number;
  /** KV revision (not stored in the value; filled in when read). */
  readonly revision: number;
}

export interface DeliveryDefaults {
  readonly batchSize: number;
  readonly batchIntervalMs: number;
  readonly maxRetries: number;
  readonly countdownMs: number;
  readonly httpTimeoutMs: number;
  readonly criticalEvents: readonly string[];
}

export interface ResolvedDelivery {
  readonly batchSize: number;
  readonly batchIntervalMs: number;
  readonly maxRetries: number;
  readonly countdownMs: number;
  readonly backoffMs: readonly number[];
  readonly httpTimeoutMs: number;
  readonly criticalEvents: ReadonlySet<string>;
  readonly exhausted: ExhaustedPolicy;
  /** Absent: no limit. */
  readonly rateLimit?: RateLimit;
}

export function resolveDelivery(router: RouterConfig, defaults: DeliveryDefaults): ResolvedDelivery {
  const d = router.delivery;
  return {
    batchSize: d.batchSize ?? defaults.batchSize,
    batchIntervalMs: d.batchIntervalMs ?? defaults.batchIntervalMs,
    maxRetries: d.maxRetries ?? defaults.maxRetries,
    countdownMs: d.countdownMs ?? defaults.countdownMs,
    backoffMs: d.backoffMs ?? [],
    httpTimeoutMs: d.httpTimeoutMs ?? defaults.httpTimeoutMs,
    criticalEvents: new Set(d.criticalEvents && d.criticalEvents.length > 0 ? d.criticalEvents : defaults.criticalEvents),
    exhausted: d.exhausted ?? "all",
    ...(d.rateLimit ? { rateLimit: d.rateLimit } : {}),
  };
}
