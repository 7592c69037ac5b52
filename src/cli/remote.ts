/**
 * What every operator command shares: the service's address and admin token (flags, else EVENT_ROUTING_URL and
 * EVENT_ROUTING_TOKEN), gRPC clients, `--json` or a table, and one rule mapping failures to exit codes and ONE
 * line on stderr (no stack: an operator acts on the message; `--debug` shows the cause).
 *
 * Exit codes (EXIT in exit-codes.ts, README "Operator CLI"): 0 ok, 1 usage (bad flags or arguments), 2 not found,
 * 3 unavailable (service or NATS unreachable, deadline), 4 not allowed (token missing or wrong), 5 refused (the
 * request is invalid, exists already, or conflicts), 6 anything else. The transport is service-transport.ts's,
 * shared with `replay`.
 */
import type { Writable } from "node:stream";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { DirectoryAdminService } from "../../gen/eventrouting/v1/directory_admin_service_pb.js";
import { EventRoutingService } from "../../gen/eventrouting/v1/event_routing_service_pb.js";
import { IngestAdminService } from "../../gen/eventrouting/v1/ingest_admin_service_pb.js";
import { LearnerAdminService } from "../../gen/eventrouting/v1/learner_admin_service_pb.js";
import { MappingAdminService } from "../../gen/eventrouting/v1/mapping_admin_service_pb.js";
import { RouterAdminService } from "../../gen/eventrouting/v1/router_admin_service_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { EXIT, UsageError } from "./exit-codes.js";
import { serviceAddress, serviceTransport } from "./service-transport.js";

/** Every operator call's deadline. */
const CALL_TIMEOUT_MS = 30_000;

/** parseArgs options every remote command accepts. */
export const REMOTE_OPTIONS = {
  url: { type: "string" },
  token: { type: "string" },
  json: { type: "boolean", default: false },
  debug: { type: "boolean", default: false },
} as const;

export interface Io {
  readonly out: Writable;
  readonly err: Writable;
  readonly env: Record<string, string | undefined>;
  /** Standard input, for secret prompts (absent or not a TTY: no prompt). */
  readonly stdin?: NodeJS.ReadStream;
}

export interface Remote {
  readonly routers: Client<typeof RouterAdminService>;
  readonly events: Client<typeof EventRoutingService>;
  readonly directory: Client<typeof DirectoryAdminService>;
  readonly health: Client<typeof Health>;
  readonly ingest: Client<typeof IngestAdminService>;
  readonly learners: Client<typeof LearnerAdminService>;
  readonly mappings: Client<typeof MappingAdminService>;
  readonly json: boolean;
}

/**
 * `deadline: false` for a command whose call runs longer than the service accepts as a deadline (MAX_TIMEOUT_MS,
 * 60 s by default): no deadline is sent, and the command bounds the call itself (reconcile --timeout).
 */
export function connectRemote(
  values: { url?: string | undefined; token?: string | undefined; json?: boolean | undefined },
  env: Io["env"],
  { deadline = true }: { deadline?: boolean } = {},
): Remote {
  const address = serviceAddress(values, env);
  if (!address.token) throw new UsageError("no admin token: set EVENT_ROUTING_TOKEN (or --token) to one of the service's ADMIN_TOKENS");
  const transport = serviceTransport({ ...address, timeoutMs: deadline ? CALL_TIMEOUT_MS : undefined });
  return {
    routers: createClient(RouterAdminService, transport),
    events: createClient(EventRoutingService, transport),
    directory: createClient(DirectoryAdminService, transport),
    health: createClient(Health, transport),
    ingest: createClient(IngestAdminService, transport),
    learners: createClient(LearnerAdminService, transport),
    mappings: createClient(MappingAdminService, transport),
    json: values.json === true,
  };
}

/** Exit code and one line for anything a command threw. */
export function failure(e: unknown, debug = false): { code: number; line: string } {
  if (e instanceof UsageError) return { code: EXIT.usage, line: e.message };
  const ce = ConnectError.from(e);
  const detail = debug && ce.cause instanceof Error ? ` (${ce.cause.message})` : "";
  switch (ce.code) {
    case Code.NotFound:
      return { code: EXIT.notFound, line: `not found: ${ce.rawMessage}${detail}` };
    case Code.Unavailable:
    case Code.DeadlineExceeded:
      return {
        code: EXIT.unavailable,
        line: `service unavailable: ${ce.rawMessage}${detail} (check EVENT_ROUTING_URL and that the service runs)`,
      };
    case Code.Unauthenticated:
    case Code.PermissionDenied:
      return {
        code: EXIT.notAllowed,
        line: `not allowed: ${ce.rawMessage}${detail} (EVENT_ROUTING_TOKEN must be one of the service's ADMIN_TOKENS)`,
      };
    case Code.InvalidArgument:
    case Code.AlreadyExists:
    case Code.FailedPrecondition:
    case Code.Aborted:
    case Code.OutOfRange:
      return { code: EXIT.refused, line: `refused: ${ce.rawMessage}${detail}` };
    default:
      return { code: EXIT.other, line: `failed (${Code[ce.code]}): ${ce.rawMessage}${detail}` };
  }
}

/** Runs a command body, turning any failure into its exit code and one line on stderr. */
export async function guarded(io: Io, debug: boolean, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    const f = failure(e, debug);
    io.err.write(`${f.line}\n`);
    return f.code;
  }
}

/** A plain text table: a header row and left-aligned columns, empty cells as "-". */
export function table(headers: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number | undefined>>): string {
  const cells = rows.map((r) => r.map((c) => (c === undefined || c === "" ? "-" : String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: readonly string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ");
  return `${[line(headers), ...cells.map(line)].join("\n")}\n`;
}

export function isoOrEmpty(t: { seconds: bigint; nanos: number } | undefined): string {
  if (!t) return "";
  return new Date(Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6)).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Long texts (errors) cut for a table cell. */
export function cut(text: string, max = 60): string {
  const one = text.replace(/\s+/g, " ");
  return one.length <= max ? one : `${one.slice(0, max - 1)}…`;
}
