/**
 * `routers get` for people: every setting of one router, one per line, so nothing needs --json to be seen
 * (delivery settings, what happens to exhausted statements, match params, override args, header names, the
 * output-only revision and incarnation). Secrets and header values never come back from
 * the service; the view says whether a secret is stored. Unset delivery settings take the service's defaults.
 */
import { Backend } from "../../gen/eventrouting/v1/event_pb.js";
import { ExhaustedStatements, type Router } from "../../gen/eventrouting/v1/router_admin_service_pb.js";
import { formatDuration } from "./duration.js";
import { isoOrEmpty } from "./remote.js";

const DEFAULT = "(service default)";

function auth(r: Router): string {
  const k = r.auth?.kind;
  const stored = r.auth?.hasSecret ? "secret stored" : "no secret stored";
  if (k?.case === "basic") return `basic, user ${k.value.username} (${stored})`;
  if (k?.case === "bearer") return `bearer (${stored})`;
  if (k?.case === "oauth2") {
    const extra = [k.value.scope && `scope ${k.value.scope}`, k.value.audience && `audience ${k.value.audience}`].filter(Boolean);
    return `oauth2, client ${k.value.clientId} at ${k.value.tokenUrl}${extra.length > 0 ? `, ${extra.join(", ")}` : ""} (${stored})`;
  }
  return "none";
}

/** As the --exhausted flag takes it; UNSPECIFIED is KEEP_ALL (the proto's default). */
function exhausted(e: ExhaustedStatements): string {
  if (e === ExhaustedStatements.KEEP_CRITICAL) return "keep-critical (only critical events' statements go to the failed stream)";
  return `keep-all (every statement goes to the failed stream)${e === ExhaustedStatements.UNSPECIFIED ? " (default)" : ""}`;
}

export function routerDetails(r: Router): string {
  const d = r.delivery;
  const rows: Array<[string, string]> = [
    ["id", r.id],
    ["display name", r.displayName || "-"],
    ["backend", Backend[r.backend]?.toLowerCase() ?? "unspecified"],
    ["endpoint", r.endpointUrl],
    ["enabled", r.enabled ? "yes" : "no"],
    ["auth", auth(r)],
    ["headers", Object.keys(r.headers).length > 0 ? `${Object.keys(r.headers).sort().join(", ")} (values hidden)` : "-"],
    [
      "match params",
      r.matchParams.length > 0 ? r.matchParams.map((m) => `${m.path} ~ ${m.patterns.join(" | ")}`).join("; ") : "- (every event)",
    ],
    ["override args", r.overrideArgs && Object.keys(r.overrideArgs).length > 0 ? JSON.stringify(r.overrideArgs) : "-"],
    ["batch size", d?.batchSize ? String(d.batchSize) : DEFAULT],
    ["batch interval", d?.batchInterval ? formatDuration(d.batchInterval) : DEFAULT],
    ["max retries", d?.maxRetries !== undefined ? String(d.maxRetries) : DEFAULT],
    ["countdown", d?.countdown ? formatDuration(d.countdown) : DEFAULT],
    ["backoff", d && d.backoff.length > 0 ? d.backoff.map(formatDuration).join(", ") : "- (countdown)"],
    ["http timeout", d?.httpTimeout ? formatDuration(d.httpTimeout) : DEFAULT],
    ["critical events", d && d.criticalEvents.length > 0 ? d.criticalEvents.join(", ") : DEFAULT],
    ["exhausted", exhausted(d?.exhausted ?? ExhaustedStatements.UNSPECIFIED)],
    [
      "rate limit",
      d?.rateLimit ? `${d.rateLimit.requests} requests per ${d.rateLimit.period ? formatDuration(d.rateLimit.period) : "?"}` : "- (none)",
    ],
    ["revision", String(r.revision)],
    // 0 for the first router under this id; else it names the NATS subject and consumer (docs/delivery.md).
    ["incarnation", String(r.incarnation)],
    ["created", isoOrEmpty(r.createTime) || "-"],
    ["updated", isoOrEmpty(r.updateTime) || "-"],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return `${rows.map(([k, v]) => `${`${k}:`.padEnd(width + 1)}  ${v}`).join("\n")}\n`;
}
