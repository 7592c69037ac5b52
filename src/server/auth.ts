/**
 * Bearer-token authorisation: emitter tokens may call Emit, EmitBatch, Transform and TransformBatch; admin tokens
 * may call everything; health and reflection are open so probes and `buf curl --list-services` need no secret.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { Code, ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";

export interface Tokens {
  readonly emit: readonly string[];
  readonly admin: readonly string[];
  /** ADMIN_TOKEN_NAMES, one per admin token in the same order; absent: every admin token is named by its hash. */
  readonly adminNames?: readonly string[];
}

export type Role = "emit" | "admin";

/**
 * The caller's role, for handlers whose rules depend on it below the RPC level (EmitBatch's admin-only
 * router_ids). Undefined when no auth interceptor ran: handlers then refuse what needs admin.
 */
export const CALLER_ROLE = createContextKey<Role | undefined>(undefined, { description: "caller role" });

/**
 * The name of the admin token that called, for audit records (ForgetLearner): its ADMIN_TOKEN_NAMES entry, else
 * "admin token sha256:" and the first 8 hex digits of its SHA-256 (says which token without revealing it).
 * Undefined for emit tokens and when no auth interceptor ran.
 */
export const CALLER_TOKEN_NAME = createContextKey<string | undefined>(undefined, { description: "caller token name" });

export function unnamedTokenName(token: string): string {
  return `admin token sha256:${digest(token).subarray(0, 4).toString("hex")}`;
}

const OPEN_SERVICES = new Set(["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"]);
const EMIT_PROCEDURES = new Set([
  "eventrouting.v1.EventRoutingService/Emit",
  "eventrouting.v1.EventRoutingService/EmitBatch",
  "eventrouting.v1.EventRoutingService/Transform",
  "eventrouting.v1.EventRoutingService/TransformBatch",
]);

/** The role a procedure needs; undefined when it is open. Anything not listed needs admin, so new RPCs start closed. */
export function requiredRole(service: string, method: string): Role | undefined {
  if (OPEN_SERVICES.has(service)) return undefined;
  return EMIT_PROCEDURES.has(`${service}/${method}`) ? "emit" : "admin";
}

// Comparing fixed-length digests keeps timingSafeEqual usable for tokens of any length and leaks no length.
const digest = (s: string): Buffer => createHash("sha256").update(s, "utf8").digest();

/** The index of the matching token, or -1. */
function matchIndex(candidate: Buffer, set: readonly Buffer[]): number {
  let found = -1;
  // No early exit: the time taken does not reveal which (or whether an early) token matched.
  for (let i = 0; i < set.length; i++) if (timingSafeEqual(candidate, set[i]!) && found < 0) found = i;
  return found;
}

export interface Caller {
  readonly role: Role;
  /** Admin tokens only: see CALLER_TOKEN_NAME. */
  readonly name?: string;
}

/** Resolves a presented token to its role (and an admin token's name); admin wins when a token is in both sets. */
export function createTokenChecker(tokens: Tokens): (token: string) => Caller | undefined {
  const emit = tokens.emit.map(digest);
  const admin = tokens.admin.map(digest);
  return (token) => {
    const d = digest(token);
    const adminAt = matchIndex(d, admin);
    const isEmit = matchIndex(d, emit) >= 0;
    if (adminAt >= 0) return { role: "admin", name: tokens.adminNames?.[adminAt] ?? unnamedTokenName(token) };
    return isEmit ? { role: "emit" } : undefined;
  };
}

function bearer(header: string | null): string | undefined {
  const m = header === null ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return m?.[1];
}

export function authInterceptor(tokens: Tokens): Interceptor {
  const roleOf = createTokenChecker(tokens);
  return (next) => async (req) => {
    const needed = requiredRole(req.service.typeName, req.method.name);
    if (needed === undefined) return next(req);
    const token = bearer(req.header.get("authorization"));
    // Messages never include the presented token.
    if (token === undefined) throw new ConnectError("missing bearer token", Code.Unauthenticated);
    const caller = roleOf(token);
    if (caller === undefined) throw new ConnectError("invalid token", Code.Unauthenticated);
    if (needed === "admin" && caller.role !== "admin") throw new ConnectError("admin token required", Code.PermissionDenied);
    req.contextValues.set(CALLER_ROLE, caller.role);
    if (caller.name !== undefined) req.contextValues.set(CALLER_TOKEN_NAME, caller.name);
    return next(req);
  };
}

/**
 * 32 random bytes as base64url (43 characters). Drawn again while it starts with `-` or `_`: a token starting with
 * `-` is taken for an option by command lines (`--token -x...`).
 */
export function generateToken(): string {
  for (;;) {
    const token = randomBytes(32).toString("base64url");
    if (/^[A-Za-z0-9]/.test(token)) return token;
  }
}

/**
 * Tokens from config; a missing set gets one generated token. Nothing is printed here: the start command decides
 * where generated tokens are shown (src/startup/generated-tokens.ts), and never in the log.
 */
export function resolveTokens(config: {
  readonly emitTokens?: readonly string[] | undefined;
  readonly adminTokens?: readonly string[] | undefined;
  readonly adminTokenNames?: readonly string[] | undefined;
}): Tokens {
  const orGenerate = (list: readonly string[] | undefined): string[] =>
    list !== undefined && list.length > 0 ? [...list] : [generateToken()];
  const named = config.adminTokenNames !== undefined && config.adminTokenNames.length === config.adminTokens?.length;
  return {
    emit: orGenerate(config.emitTokens),
    admin: orGenerate(config.adminTokens),
    ...(named ? { adminNames: [...config.adminTokenNames!] } : {}),
  };
}
