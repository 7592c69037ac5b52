/**
 * Service configuration: environment variables parsed once at start-up into a typed object. A bad value stops
 * start-up with a message naming the variable and the accepted form; `--help` prints this table.
 */
import { existsSync, statSync } from "node:fs";
import { z } from "zod";
import { compileLinearPrefix, RegexSyntaxError } from "./linear-regex.js";
import type { AgentIfiType } from "./transform/transform-env.js";
import { withoutUserinfo } from "./url-userinfo.js";
import { PACKAGE_NAME, PACKAGE_VERSION } from "./version.js";

interface VarSpec<T> {
  readonly name: string;
  readonly description: string;
  /** Raw default, parsed like a set value; "(...)" texts are descriptions of computed defaults, not values. */
  readonly defaultText: string;
  readonly schema: z.ZodType<T>;
  /**
   * Values that must never be shown: "value", the whole value (tokens, keys), is left out of every error;
   * "userinfo", a URL that may carry a password, is shown without its user info (url-userinfo.ts).
   */
  readonly secret?: "value" | "userinfo";
}

const bool = z
  .enum(["true", "false", "1", "0", "yes", "no"], { error: "expected true or false" })
  .transform((v) => v === "true" || v === "1" || v === "yes");
const positiveInt = z.coerce
  .number({ error: "expected a whole number" })
  .int("expected a whole number")
  .positive("expected a number above 0");
const nonNegativeInt = z.coerce.number({ error: "expected a whole number" }).int("expected a whole number").min(0, "expected 0 or more");
const list = z.string().transform((v) =>
  v
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== ""),
);
/** Event-name regexes, checked here with the engine the filter uses, so a bad one names its variable. */
const regexList = list.superRefine((patterns, ctx) => {
  for (const p of patterns) {
    try {
      compileLinearPrefix(p);
    } catch (e) {
      if (!(e instanceof RegexSyntaxError)) throw e;
      ctx.addIssue({ code: "custom", message: e.message });
      return;
    }
  }
});
const httpUrl = z
  .string()
  .url("expected an http(s) URL")
  .refine((u) => /^https?:\/\//.test(u), "expected an http(s) URL")
  .transform((u) => u.replace(/\/+$/, ""));

/**
 * NATS server URLs as nats.js takes them: nats://, tls://, ws:// or wss:// (or a bare host:port), comma-separated.
 * Checked here so a typo names the variable instead of failing later inside the client. User info
 * (`nats://user:pass@host`, `nats://token@host`) is taken as the nats CLI takes it (src/nats/connection.ts), so every
 * entry that has some must have the same; messages show the entries without it.
 */
const natsUrlList = z.string().superRefine((value, ctx) => {
  const credentials = new Set<string>();
  for (const entry of value.split(",").map((s) => s.trim())) {
    const withScheme = /^[a-z]+:\/\//i.test(entry) ? entry : `nats://${entry}`;
    let url: URL | undefined;
    try {
      url = new URL(withScheme);
    } catch {
      url = undefined;
    }
    const ok =
      url !== undefined &&
      /^(nats|tls|ws|wss):$/.test(url.protocol) &&
      url.hostname !== "" &&
      (url.pathname === "" || url.pathname === "/");
    if (!ok) {
      ctx.addIssue({
        code: "custom",
        message: `"${withoutUserinfo(entry)}" is not a NATS server URL; expected nats://host:4222 (tls://, ws://, wss:// too), comma-separated for a cluster`,
      });
      return;
    }
    if (url!.username !== "" || url!.password !== "") credentials.add(`${url!.username}:${url!.password}`);
  }
  if (credentials.size > 1) {
    ctx.addIssue({ code: "custom", message: "the URLs carry different user info; a connection has one user: give every URL the same" });
  }
});

/** Example values people copy; refused whatever their length, as a token or key that everyone knows. */
const PLACEHOLDER = /change[-_ ]?me|replace[-_ ]?me|placeholder|^<.*>$|^(.)\1*$/i;
const TOKEN_MIN = 24;
const GENERATE_HINT = "generate one with: openssl rand -hex 32";

/**
 * Bearer tokens: long enough not to be guessed, not an example's placeholder, and sendable as `Bearer <token>`.
 * Messages give the rule and the position, never the token.
 */
const tokenList = list.superRefine((tokens, ctx) => {
  tokens.forEach((t, i) => {
    const which = tokens.length > 1 ? `token ${i + 1}` : "the token";
    const problem = PLACEHOLDER.test(t)
      ? `${which} is a placeholder from an example`
      : t.length < TOKEN_MIN
        ? `${which} has ${t.length} characters; at least ${TOKEN_MIN} are needed`
        : /\s/.test(t)
          ? `${which} contains a space (it is sent as "Authorization: Bearer <token>")`
          : undefined;
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: `${problem}; ${GENERATE_HINT}` });
  });
});

