/**
 * Validation of router input from admins (untrusted). The input is a plain object shaped like the proto Router
 * (camelCase, durations in milliseconds) so every error can name the proto field path, e.g.
 * "router.match_params[0].patterns[1]". Error messages never echo secret values.
 */
import { z } from "zod";
import { ValidationError } from "../errors.js";
import { ROUTER_ID_PATTERN } from "../nats/names.js";
import type { JsonObject } from "../transform/edx-event.js";
import { compileMatchParams, MatchParamError } from "./match-params.js";
import type { DeliveryDefaults, RouterAuth, RouterDeliverySettings, RouterConfig } from "./router-model.js";

/** A router as written by an admin, before validation. Field names mirror the proto Router. */
export interface RouterInput {
  readonly id: string;
  readonly displayName: string;
  /** "xapi" | "caliper"; anything else is rejected. */
  readonly backend: string;
  readonly endpointUrl: string;
  readonly auth: RouterAuth;
  readonly enabled: boolean;
  readonly matchParams: readonly { readonly path: string; readonly patterns: readonly string[] }[];
  readonly overrideArgs: unknown;
  readonly headers: Readonly<Record<string, string>>;
  /** undefined fields = service default; durations in ms. */
  readonly delivery: RouterDeliverySettings;
}

/** The writable part of a RouterConfig; the store adds times and the revision. */
export type ValidRouter = Omit<RouterConfig, "createTime" | "updateTime" | "revision" | "incarnation">;

/** Used when the caller has no configured defaults; mirrors ERB (countdown 30 s, 3 retries) and the proto docs. */
export const FALLBACK_DELIVERY_DEFAULTS: DeliveryDefaults = {
  batchSize: 100,
  batchIntervalMs: 5_000,
  maxRetries: 3,
  countdownMs: 30_000,
  httpTimeoutMs: 10_000,
  criticalEvents: [],
};

/** Set by the sender; letting a router override them would break delivery or authentication. */
export const RESERVED_HEADERS: ReadonlySet<string> = new Set(["authorization", "content-type", "x-experience-api-version"]);

/**
 * Headers that decide framing, the connection or the target rather than describing the request. A router setting
 * them could smuggle a second request (Transfer-Encoding against Content-Length, RFC 9112 6.3), hang or take over
 * the connection (Connection, Keep-Alive, Upgrade, Expect, TE, Trailer: the hop-by-hop set of RFC 9110 7.6.1),
 * send the request to another virtual host (Host), make the body unreadable (Content-Encoding) or carry session
 * state the service must not hold (Cookie, Proxy-Authorization).
 */
export const CONNECTION_HEADERS: ReadonlySet<string> = new Set([
  "host",
  "content-length",
  "transfer-encoding",
  "content-encoding",
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "proxy-authenticate",
  "te",
  "trailer",
  "upgrade",
  "expect",
  "cookie",
  "http2-settings",
]);

/** Most custom headers per router, and their total size (names + values): far below any server's header limit. */
export const MAX_HEADERS = 32;
export const MAX_HEADER_BYTES = 8192;

/**
 * Largest router as stored (JSON). NATS refuses messages above the server's max_payload (1 MiB by default) and
 * every instance holds every router in memory; real routers are a few kilobytes.
 */
export const MAX_ROUTER_BYTES = 256 * 1024;

// RFC 9110 token.
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Visible ASCII, space and tab; CR/LF would allow header injection.
const HEADER_VALUE_RE = /^[\t\x20-\x7e\x80-\xff]*$/;
const MAX_DURATION_MS = 24 * 3600_000;
// RFC 6749 appendix A: client ids and secrets are VSCHAR (printable ASCII and space); scope tokens NQCHAR.
const OAUTH_TEXT_RE = /^[\x20-\x7e]*$/;
const SCOPE_RE = /^(?:[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*)?$/;

const durationMs = z
  .number({ error: "expected a duration" })
  .int()
  .positive({ error: "expected a positive duration" })
  .max(MAX_DURATION_MS, { error: "expected at most 24h" });

const nonEmpty = (what: string) => z.string({ error: `expected ${what}` }).min(1, { error: `${what} is required` });

const authSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("none") }),
  z.object({
    kind: z.literal("basic"),
    username: nonEmpty("a username")
      .max(256)
      .refine((s) => !s.includes(":"), { error: "must not contain ':'" }),
    password: nonEmpty("a password").max(1024),
  }),
  z.object({ kind: z.literal("bearer"), token: nonEmpty("a token").max(8192) }),
  z.object({
    kind: z.literal("oauth2"),
    tokenUrl: z.string().superRefine((url, ctx) => {
      const problem = endpointUrlProblem(url);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    }),
    clientId: nonEmpty("a client id").max(1024).regex(OAUTH_TEXT_RE, { error: "expected printable characters" }),
    clientSecret: nonEmpty("a client secret").max(4096).regex(OAUTH_TEXT_RE, { error: "expected printable characters" }),
    scope: z.string().max(2048).regex(SCOPE_RE, { error: "expected space-separated scope tokens (RFC 6749 section 3.3)" }),
    audience: z.string().max(2048).regex(OAUTH_TEXT_RE, { error: "expected printable characters" }),
  }),
]);

