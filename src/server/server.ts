/**
 * Wires the handler, HTTP server, health and shutdown signal together, and orders a graceful shutdown:
 * health NOT_SERVING first, then drain, then abort the stragglers.
 */
import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { authInterceptor, type Tokens } from "./auth.js";
import { createConnectHandler, type NodeHandler } from "./connect-handler.js";
import type { EarlyFailure } from "./early-errors.js";
import { HealthRegistry } from "./health.js";
import { startHttpServer, type HttpServerOptions } from "./http-server.js";
import { errorMappingInterceptor, loggingInterceptor, logRpcError, rpcErrorsOnly } from "./interceptors.js";

export interface ServerOptions {
  register(router: ConnectRouter): void;
  host: string;
  port: number;
  readMaxBytes: number;
  maxTimeoutMs: number;
  interceptors: Interceptor[];
  health?: HealthRegistry;
  /**
   * Logs the calls that fail while their request is parsed, before the interceptors (and so the logging
   * interceptor) run, and handler crashes. The service passes its logger when LOG_RPCS is on, and
   * rpcErrorsOnly(logger) when it is off, so crashes are logged either way.
   */
  rpcLog?: Logger;
  /** TLS and connection limits of the HTTP server (see http-server.ts); defaults when absent. */
  http?: Omit<HttpServerOptions, "handler" | "host" | "port">;
}

export interface RunningServer {
  readonly port: number;
  readonly health: HealthRegistry;
  /** The Connect handler, for another listener serving the same RPCs (the console port). */
  readonly handler: NodeHandler;
  /** Idempotent. Resolves when every connection is closed. */
  shutdown(graceMs: number): Promise<void>;
}

/**
 * Logging outermost (it sees the final code, auth failures included), then error mapping, then auth. With
 * LOG_RPCS off the logging interceptor still writes the Internal/Unknown lines: a bug is never silent.
 */
export function standardInterceptors(opts: { logger: Logger; logRpcs: boolean; tokens: Tokens }): Interceptor[] {
  return [
    loggingInterceptor(opts.logRpcs ? opts.logger : rpcErrorsOnly(opts.logger)),
    errorMappingInterceptor,
    authInterceptor(opts.tokens),
  ];
}

function earlyFailureLogging(log: Logger) {
  return {
    onEarlyFailure: (f: EarlyFailure) =>
      logRpcError(log, { procedure: f.procedure, protocol: f.protocol, ms: f.ms }, new ConnectError(f.message, f.code)),
    onHandlerCrash: (procedure: string, err: unknown) => log.error({ procedure, err }, "rpc handler failed"),
  };
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const health = opts.health ?? new HealthRegistry();
  const shutdownController = new AbortController();
  const handler = createConnectHandler({
    register: opts.register,
    interceptors: opts.interceptors,
    readMaxBytes: opts.readMaxBytes,
    maxTimeoutMs: opts.maxTimeoutMs,
    shutdownSignal: shutdownController.signal,
    health,
    ...(opts.rpcLog ? earlyFailureLogging(opts.rpcLog) : {}),
  });
  const http = await startHttpServer({ ...opts.http, handler, host: opts.host, port: opts.port });
  let done: Promise<void> | undefined;
  return {
    port: http.port,
    health,
    handler,
    shutdown(graceMs) {
      done ??= (() => {
        // Before refusing connections, so load balancers watching health stop sending traffic first.
        health.shutdown();
        return http.close(graceMs, () => shutdownController.abort(new ConnectError("server shutting down", Code.Unavailable)));
      })();
      return done;
    },
  };
}
