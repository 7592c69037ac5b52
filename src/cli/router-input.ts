/**
 * A router for CreateRouter / UpdateRouter from a JSON or YAML file (the Router message in protobuf JSON, with
 * snake_case or camelCase names; unknown fields are an error, so a typo never silently keeps a default) or from
 * flags. Durations (delivery.batch_interval, countdown, backoff, http_timeout, and their flags) as people write
 * them: 200ms, 30s, 1m30s (duration.ts), also delivery.rate_limit.period. Secrets (basic password, bearer token,
 * OAuth 2 client secret) never come from flags, which end up in shell history and `ps`: they come from the file,
 * from EVENT_ROUTING_ROUTER_PASSWORD / _TOKEN / _CLIENT_SECRET, or from a prompt that does not echo. delivery.exhausted as a file value or the --exhausted flag: KEEP_ALL / KEEP_CRITICAL in any case,
 * with - or _, with or without the enum's EXHAUSTED_STATEMENTS_ prefix.
 */
import { readFileSync } from "node:fs";
import { create, fromJson, type JsonValue } from "@bufbuild/protobuf";
import { Backend } from "../../gen/eventrouting/v1/event_pb.js";
import {
  DeliverySettingsSchema,
  ExhaustedStatements,
  OAuth2ClientCredentialsSchema,
  RateLimitSchema,
  RouterAuthSchema,
  RouterSchema,
  type Router,
} from "../../gen/eventrouting/v1/router_admin_service_pb.js";
import { parse as parseYaml } from "yaml";
import { durationJson, durationMessage, parseDuration } from "./duration.js";
import { UsageError } from "./exit-codes.js";
import type { Io } from "./remote.js";

export const ROUTER_FLAG_OPTIONS = {
  file: { type: "string", short: "f" },
  id: { type: "string" },
  "display-name": { type: "string" },
  backend: { type: "string" },
  "endpoint-url": { type: "string" },
  enabled: { type: "boolean" },
  disabled: { type: "boolean" },
  auth: { type: "string" },
  username: { type: "string" },
  "token-url": { type: "string" },
  "client-id": { type: "string" },
  scope: { type: "string" },
  audience: { type: "string" },
  "rate-limit": { type: "string" },
  "batch-size": { type: "string" },
  "batch-interval": { type: "string" },
  "max-retries": { type: "string" },
  countdown: { type: "string" },
  "http-timeout": { type: "string" },
  exhausted: { type: "string" },
} as const;

/** The delivery flags: flag, DeliverySettings field (snake_case, the update mask path under delivery.), kind. */
const DELIVERY_FLAGS = [
  ["batch-size", "batch_size", "count"],
  ["batch-interval", "batch_interval", "duration"],
  ["max-retries", "max_retries", "count"],
  ["countdown", "countdown", "duration"],
  ["http-timeout", "http_timeout", "duration"],
] as const;

/** DeliverySettings fields that are google.protobuf.Duration (one list: backoff), by either JSON name. */
const DURATION_FIELDS = new Set(["batch_interval", "batchInterval", "countdown", "backoff", "http_timeout", "httpTimeout"]);

/** keep-critical, KEEP_CRITICAL, EXHAUSTED_STATEMENTS_KEEP_CRITICAL, ... as the enum value; undefined if none. */
export function parseExhausted(text: string): ExhaustedStatements | undefined {
  const name = text
    .trim()
    .toUpperCase()
    .replace(/-/g, "_")
    .replace(/^EXHAUSTED_STATEMENTS_/, "");
  if (name === "KEEP_ALL") return ExhaustedStatements.KEEP_ALL;
  if (name === "KEEP_CRITICAL") return ExhaustedStatements.KEEP_CRITICAL;
  return undefined;
}

/**
 * A router file's delivery durations in any form parseDuration reads, rewritten to protobuf JSON for fromJson
 * (which reads only "0.2s" and says nothing of the other forms).
 */