const rateLimitSchema = z.object({
  requests: z.number().int().min(1, { error: "expected 1 to 1000000" }).max(1_000_000, { error: "expected 1 to 1000000" }),
  periodMs: z
    .number({ error: "expected a duration" })
    .int()
    .min(1000, { error: "expected 1s to 1h" })
    .max(3_600_000, { error: "expected 1s to 1h" }),
});

const routerSchema = z.object({
  id: z.string().regex(ROUTER_ID_PATTERN, {
    error: "expected 1 to 64 lower-case letters, digits, '-' or '_', starting with a letter or digit",
  }),
  displayName: z.string().max(200, { error: "expected at most 200 characters" }),
  backend: z.enum(["xapi", "caliper"], { error: "expected BACKEND_XAPI or BACKEND_CALIPER" }),
  endpointUrl: z.string().superRefine((url, ctx) => {
    const problem = endpointUrlProblem(url);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  }),
  auth: authSchema,
  enabled: z.boolean(),
  matchParams: z.array(
    z.object({
      path: z.string(),
      patterns: z.array(z.string().max(1000)).min(1, { error: "expected at least one pattern" }),
    }),
  ),
  overrideArgs: z.record(z.string(), z.unknown(), { error: "expected an object" }),
  headers: z.record(
    z.string().regex(HEADER_NAME_RE, { error: "expected a valid HTTP header name" }),
    z
      .string()
      .min(1, { error: "expected a value" })
      .max(MAX_HEADER_BYTES)
      .regex(HEADER_VALUE_RE, { error: "expected a header value without control characters" }),
  ),
  delivery: z.object({
    batchSize: z.number().int().min(1, { error: "expected 1 to 10000" }).max(10_000, { error: "expected 1 to 10000" }).optional(),
    batchIntervalMs: durationMs.optional(),
    maxRetries: z.number().int().min(0, { error: "expected 0 to 100" }).max(100, { error: "expected 0 to 100" }).optional(),
    countdownMs: durationMs.optional(),
    backoffMs: z.array(durationMs).max(100).optional(),
    httpTimeoutMs: durationMs.optional(),
    criticalEvents: z.array(z.string().min(1).max(200)).max(1000).optional(),
    exhausted: z.enum(["all", "critical"]).optional(),
    rateLimit: rateLimitSchema.optional(),
  }),
});

/**
 * Why an endpoint URL is refused, or undefined. The raw text is checked as well as the parsed URL, because the
 * WHATWG parser repairs what must be refused here: "http:///x" gets host "x", tabs and newlines are dropped,
 * "http://:@host" parses with empty credentials, and "\\" counts as "/".
 */
export function endpointUrlProblem(s: string): string | undefined {
  if (s.length > 2048) return "expected at most 2048 characters";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is this check's job
  if (/[\x00-\x20\x7f-\x9f]/.test(s)) return "must not contain spaces or control characters";
  const m = /^https?:\/\/([^/?#\\]*)(?:[/?#]|$)/i.exec(s);
  if (!m) return "expected an http or https URL";
  // Credentials in the URL would be echoed by Get/List and survive an endpoint change; they belong in auth.
  if (m[1]!.includes("@")) return "must not contain credentials (set them in auth)";
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return "expected an http or https URL";
  }
  if (m[1] === "" || u.hostname === "") return "expected a host";
  return undefined;
}

const SNAKE_OVERRIDES: Readonly<Record<string, string>> = {
  "auth.username": "auth.basic.username",
  "auth.password": "auth.basic.password",
  "auth.token": "auth.bearer.token",
  "auth.token_url": "auth.oauth2.token_url",
  "auth.client_id": "auth.oauth2.client_id",
  "auth.client_secret": "auth.oauth2.client_secret",
  "auth.scope": "auth.oauth2.scope",
  "auth.audience": "auth.oauth2.audience",
  "auth.kind": "auth",
};

/** ["matchParams", 0, "patterns", 1] → "router.match_params[0].patterns[1]". */
export function protoFieldPath(path: readonly PropertyKey[], root = "router"): string {
  let out = root;
  let inHeaders = false;
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (inHeaders) out += `[${JSON.stringify(String(seg))}]`;
    // Durations are held in ms ("countdownMs") but named without the unit in the proto ("countdown").
    else
      out += `.${String(seg)
        .replace(/Ms$/, "")
        .replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`;
    inHeaders = seg === "headers";
  }
  for (const [from, to] of Object.entries(SNAKE_OVERRIDES)) {
    if (out === `${root}.${from}`) return `${root}.${to}`;
  }
  return out;
}

