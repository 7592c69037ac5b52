/**
 * RPC counts and latency by procedure and code, as an interceptor placed outermost (it sees the final code,
 * authentication failures included). Streams are measured when their iteration ends, like the log line.
 */
import { performance } from "node:perf_hooks";
import { ConnectError, type Interceptor } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { observeCall } from "../server/interceptors.js";
import type { MetricsRecorder } from "./metrics.js";

export function metricsInterceptor(metrics: MetricsRecorder): Interceptor {
  return (next) => async (req) => {
    const start = performance.now();
    const procedure = `${req.service.typeName}/${req.method.name}`;
    const done = (e: unknown): void =>
      metrics.rpc(procedure, e === undefined ? "ok" : codeToString(ConnectError.from(e).code), (performance.now() - start) / 1000);
    return observeCall(next, req, done);
  };
}