/** A secret key: long enough, and not an example's placeholder. */
const secretKey = (min: number) =>
  z
    .string()
    .min(min, `expected at least ${min} characters; ${GENERATE_HINT}`)
    .refine((s) => !PLACEHOLDER.test(s), `a placeholder from an example; ${GENERATE_HINT}`);

/** A Redis URL as node-redis takes it; shown without its user info when wrong. */
const redisUrl = z.string().superRefine((value, ctx) => {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url === undefined || !/^rediss?:$/.test(url.protocol) || url.hostname === "") {
    ctx.addIssue({
      code: "custom",
      message: `"${withoutUserinfo(value)}" is not a Redis URL; expected redis://[:password@]host:6379[/db] or rediss://`,
    });
  }
});

export const DEFAULT_CRITICAL_EVENTS = [
  "edx.course.enrollment.activated",
  "edx.course.enrollment.deactivated",
  "edx.course.grade.passed.first_time",
];

function v<T>(name: string, defaultText: string, description: string, schema: z.ZodType<T>): VarSpec<T> {
  return { name, defaultText, description, schema };
}

/** Marks a variable whose value (or a URL's user info) must never be shown; see VarSpec.secret. */
function secret<T>(kind: "value" | "userinfo", spec: VarSpec<T>): VarSpec<T> {
  return { ...spec, secret: kind };
}