/**
 * Validates untrusted router input and returns the router to store. Cross-field delivery rules compare the
 * EFFECTIVE values (router setting or service default), because that is what the consumer is created with.
 */
export function validateRouter(input: unknown, defaults: DeliveryDefaults = FALLBACK_DELIVERY_DEFAULTS, root = "router"): ValidRouter {
  const parsed = routerSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ValidationError(protoFieldPath(issue.path, root), issue.message);
  }
  const r = parsed.data;

  try {
    compileMatchParams(r.matchParams);
  } catch (e) {
    if (e instanceof MatchParamError) throw new ValidationError(`${root}.${e.field}`, e.message);
    throw e;
  }

  checkHeaders(r.headers, root);

  const d = r.delivery;
  const httpTimeout = d.httpTimeoutMs ?? defaults.httpTimeoutMs;
  const countdown = d.countdownMs ?? defaults.countdownMs;
  const maxRetries = d.maxRetries ?? defaults.maxRetries;
  const backoff = d.backoffMs ?? [];
  const httpField = d.httpTimeoutMs !== undefined ? "http_timeout" : "countdown";
  if (httpTimeout >= countdown) {
    throw new ValidationError(
      `${root}.delivery.${httpField}`,
      `http_timeout (${httpTimeout} ms) must be shorter than countdown (${countdown} ms)`,
    );
  }
  backoff.forEach((ms, i) => {
    // The ack deadline of each retry; a shorter one would redeliver while the HTTP request is still running.
    if (ms <= httpTimeout)
      throw new ValidationError(`${root}.delivery.backoff[${i}]`, `must be longer than http_timeout (${httpTimeout} ms)`);
  });
  // nats-server 2.9 requires max_deliver (= max_retries + 1) > backoff length.
  if (backoff.length > maxRetries) {
    throw new ValidationError(
      `${root}.delivery.backoff`,
      `has ${backoff.length} entries but max_retries is ${maxRetries}; at most one entry per retry`,
    );
  }

  const valid: ValidRouter = {
    id: r.id,
    displayName: r.displayName,
    backend: r.backend,
    endpointUrl: r.endpointUrl,
    auth: r.auth,
    enabled: r.enabled,
    matchParams: r.matchParams.map((m) => ({ path: m.path, patterns: [...m.patterns] })),
    overrideArgs: r.overrideArgs as JsonObject,
    headers: { ...r.headers },
    delivery: stripUndefined({
      ...d,
      backoffMs: backoff.length > 0 ? [...backoff] : undefined,
      criticalEvents: d.criticalEvents && d.criticalEvents.length > 0 ? [...d.criticalEvents] : undefined,
    }),
  };
  const bytes = Buffer.byteLength(JSON.stringify(valid));
  if (bytes > MAX_ROUTER_BYTES) throw new ValidationError(root, `is ${bytes} bytes as JSON; at most ${MAX_ROUTER_BYTES} are accepted`);
  return valid;
}

/** Header rules the schema cannot state: names set by the sender or by HTTP itself, duplicates, count and size. */
function checkHeaders(headers: Readonly<Record<string, string>>, root: string): void {
  const seen = new Set<string>();
  let bytes = 0;
  for (const [name, value] of Object.entries(headers)) {
    const field = `${root}.headers[${JSON.stringify(name)}]`;
    const lower = name.toLowerCase();
    if (RESERVED_HEADERS.has(lower)) throw new ValidationError(field, "is set by the sender and cannot be overridden");
    if (CONNECTION_HEADERS.has(lower)) throw new ValidationError(field, "controls HTTP framing or the connection and cannot be set");
    if (seen.has(lower)) throw new ValidationError(field, "is given twice (header names are case-insensitive)");
    seen.add(lower);
    bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
  }
  if (seen.size > MAX_HEADERS) throw new ValidationError(`${root}.headers`, `has ${seen.size} headers; at most ${MAX_HEADERS}`);
  if (bytes > MAX_HEADER_BYTES)
    throw new ValidationError(`${root}.headers`, `are ${bytes} bytes (names and values); at most ${MAX_HEADER_BYTES}`);
}

/** A router id from a Get/Delete request. */
export function validateRouterId(id: string, field = "id"): string {
  if (!ROUTER_ID_PATTERN.test(id)) throw new ValidationError(field, "expected a router id (lower-case letters, digits, '-' or '_')");
  return id;
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
