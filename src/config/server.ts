/**
 * The RPC server: its listeners (the console is served beside it, with the same TLS), the tokens that may call it,
 * and the limits of one call. TLS needs a certificate and its key together.
 */
import { z } from "zod";
import { type Rule, needs, parsedRule } from "./rules.js";
import { list, nonNegativeInt, positiveInt } from "./schemas.js";
import { tokenList } from "./secret-values.js";
import { type Parsed, secret, v } from "./var-spec.js";

export const LISTENER_VARS = {
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
};

export const CALL_VARS = {
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
  adminTokenNames: v(
    "ADMIN_TOKEN_NAMES",
    "(unset)",
    "Comma-separated names of the ADMIN_TOKENS, in the same order: audit records (ListForgottenLearners) say which token asked. Unnamed: a short hash of the token.",
    list.optional(),
  ),
  emitBatchMax: v("EMIT_BATCH_MAX", "1000", "Most events in one EmitBatch call.", positiveInt),
  readMaxBytes: v("READ_MAX_BYTES", "4194304", "Largest request message in bytes.", positiveInt),
  maxTimeoutMs: v("MAX_TIMEOUT_MS", "60000", "Largest client deadline accepted, in ms.", positiveInt),
};

type CallConfig = Parsed<typeof CALL_VARS>;

export const SERVER_RULES: ReadonlyArray<Rule<CallConfig>> = [
  needs("TLS_CERT_FILE", "TLS_KEY_FILE", "TLS needs both"),
  needs("TLS_KEY_FILE", "TLS_CERT_FILE", "TLS needs both"),
  needs("ADMIN_TOKEN_NAMES", "ADMIN_TOKENS", "names are given to configured tokens"),
  parsedRule(
    (c) => c.adminTokenNames !== undefined && c.adminTokenNames.length !== (c.adminTokens?.length ?? 0),
    "ADMIN_TOKEN_NAMES must name every token of ADMIN_TOKENS, in the same order",
  ),
];