/** Every variable the service reads, in --help order. */
export const CONFIG_VARS = {
  host: v("HOST", "127.0.0.1", "Address to listen on (0.0.0.0 for all interfaces).", z.string().min(1)),
  port: v(
    "PORT",
    "8080",
    "Port serving gRPC, gRPC-Web and Connect (HTTP/2 and HTTP/1.1; cleartext unless TLS_CERT_FILE is set).",
    nonNegativeInt.max(65535),
  ),
  consolePort: v(
    "CONSOLE_PORT",
    "(unset)",
    "Port of the admin console (browser UI and the same RPCs, same origin, same TLS). Unset: no console.",
    nonNegativeInt.max(65535).optional(),
  ),
  tlsCertFile: v(
    "TLS_CERT_FILE",
    "(unset)",
    "PEM certificate chain: serve TLS only (h2 and HTTP/1.1 by ALPN). Needs TLS_KEY_FILE.",
    z.string().optional(),
  ),
  tlsKeyFile: v("TLS_KEY_FILE", "(unset)", "PEM private key for TLS_CERT_FILE.", z.string().optional()),
  http2MaxConcurrentStreams: v(
    "HTTP2_MAX_CONCURRENT_STREAMS",
    "100",
    "HTTP/2 streams (calls) one connection may have open at once; more are refused.",
    positiveInt.max(10_000),
  ),
  httpIdleTimeoutMs: v(
    "HTTP_IDLE_TIMEOUT_MS",
    "120000",
    "Close a client connection with no call in flight after this long, in ms.",
    positiveInt,
  ),
  maxConnections: v(
    "MAX_CONNECTIONS",
    "1000",
    "Open client connections at most; more are closed on accept (keep LimitNOFILE above it).",
    positiveInt,
  ),
  natsUrl: secret(
    "userinfo",
    v(
      "NATS_URL",
      "(unset)",
      "NATS server URL(s), comma-separated; nats://user:pass@host or nats://token@host authenticate. Unset: start a local nats-server -js child.",
      natsUrlList.optional(),
    ),
  ),
  natsServerBin: v(
    "NATS_SERVER_BIN",
    "nats-server",
    "nats-server binary for the embedded default (searched on PATH and /usr/sbin).",
    z.string().min(1),
  ),
  natsCreds: v("NATS_CREDS", "(unset)", "NATS credentials file (JWT and NKey seed).", z.string().optional()),
  natsNkeySeedFile: v(
    "NATS_NKEY_SEED_FILE",
    "(unset)",
    "File holding a NATS NKey user seed (SU...), for servers with nkey users. Not with NATS_CREDS.",
    z.string().optional(),
  ),
  natsTlsCaFile: v(
    "NATS_TLS_CA_FILE",
    "(unset)",
    "PEM CA verifying the NATS server. Any NATS_TLS_* variable makes TLS to NATS required.",
    z.string().optional(),
  ),
  natsTlsCertFile: v(
    "NATS_TLS_CERT_FILE",
    "(unset)",
    "PEM client certificate for NATS mutual TLS. Needs NATS_TLS_KEY_FILE.",
    z.string().optional(),
  ),
  natsTlsKeyFile: v("NATS_TLS_KEY_FILE", "(unset)", "PEM private key for NATS_TLS_CERT_FILE.", z.string().optional()),
  natsMonitorPort: v(
    "NATS_MONITOR_PORT",
    "(random free port)",
    "Monitoring port (/varz, /jsz, /healthz) of the embedded nats-server; the start-up banner prints its URL.",
    nonNegativeInt.max(65535).optional(),
  ),
  dataDir: v("DATA_DIR", ".data", "Directory for the embedded nats-server's store.", z.string().min(1)),
  natsPrefix: v(
    "NATS_PREFIX",
    "eventrouting",
    "Prefix of every subject, stream, bucket and consumer name (letters, digits, _).",
    z.string().regex(/^[A-Za-z0-9_]+$/, "expected letters, digits and _ only"),
  ),
  natsReplicas: v("NATS_REPLICAS", "1", "Stream and bucket replicas (3 in a NATS cluster).", positiveInt.max(5)),
  deliveryMaxAgeHours: v(
    "DELIVERY_MAX_AGE_HOURS",
    "168",
    "How long statements stay in the delivery stream, delivered or not.",
    positiveInt,
  ),
  deliveryDuplicateWindowHours: v(
    "DELIVERY_DUPLICATE_WINDOW_HOURS",
    "2",
    "How long a stored statement id makes a re-sent one a duplicate (at most DELIVERY_MAX_AGE_HOURS; docs/reliability.md).",
    positiveInt,
  ),
  deliveryMaxBytes: v(
    "DELIVERY_MAX_BYTES",
    "(8589934592, halved until the NATS server can reserve it)",
    "Largest delivery stream in bytes (0 = no limit); when full, Emit answers Unavailable (docs/delivery.md Sizing).",
    nonNegativeInt.optional(),
  ),
  advisoryMaxBytes: v(
    "ADVISORY_MAX_BYTES",
    "67108864",
    "Largest advisory stream in bytes (0 = no limit); when full, the oldest advisories are dropped.",
    nonNegativeInt,
  ),
  failedMaxBytes: v(
    "FAILED_MAX_BYTES",
    "1073741824",
    "Failed stream size in bytes above which its oldest non-critical statements are discarded, each logged and counted; critical ones never are (0 = no limit).",
    nonNegativeInt,
  ),
  lmsRootUrl: v("LMS_ROOT_URL", "http://localhost:18000", "LMS root URL: actor homePage and every IRI.", httpUrl),
  transformerVersion: v(
    "TRANSFORMER_VERSION",
    `${PACKAGE_NAME}@${PACKAGE_VERSION}`,
    "Value of the transformer-version extension.",
    z.string().min(1),
  ),
  agentIfiType: v(
    "XAPI_AGENT_IFI_TYPE",
    "external_id",
    "xAPI actor: external_id, mbox or mbox_sha1sum.",
    z.enum(["external_id", "mbox", "mbox_sha1sum"], { error: "expected external_id, mbox or mbox_sha1sum" }) as z.ZodType<AgentIfiType>,
  ),
  xapiEnabled: v("XAPI_ENABLED", "true", "Produce xAPI statements.", bool),
  caliperEnabled: v("CALIPER_ENABLED", "false", "Produce Caliper events.", bool),
  xapiEvents: v("XAPI_EVENTS", "(every name with a transformer)", "Comma-separated allowlist of event names for xAPI.", list.optional()),
  xapiEventsRegex: v(
    "XAPI_EVENTS_REGEX",
    "(unset)",
    "Comma-separated regexes (anchored at the start) filtering xAPI names; replaces XAPI_EVENTS.",
    regexList.optional(),
  ),
  xapiEventsRegexMode: v(
    "XAPI_EVENTS_REGEX_MODE",
    "allowlist",
    "allowlist or blocklist, for XAPI_EVENTS_REGEX.",
    z.enum(["allowlist", "blocklist"]),
  ),
  caliperEvents: v(
    "CALIPER_EVENTS",
    "(every name with a transformer)",
    "Comma-separated allowlist of event names for Caliper.",
    list.optional(),
  ),
  caliperEventsRegex: v(
    "CALIPER_EVENTS_REGEX",
    "(unset)",
    "Comma-separated regexes filtering Caliper names; replaces CALIPER_EVENTS.",
    regexList.optional(),
  ),
  caliperEventsRegexMode: v(
    "CALIPER_EVENTS_REGEX_MODE",
    "allowlist",
    "allowlist or blocklist, for CALIPER_EVENTS_REGEX.",
    z.enum(["allowlist", "blocklist"]),
  ),
  caliperSensorId: v("CALIPER_SENSOR_ID", "(LMS_ROOT_URL)", "Caliper envelope sensor id.", z.string().min(1).optional()),
  identityHmacSecret: secret(
    "value",
    v(
      "IDENTITY_HMAC_SECRET",
      "(generated once, kept in NATS)",
      "Key deriving external ids for users not in the identity table (at least 16 characters).",
      secretKey(16).optional(),
    ),
  ),
  coursesFile: v(
    "COURSES_FILE",
    "(unset)",
    "CSV (course_id,name) or JSON ({course_id: name}) with course names, read at start.",
    z
      .string()
      .refine(
        (f) => existsSync(f) && statSync(f).isFile(),
        "file not found; expected the path of a CSV (course_id,name) or JSON ({course_id: name}) file",
      )
      .optional(),
  ),
  emitTokens: secret(
    "value",
    v(
      "EMIT_TOKENS",
      "(generated: shown on a terminal, else written to DATA_DIR/generated-tokens.env)",
      "Comma-separated bearer tokens allowed to call Emit, EmitBatch, Transform and TransformBatch (each at least 24 characters).",
      tokenList.optional(),
    ),
  ),
  adminTokens: secret(
    "value",
    v(
      "ADMIN_TOKENS",
      "(generated: shown on a terminal, else written to DATA_DIR/generated-tokens.env)",
      "Comma-separated bearer tokens allowed to call every RPC (each at least 24 characters).",
      tokenList.optional(),
    ),
  ),
  emitBatchMax: v("EMIT_BATCH_MAX", "1000", "Most events in one EmitBatch call.", positiveInt),
  readMaxBytes: v("READ_MAX_BYTES", "4194304", "Largest request message in bytes.", positiveInt),
  maxTimeoutMs: v("MAX_TIMEOUT_MS", "60000", "Largest client deadline accepted, in ms.", positiveInt),
  shutdownGraceMs: v("SHUTDOWN_GRACE_MS", "10000", "On SIGTERM, how long in-flight calls may finish.", nonNegativeInt),
  shutdownDrainDelayMs: v(
    "SHUTDOWN_DRAIN_DELAY_MS",
    "5000",
    "On SIGTERM, how long health reports NOT_SERVING while the ports still accept calls, so load balancers stop sending traffic before they close (then SHUTDOWN_GRACE_MS).",
    nonNegativeInt,
  ),
  metricsPort: v(
    "METRICS_PORT",
    "0",
    "Port serving Prometheus metrics at GET /metrics on HOST (0 = metrics off); docs/operations.md lists them.",
    nonNegativeInt.max(65535),
  ),
  logLevel: v(
    "LOG_LEVEL",
    "info",
    "pino level: fatal, error, warn, info, debug, trace, silent.",
    z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]),
  ),
  logFormat: v(
    "LOG_FORMAT",
    "(pretty on a terminal, else json)",
    "json: one JSON line per log entry (pino), for machines; pretty: one readable line each, for a developer.",
    z.enum(["json", "pretty"]).optional(),
  ),
  logRpcs: v("LOG_RPCS", "true", "Log one line per RPC.", bool),
  deliveryEnabled: v("DELIVERY_ENABLED", "true", "Run delivery workers in this instance.", bool),
  deliveryBatchSize: v("DELIVERY_BATCH_SIZE", "100", "Default statements per HTTP request.", positiveInt.max(10_000)),
  deliveryBatchIntervalMs: v("DELIVERY_BATCH_INTERVAL_MS", "5000", "Default longest wait before a partial batch is sent.", positiveInt),
  deliveryMaxRetries: v("DELIVERY_MAX_RETRIES", "3", "Default retries after the first attempt.", nonNegativeInt.max(100)),
  deliveryCountdownMs: v("DELIVERY_COUNTDOWN_MS", "30000", "Default wait before a retry (consumer ack wait).", positiveInt),
  deliveryHttpTimeoutMs: v("DELIVERY_HTTP_TIMEOUT_MS", "10000", "Default HTTP timeout; must be below the countdown.", positiveInt),
  criticalEvents: v(
    "CRITICAL_EVENTS",
    DEFAULT_CRITICAL_EVENTS.join(","),
    "Events whose exhausted statements are never discarded from the failed stream (the others may be: FAILED_MAX_BYTES).",
    list,
  ),
  // ---- Inputs beside Emit (src/ingest/): the Open edX event bus on Redis, named as Open edX names them ----
  eventBusRedisUrl: secret(
    "userinfo",
    v(
      "EVENT_BUS_REDIS_CONNECTION_URL",
      "(unset)",
      "Redis of the Open edX event bus (event-bus-redis), e.g. redis://:password@redis:6379/0. Unset: the Redis input is off.",
      redisUrl.optional(),
    ),
  ),
  eventBusTopicPrefix: v(
    "EVENT_BUS_TOPIC_PREFIX",
    "(unset)",
    "The LMS's EVENT_BUS_TOPIC_PREFIX: the stream read is <prefix>-<topic>, or <topic> without a prefix.",
    z.string().optional(),
  ),
  eventBusTrackingTopic: v(
    "EVENT_BUS_TRACKING_TOPIC",
    "analytics",
    "Topic the LMS sends tracking events to (EVENT_BUS_PRODUCER_CONFIG).",
    z.string().min(1),
  ),
  eventBusConsumerGroup: v(
    "EVENT_BUS_CONSUMER_GROUP",
    "event_routing",
    "Redis consumer group, shared by every instance of this service.",
    z.string().min(1),
  ),
  eventBusConsumerName: v(
    "EVENT_BUS_CONSUMER_NAME",
    "(host name)",
    "This instance's consumer name in the group; unique per instance, stable across its restarts.",
    z.string().min(1).optional(),
  ),
  eventBusStartId: v(
    "EVENT_BUS_GROUP_START",
    "0",
    "Where a new consumer group starts: 0 = every entry still in the stream, $ = only new entries.",
    z.enum(["0", "$"], { error: "expected 0 or $" }),
  ),
  eventBusBatchSize: v("EVENT_BUS_BATCH_SIZE", "100", "Entries per XREADGROUP, stored with one pipelined publish.", positiveInt.max(1000)),
  eventBusClaimIdleMs: v(
    "EVENT_BUS_CLAIM_IDLE_MS",
    "60000",
    "Entries pending this long in another consumer (crashed) are claimed, in ms.",
    positiveInt,
  ),
  natsIngestEnabled: v(
    "NATS_INGEST_ENABLED",
    "true",
    "Consume raw events published to <NATS_PREFIX>.ingest.> (stream <PREFIX>_INGEST).",
    bool,
  ),
  // ---- Statement logs (src/output/statement-log.ts): a copy of every statement stored, for log shippers ----
  xapiStatementLog: v(
    "XAPI_STATEMENT_LOG",
    "(off)",
    "NDJSON line per xAPI statement stored (with its router ids): stdout, or a file path (rotated by size).",
    z.string().min(1).optional(),
  ),
  caliperStatementLog: v(
    "CALIPER_STATEMENT_LOG",
    "(off)",
    "The same for Caliper events: stdout, or a file path (may be the xAPI one).",
    z.string().min(1).optional(),
  ),
  statementLogMaxBytes: v(
    "STATEMENT_LOG_MAX_BYTES",
    "104857600",
    "A statement log file is rotated when it reaches this size (FILE.1, FILE.2, ...).",
    positiveInt,
  ),
  statementLogMaxFiles: v("STATEMENT_LOG_MAX_FILES", "5", "Rotated statement log files kept.", positiveInt.max(1000)),
} as const;

