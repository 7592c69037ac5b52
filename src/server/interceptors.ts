/**
 * Cross-cutting RPC behaviour: one log line per call, and domain errors mapped to Connect codes. Both wrap
 * streaming responses too, because a stream's outcome is only known when its iteration ends.
 */
import { performance } from "node:perf_hooks";
import { Code, ConnectError, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import type { Logger } from "pino";
import { toConnectError } from "../errors.js";

/** Maps anything thrown by a handler (or its stream) through toConnectError, keeping the original as cause for the log. */
export const errorMappingInterceptor: Interceptor = (next) => async (req) => {
  try {
    const res = await next(req);
    return res.stream ? { ...res, message: mapStreamErrors(res.message) } : res;
  } catch (e) {
    throw mapError(e);
  }
};

function mapError(e: unknown): ConnectError {
  const mapped = toConnectError(e);
  if (mapped === e || mapped.cause !== undefined) return mapped;
  // toConnectError built a fresh error (no details), so only the cause is added.
  return new ConnectError(mapped.rawMessage, mapped.code, mapped.metadata, undefined, e);
}

async function* mapStreamErrors<T>(messages: AsyncIterable<T>): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (e) {
    throw mapError(e);
  }
}

/** Wire protocol from the request content type; GET requests are Connect (only Connect supports GET). */
export function protocolOf(contentType: string | null): "grpc" | "grpc-web" | "connect" {
  if (contentType?.startsWith("application/grpc-web")) return "grpc-web";
  if (contentType?.startsWith("application/grpc")) return "grpc";
  return "connect";
}

/**
 * One JSON line per RPC (per stream when it ends): procedure, protocol, code, ms and message count for streams.
 * Never bodies or headers, so bearer tokens and event payloads stay out of the log. Stacks only for Internal and
 * Unknown, the codes that mean a bug.
 */
export function loggingInterceptor(log: Logger): Interceptor {
  return (next) => async (req) => {
    const start = performance.now();
    const fields = { procedure: `${req.service.typeName}/${req.method.name}`, protocol: protocolOf(req.header.get("content-type")) };
    const done = (e: unknown, messages?: number): void => {
      const ms = Math.round((performance.now() - start) * 100) / 100;
      if (e === undefined) {
        log.info({ ...fields, code: "ok", ms, ...(messages === undefined ? {} : { messages }) }, "rpc");
        return;
      }
      logRpcError(log, { ...fields, ms, ...(messages === undefined ? {} : { messages }) }, ConnectError.from(e));
    };
    return observeCall(next, req, done);
  };
}

/**
 * The RPC log when LOG_RPCS is off: only the error lines (Internal and Unknown answers, handler crashes), which
 * mean a bug and must be seen whatever the setting. Never below the logger's own level (LOG_LEVEL=fatal stays quiet).
 */
export function rpcErrorsOnly(log: Logger): Logger {
  return log.isLevelEnabled("error") ? log.child({}, { level: "error" }) : log;
}

type Next = Parameters<Interceptor>[0];

/**
 * Runs the call and reports its end exactly once: a unary call when it returns or throws, a stream when its
 * iteration ends (with the number of messages). Shared by the log line and the RPC metrics so both see the same
 * outcome, abandoned streams included.
 */
export async function observeCall(next: Next, req: Parameters<Next>[0], done: (e: unknown, messages?: number) => void): ReturnType<Next> {
  let res;
  try {
    res = await next(req);
  } catch (e) {
    done(e);
    throw e;
  }
  if (!res.stream) {
    done(undefined);
    return res;
  }
  return { ...res, message: streamEnd<StreamResponse["message"] extends AsyncIterable<infer M> ? M : never>(res, done) };
}

/** The failed-call line, shared with calls that fail before the interceptors run (early-errors.ts). */
export function logRpcError(log: Logger, fields: Record<string, unknown>, err: ConnectError): void {
  // The wire names (invalid_argument, ...), the same on every protocol and in buf curl output.
  const line = { ...fields, code: codeToString(err.code), error: err.rawMessage };
  const bug = err.code === Code.Internal || err.code === Code.Unknown;
  if (bug) log.error({ ...line, err: err.cause instanceof Error ? err.cause : err }, "rpc");
  else log.info(line, "rpc");
}

async function* streamEnd<T>(res: StreamResponse, done: (e: unknown, messages: number) => void): AsyncIterable<T> {
  let count = 0;
  let outcome: unknown = new ConnectError("stream abandoned", Code.Canceled);
  try {
    for await (const m of res.message as AsyncIterable<T>) {
      count++;
      yield m;
    }
    outcome = undefined;
  } catch (e) {
    outcome = e;
    throw e;
  } finally {
    // Reached without an outcome when the consumer stopped early (return()): the client went away.
    done(outcome, count);
  }
}