function normalizeDurations(doc: Record<string, unknown>): void {
  const delivery = doc["delivery"];
  if (delivery === null || typeof delivery !== "object" || Array.isArray(delivery)) return;
  const d = delivery as Record<string, unknown>;
  for (const [key, value] of Object.entries(d)) {
    if (key === "exhausted" && typeof value === "string") {
      const e = parseExhausted(value);
      if (e === undefined) throw new Error(`delivery.exhausted: ${JSON.stringify(value)}: expected KEEP_ALL or KEEP_CRITICAL`);
      d[key] = `EXHAUSTED_STATEMENTS_${ExhaustedStatements[e]}`;
      continue;
    }
    if ((key === "rate_limit" || key === "rateLimit") && value !== null && typeof value === "object" && "period" in value) {
      const limit = value as Record<string, unknown>;
      limit["period"] = durationJson(parseDuration(limit["period"], `delivery.${key}.period`));
      continue;
    }
    if (!DURATION_FIELDS.has(key) || value === null) continue;
    d[key] = Array.isArray(value)
      ? value.map((v, i) => durationJson(parseDuration(v, `delivery.${key}[${i}]`)))
      : durationJson(parseDuration(value, `delivery.${key}`));
  }
}

export interface RouterFlags {
  file?: string | undefined;
  id?: string | undefined;
  "display-name"?: string | undefined;
  backend?: string | undefined;
  "endpoint-url"?: string | undefined;
  enabled?: boolean | undefined;
  disabled?: boolean | undefined;
  auth?: string | undefined;
  username?: string | undefined;
  "token-url"?: string | undefined;
  "client-id"?: string | undefined;
  scope?: string | undefined;
  audience?: string | undefined;
  "rate-limit"?: string | undefined;
  "batch-size"?: string | undefined;
  "batch-interval"?: string | undefined;
  "max-retries"?: string | undefined;
  countdown?: string | undefined;
  "http-timeout"?: string | undefined;
  exhausted?: string | undefined;
}

const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The router and the top-level fields it sets (snake_case: the update mask). */
export interface RouterDraft {
  readonly router: Router;
  readonly fields: string[];
}

export function routerFromFile(path: string): RouterDraft {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = /\.json$/i.test(path) ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new UsageError(`${path} is not valid ${/\.json$/i.test(path) ? "JSON" : "YAML"}: ${(e as Error).message}`);
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new UsageError(`${path}: expected one router object`);
  try {
    normalizeDurations(doc as Record<string, unknown>);
    return { router: fromJson(RouterSchema, doc as JsonValue), fields: Object.keys(doc).map(snake) };
  } catch (e) {
    throw new UsageError(`${path}: ${(e as Error).message}`);
  }
}