type Vars = typeof CONFIG_VARS;
export type Config = { readonly [K in keyof Vars]: Vars[K] extends VarSpec<infer T> ? T : never };

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** How a bad value is named in an error: NAME="value", without what VarSpec.secret hides. */
function shown(spec: VarSpec<unknown>, raw: string | undefined): string {
  if (spec.secret === "value") return `${spec.name} (value not shown)`;
  const value = raw !== undefined && spec.secret === "userinfo" ? withoutUserinfo(raw) : raw;
  return `${spec.name}=${JSON.stringify(value)}`;
}

function rawDefault(spec: VarSpec<unknown>): string | undefined {
  return spec.defaultText.startsWith("(") ? undefined : spec.defaultText;
}

/** Parses the environment; throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, spec] of Object.entries(CONFIG_VARS) as Array<[keyof Vars, VarSpec<unknown>]>) {
    const raw = env[spec.name];
    const value = raw === undefined || raw === "" ? rawDefault(spec) : raw;
    const parsed = spec.schema.safeParse(value);
    if (parsed.success) out[key] = parsed.data;
    else problems.push(`${shown(spec, raw)}: ${parsed.error.issues[0]?.message ?? "invalid"} (${spec.description})`);
  }
  if (problems.length === 0 && (out["deliveryHttpTimeoutMs"] as number) >= (out["deliveryCountdownMs"] as number)) {
    problems.push("DELIVERY_HTTP_TIMEOUT_MS must be below DELIVERY_COUNTDOWN_MS, or a slow request is redelivered while in flight");
  }
  if (problems.length === 0 && (out["deliveryDuplicateWindowHours"] as number) > (out["deliveryMaxAgeHours"] as number)) {
    problems.push(
      "DELIVERY_DUPLICATE_WINDOW_HOURS must not exceed DELIVERY_MAX_AGE_HOURS: JetStream keeps no id longer than the stream keeps its statements",
    );
  }
  const pair = (a: string, b: string, why: string): void => {
    if ((env[a] ?? "") !== "" && (env[b] ?? "") === "") problems.push(`${a} is set but ${b} is not: ${why}`);
  };
  pair("TLS_CERT_FILE", "TLS_KEY_FILE", "TLS needs both");
  pair("TLS_KEY_FILE", "TLS_CERT_FILE", "TLS needs both");
  pair("NATS_TLS_CERT_FILE", "NATS_TLS_KEY_FILE", "a client certificate needs its key");
  pair("NATS_TLS_KEY_FILE", "NATS_TLS_CERT_FILE", "a client key needs its certificate");
  if ((env["NATS_CREDS"] ?? "") !== "" && (env["NATS_NKEY_SEED_FILE"] ?? "") !== "") {
    problems.push("NATS_CREDS and NATS_NKEY_SEED_FILE are both set: choose one way to authenticate to NATS");
  }
  const natsUrl = env["NATS_URL"] ?? "";
  if (withoutUserinfo(natsUrl) !== natsUrl && ((env["NATS_CREDS"] ?? "") !== "" || (env["NATS_NKEY_SEED_FILE"] ?? "") !== "")) {
    problems.push("NATS_URL carries a user or token and NATS_CREDS / NATS_NKEY_SEED_FILE is set: choose one way to authenticate to NATS");
  }
  if (problems.length === 0) problems.push(...portClashes(out as Config));
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`);
  return out as Config;
}

/** Two listeners given one port: refused here, rather than the second failing with "in use" after the first took it. */
function portClashes(c: Config): string[] {
  // 0 is "off" for METRICS_PORT and "any free port" for the others: never a clash.
  const ports = (
    [
      ["PORT", c.port],
      ["METRICS_PORT", c.metricsPort],
      ["CONSOLE_PORT", c.consolePort],
    ] as Array<[string, number | undefined]>
  ).filter((p): p is [string, number] => p[1] !== undefined && p[1] > 0);
  const out: string[] = [];
  ports.forEach(([a, port], i) => {
    for (const [b, other] of ports.slice(i + 1)) {
      if (other === port) out.push(`${a} and ${b} are both ${port}: each listener needs a port of its own`);
    }
  });
  return out;
}

/** The --help text: every variable with its default. */
export function configHelp(): string {
  const rows = Object.values(CONFIG_VARS).map(
    (s: VarSpec<unknown>) =>
      `  ${s.name.padEnd(28)} ${s.description}${s.secret ? ` Secret: ${s.secret === "value" ? "never shown" : "shown without user info"}.` : ""}\n` +
      `  ${"".padEnd(28)} default: ${s.defaultText}`,
  );
  return `event-routing: Open edX events to xAPI and Caliper, delivered through NATS JetStream.\n\nUsage: npm start [-- --help]\n\nEnvironment variables:\n${rows.join("\n")}\n`;
}
