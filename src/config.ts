/**
 * Service configuration: environment variables parsed once at start-up into a typed object. A bad value stops
 * start-up with a message naming the variable and the accepted form; `--help` prints this table.
 */
import { existsSync, statSync } from "node:fs";
import { z } from "zod";
import { compileLinearPrefix, RegexSyntaxError } from "./linear-regex.js";
import type { AgentIfiType } from "./transform/transform-env.js";
import { PACKAGE_NAME, PACKAGE_VERSION } from "./version.js";

interface VarSpec<T> {
  readonly name: string;
  readonly description: string;
  /** Raw default, parsed like a set value; "(...)" texts are descriptions of computed defaults, not values. */
  readonly defaultText: string;
  readonly schema: z.ZodType<T>;
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
 * Checked here so a typo names the variable instead of failing later inside the client.
 */
const natsUrlList = z.string().superRefine((value, ctx) => {
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
        message: `"${entry}" is not a NATS server URL; expected nats://host:4222 (tls://, ws://, wss:// too), comma-separated for a cluster`,
      });
      return;
    }
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
  natsUrl: v(
    "NATS_URL",
    "(unset)",
    "NATS server URL(s), comma-separated. Unset: start a local nats-server -js child.",
    natsUrlList.optional(),
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
  identityHmacSecret: v(
    "IDENTITY_HMAC_SECRET",
    "(generated once, kept in NATS)",
    "Key deriving external ids for users not in the identity table (at least 16 characters).",
    z.string().min(16, "expected at least 16 characters").optional(),
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
  emitTokens: v(
    "EMIT_TOKENS",
    "(generated and printed)",
    "Comma-separated bearer tokens allowed to call Emit, EmitBatch and Transform.",
    list.optional(),
  ),
  adminTokens: v("ADMIN_TOKENS", "(generated and printed)", "Comma-separated bearer tokens allowed to call every RPC.", list.optional()),
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
    "Events kept in the failed stream when delivery is exhausted.",
    list,
  ),
  // ---- Inputs beside Emit (src/ingest/): the Open edX event bus on Redis, named as Open edX names them ----
  eventBusRedisUrl: v(
    "EVENT_BUS_REDIS_CONNECTION_URL",
    "(unset)",
    "Redis of the Open edX event bus (event-bus-redis), e.g. redis://:password@redis:6379/0. Unset: the Redis input is off.",
    z
      .string()
      .regex(/^rediss?:\/\//, "expected a redis:// or rediss:// URL")
      .optional(),
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
    else problems.push(`${spec.name}=${JSON.stringify(raw)}: ${parsed.error.issues[0]?.message ?? "invalid"} (${spec.description})`);
  }
  if (problems.length === 0 && (out["deliveryHttpTimeoutMs"] as number) >= (out["deliveryCountdownMs"] as number)) {
    problems.push("DELIVERY_HTTP_TIMEOUT_MS must be below DELIVERY_COUNTDOWN_MS, or a slow request is redelivered while in flight");
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
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`);
  return out as Config;
}

/** The --help text: every variable with its default. */
export function configHelp(): string {
  const rows = Object.values(CONFIG_VARS).map(
    (s) => `  ${s.name.padEnd(28)} ${s.description}\n  ${"".padEnd(28)} default: ${s.defaultText}`,
  );
  return `event-routing: Open edX events to xAPI and Caliper, delivered through NATS JetStream.\n\nUsage: npm start [-- --help]\n\nEnvironment variables:\n${rows.join("\n")}\n`;
}
