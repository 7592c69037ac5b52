/**
 * RPC counts and latency by procedure and code, as an interceptor placed outermost (it sees the final code,
 * authentication failures included). Streams are measured when their iteration ends, like the log line.
 */
import { performance } from "node:perf_hooks";
import { ConnectError, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import type { MetricsRecorder } from "./metrics.js";

export function metricsInterceptor(metrics: MetricsRecorder): Interceptor {
  return (next) => async (req) => {
    const start = performance.now();
    const procedure = `${req.service.typeName}/${req.method.name}`;
    const done = (e: unknown): void =>
      metrics.rpc(procedure, e === undefined ? "ok" : codeToString(ConnectError.from(e).code), (performance.now() - start) / 1000);
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
    return { ...res, message: measureStream(res, done) };
  };
}

async function* measureStream<T>(res: StreamResponse, done: (e: unknown) => void): AsyncIterable<T> {
  let outcome: unknown = new ConnectError("stream abandoned", 1);
  try {
    yield* res.message as AsyncIterable<T>;
    outcome = undefined;
  } catch (e) {
    outcome = e;
    throw e;
  } finally {
    done(outcome);
  }
}