export function routerFromFlags(f: RouterFlags): RouterDraft {
  const fields: string[] = [];
  const r = create(RouterSchema, {});
  if (f.id !== undefined) r.id = f.id;
  if (f["display-name"] !== undefined) {
    r.displayName = f["display-name"];
    fields.push("display_name");
  }
  if (f.backend !== undefined) {
    if (f.backend !== "xapi" && f.backend !== "caliper") throw new UsageError(`--backend ${f.backend}: expected xapi or caliper`);
    r.backend = f.backend === "xapi" ? Backend.XAPI : Backend.CALIPER;
    fields.push("backend");
  }
  if (f["endpoint-url"] !== undefined) {
    r.endpointUrl = f["endpoint-url"];
    fields.push("endpoint_url");
  }
  if (f.enabled && f.disabled) throw new UsageError("--enabled and --disabled together");
  if (f.enabled || f.disabled) {
    r.enabled = f.enabled === true;
    fields.push("enabled");
  }
  authFromFlags(f, r, fields);
  rateLimitFromFlag(f, r, fields);
  for (const [flag, field, kind] of DELIVERY_FLAGS) {
    const value = f[flag];
    if (value === undefined) continue;
    r.delivery ??= create(DeliverySettingsSchema, {});
    if (kind === "duration") {
      let ns: bigint;
      try {
        ns = parseDuration(value, `--${flag}`);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      r.delivery[field === "batch_interval" ? "batchInterval" : field === "countdown" ? "countdown" : "httpTimeout"] = durationMessage(ns);
    } else {
      const n = Number(value);
      if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new UsageError(`--${flag} ${value}: expected a whole number`);
      if (field === "batch_size") r.delivery.batchSize = n;
      else r.delivery.maxRetries = n;
    }
    fields.push(`delivery.${field}`);
  }
  if (f.exhausted !== undefined) {
    const e = parseExhausted(f.exhausted);
    if (e === undefined) throw new UsageError(`--exhausted ${f.exhausted}: expected keep-all or keep-critical`);
    r.delivery ??= create(DeliverySettingsSchema, {});
    r.delivery.exhausted = e;
    fields.push("delivery.exhausted");
  }
  return { router: r, fields };
}

const OAUTH_FLAGS = ["token-url", "client-id", "scope", "audience"] as const;

function authFromFlags(f: RouterFlags, r: Router, fields: string[]): void {
  if (f.auth === undefined) {
    if (f.username !== undefined) throw new UsageError("--username needs --auth basic");
    const oauth = OAUTH_FLAGS.find((flag) => f[flag] !== undefined);
    if (oauth) throw new UsageError(`--${oauth} needs --auth oauth2`);
    return;
  }
  // create(), not object literals: the binary (gRPC) encoder needs typed messages for the oneof's value.
  if (f.auth === "basic")
    r.auth = create(RouterAuthSchema, { kind: { case: "basic", value: { username: f.username ?? "", password: "" } } });
  else if (f.auth === "bearer") r.auth = create(RouterAuthSchema, { kind: { case: "bearer", value: { token: "" } } });
  else if (f.auth === "oauth2") {
    const value = create(OAuth2ClientCredentialsSchema, {
      tokenUrl: f["token-url"] ?? "",
      clientId: f["client-id"] ?? "",
      scope: f.scope ?? "",
      audience: f.audience ?? "",
    });
    r.auth = create(RouterAuthSchema, { kind: { case: "oauth2", value } });
  } else if (f.auth !== "none") throw new UsageError(`--auth ${f.auth}: expected none, basic, bearer or oauth2`);
  fields.push("auth");
}

/** --rate-limit N/DURATION (3000/1m, 50/1s), or "none" to remove the limit. */
function rateLimitFromFlag(f: RouterFlags, r: Router, fields: string[]): void {
  const text = f["rate-limit"];
  if (text === undefined) return;
  r.delivery ??= create(DeliverySettingsSchema, {});
  fields.push("delivery.rate_limit");
  if (text.trim().toLowerCase() === "none") return;
  const m = /^\s*(\d+)\s*\/\s*(\S+)\s*$/.exec(text);
  if (!m) throw new UsageError(`--rate-limit ${text}: expected REQUESTS/DURATION, e.g. 3000/1m, or none`);
  let ns: bigint;
  try {
    ns = parseDuration(m[2]!, "--rate-limit");
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  r.delivery.rateLimit = create(RateLimitSchema, { requests: Number(m[1]), period: durationMessage(ns) });
}

/**
 * Fills an empty password or token: from the environment, else a prompt on a terminal. `required` (create, or an
 * auth change) makes a missing secret a usage error; otherwise an empty one keeps the stored secret (UpdateRouter).
 */
export async function fillSecrets(router: Router, io: Io, required: boolean): Promise<void> {
  const kind = router.auth?.kind;
  if (kind?.case === "basic" && kind.value.password === "") {
    kind.value.password = await secret(
      "EVENT_ROUTING_ROUTER_PASSWORD",
      `Password for ${kind.value.username || "the LRS user"}: `,
      io,
      required,
    );
  } else if (kind?.case === "bearer" && kind.value.token === "") {
    kind.value.token = await secret("EVENT_ROUTING_ROUTER_TOKEN", "Bearer token: ", io, required);
  } else if (kind?.case === "oauth2" && kind.value.clientSecret === "") {
    const prompt = `OAuth 2 client secret for ${kind.value.clientId || "the client"}: `;
    kind.value.clientSecret = await secret("EVENT_ROUTING_ROUTER_CLIENT_SECRET", prompt, io, required);
  }
}

async function secret(variable: string, prompt: string, io: Io, required: boolean): Promise<string> {
  const fromEnv = io.env[variable];
  if (fromEnv) return fromEnv;
  if (!required) return "";
  if (!io.stdin?.isTTY) throw new UsageError(`the router needs a secret: set ${variable} (no terminal to prompt on)`);
  return promptHidden(prompt, io.stdin, io.err);
}

/** Reads one line from the terminal without echoing it. */
function promptHidden(prompt: string, stdin: NodeJS.ReadStream, out: NodeJS.WritableStream): Promise<string> {
  out.write(prompt);
  return new Promise((resolve, reject) => {
    let value = "";
    stdin.setRawMode(true);
    stdin.resume();
    const done = (e?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off("data", onData);
      out.write("\n");
      if (e) reject(e);
      else resolve(value);
    };
    const onData = (b: Buffer) => {
      for (const ch of b.toString("utf8")) {
        if (ch === "\r" || ch === "\n") return done();
        if (ch === "\u0003") return done(new UsageError("cancelled"));
        if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on("data", onData);
  });
}
