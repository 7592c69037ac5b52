/**
 * The metrics endpoint: GET /metrics on its own port (METRICS_PORT), so it can be scraped without a token and
 * kept off the public listener. A scrape samples JetStream (`sample`, the same numbers GetRouterStatus reports:
 * a consumer info and the oldest pending statement per router, the failed stream) at most once per
 * `sampleIntervalMs` whatever the scrape rate (sample-throttle.ts), then renders the registry; nothing is requested
 * per message. When JetStream does not answer, the sampled gauges are omitted rather than shown stale (router
 * series and `failed_stream_messages` disappear until the next good sample) and `event_routing_scrape_sample_ok`
 * says 0, so a NATS outage is visible without the scrape itself failing (the NATS alert needs the scrape to
 * succeed). The inputs' counters need no JetStream and are always there.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { NatsConnection } from "@nats-io/transport-node";
import type { JetStreamManager } from "@nats-io/jetstream";
import { Gauge } from "prom-client";
import type { Logger } from "pino";
import type { NatsNames } from "../nats/names.js";
import type { RouterStatusProvider } from "../routing/router-status-contract.js";
import { type InputSource, METRIC_PREFIX, type MetricsSample, type ServiceMetrics } from "./metrics.js";
import { throttle } from "./sample-throttle.js";

/** Samples at most this often: fresh enough for a 15 s scrape interval, cheap for any number of scrapers. */
export const SAMPLE_INTERVAL_MS = 5_000;

export interface SampleSources {
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly names: NatsNames;
  readonly status: RouterStatusProvider;
  readonly inputs: readonly InputSource[];
}

/** Reads everything the sampled gauges show from JetStream; rejects when JetStream does not answer. */
export async function sample(src: SampleSources, now = Date.now()): Promise<MetricsSample> {
  const natsConnected = !src.nc.isClosed() && src.nc.info !== undefined && !(await isReconnecting(src.nc));
  const [routers, failed] = await Promise.all([src.status.status(), src.jsm.streams.info(src.names.failedStream)]);
  return {
    natsConnected,
    failedStreamMessages: failed.state.messages,
    routers: routers.map((r) => ({
      routerId: r.routerId,
      pending: r.pending,
      inFlight: r.inFlight,
      failedStored: r.failedStored,
      state: r.state ?? "active",
      oldestPendingAgeSeconds: r.oldestPendingTime ? Math.max(0, (now - r.oldestPendingTime.getTime()) / 1000) : 0,
      ...(r.oldestPendingExpireTime ? { oldestPendingExpiresInSeconds: (r.oldestPendingExpireTime.getTime() - now) / 1000 } : {}),
    })),
  };
}

/** A flush round trip with a short deadline: the connection object says "open" while it reconnects. */
async function isReconnecting(nc: NatsConnection): Promise<boolean> {
  try {
    await Promise.race([nc.flush(), new Promise((_, reject) => setTimeout(() => reject(new Error("no answer")), 1000).unref())]);
    return false;
  } catch {
    return true;
  }
}

export interface MetricsServer {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

export async function startMetricsServer(opts: {
  host: string;
  port: number;
  metrics: ServiceMetrics;
  sources: SampleSources;
  logger: Logger;
  /** Default SAMPLE_INTERVAL_MS. */
  sampleIntervalMs?: number;
}): Promise<MetricsServer> {
  const { metrics, logger } = opts;
  const sampleOk = new Gauge({
    name: `${METRIC_PREFIX}scrape_sample_ok`,
    help: "1 when the last JetStream sample succeeded",
    registers: [metrics.registry],
  });
  metrics.readInputs(opts.sources.inputs);
  let lastWarn = 0;
  const refresh = throttle(async () => {
    try {
      metrics.apply(await sample(opts.sources));
      sampleOk.set(1);
    } catch (e) {
      sampleOk.set(0);
      metrics.apply({ natsConnected: false, routers: [], failedStreamMessages: undefined });
      if (Date.now() - lastWarn > 60_000) {
        lastWarn = Date.now();
        logger.warn({ err: (e as Error).message }, "metrics scrape could not sample JetStream; router gauges omitted");
      }
    }
  }, opts.sampleIntervalMs ?? SAMPLE_INTERVAL_MS);
  const server: Server = createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: GET /metrics\n");
      return;
    }
    void (async () => {
      await refresh();
      const body = await metrics.registry.metrics();
      res.writeHead(200, { "content-type": metrics.registry.contentType }).end(body);
    })().catch((e: unknown) => {
      res.writeHead(500, { "content-type": "text/plain" }).end(`${(e as Error).message}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostForUrl = opts.host === "0.0.0.0" || opts.host === "::" ? "127.0.0.1" : opts.host;
  return {
    port,
    url: `http://${hostForUrl.includes(":") ? `[${hostForUrl}]` : hostForUrl}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
