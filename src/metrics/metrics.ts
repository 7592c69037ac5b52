/**
 * Prometheus metrics of one service instance (prom-client), in their own registry (never the global one, so two
 * instances in one process, as in tests, do not share numbers).
 *
 * The code that counts gets a `MetricsRecorder`: plain functions over metric handles resolved here once, so a hot
 * path calls a function and never looks anything up in a registry. What JetStream knows (pending, in flight, the
 * failed stream, router states) is NOT counted per message: it is sampled by `sample()` (see metrics-server.ts, at
 * most once per interval whatever the scrape rate), which reads the same sources as GetRouterStatus. The inputs'
 * totals since start are read from their stats at collect time (no I/O) and exported as counters, so rate() and
 * increase() apply and a NATS outage does not hide them.
 *
 * Label cardinality is bounded: `router` only takes ids of configured routers, `event` only names some backend
 * has a transformer for (anything else is `other`), `procedure` only the services' methods, `answer` and `result`
 * fixed sets. Label values of a deleted router are removed when the router is deleted.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export const METRIC_PREFIX = "event_routing_";

/** How an HTTP delivery attempt ended (the answer classes of docs/operations.md). */
export type AnswerClass = "2xx" | "409" | "4xx" | "429" | "5xx" | "timeout" | "network";

/**
 * What happened to one stored statement after an attempt (batch-processor.ts's settled kinds), or "discarded":
 * a non-critical failed statement removed later because the failed stream was over FAILED_MAX_BYTES, or
 * "forgotten": a forgotten learner's statement dropped unsent (src/erasure/).
 */
export type SettledResult = "delivered" | "retry" | "failed" | "dropped" | "held" | "discarded" | "forgotten";

const ANSWER_CLASSES: readonly AnswerClass[] = ["2xx", "409", "4xx", "429", "5xx", "timeout", "network"];
const SETTLED_RESULTS: readonly SettledResult[] = ["delivered", "retry", "failed", "dropped", "held", "discarded", "forgotten"];

export function answerClass(status: number | undefined, timedOut = false): AnswerClass {
  if (status === undefined || status === 0) return timedOut ? "timeout" : "network";
  if (status === 409) return "409";
  if (status === 429) return "429";
  if (status >= 200 && status < 300) return "2xx";
  if (status >= 500) return "5xx";
  return "4xx";
}

/** The counting side, handed to the RPC interceptor, the emit path and delivery. */
export interface MetricsRecorder {
  rpc(procedure: string, code: string, seconds: number): void;
  /** One event's overall outcome (lower-case Outcome name) and the statements stored for it, per router. */
  event(name: string, outcome: string): void;
  stored(routerId: string, statements: number): void;
  /** Statements JetStream already held under their id for this router (a retried call): not stored again. */
  duplicate(routerId: string, statements: number): void;
  /** One HTTP request of a router: its answer class, how many statements it carried and how long it took. */
  attempt(routerId: string, answer: AnswerClass, statements: number, seconds: number): void;
  /** One statement settled; `lagSeconds` (stored -> acknowledged) when delivered. */
  settled(routerId: string, result: SettledResult, lagSeconds?: number): void;
  /** A reconcile of the router finished here (ReconcileRouter): what the LRS lacked, and when. */
  reconciled(routerId: string, result: { missing: number; unknown: number; found: number }, at: Date): void;
}

export const NO_METRICS: MetricsRecorder = {
  rpc() {},
  event() {},
  stored() {},
  duplicate() {},
  attempt() {},
  settled() {},
  reconciled() {},
};

/** A router's state as GetRouterStatus reports it (lower-case RouterState names). */
export const ROUTER_STATES = ["active", "paused", "failing", "unhealthy", "disabled", "not_running_here"] as const;

/** What a scrape samples from JetStream and the inputs. */
export interface MetricsSample {
  readonly natsConnected: boolean;
  readonly routers: ReadonlyArray<{
    readonly routerId: string;
    readonly pending: number;
    readonly inFlight: number;
    readonly failedStored: number;
    readonly state: string;
    /** Seconds since the oldest pending statement was stored, 0 when none. */
    readonly oldestPendingAgeSeconds: number;
    /** Seconds until the stream's age limit removes the oldest pending statement; absent when none or no limit. */
    readonly oldestPendingExpiresInSeconds?: number;
  }>;
  /** Messages in the failed stream (every router), or undefined when JetStream did not answer. */
  readonly failedStreamMessages: number | undefined;
}

/** An input (Redis event bus, NATS ingest) as the metrics see it: totals since start that only grow. */
export interface InputSource {
  readonly input: string;
  readonly stats: {
    readonly entriesRead: number;
    readonly statementsStored: number;
    readonly statementsDuplicate: number;
    readonly rejected: number;
  };
  serving(): boolean;
}

export interface ServiceMetrics {
  readonly registry: Registry;
  readonly recorder: MetricsRecorder;
  /**
   * Replaces every sampled gauge with this sample: absent routers disappear, and so does the failed-stream count
   * when it is unknown (a stale number is not shown as a current one).
   */
  apply(sample: MetricsSample): void;
  /** The inputs whose totals are exported (read at each collect). */
  readInputs(inputs: readonly InputSource[]): void;
  /** Forgets a deleted router's label values. */
  forgetRouter(routerId: string): void;
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const LAG_BUCKETS = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600];
const BATCH_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

/**
 * `knownEvent` says whether an event name may become a label value (a transformer exists for it); the rest are
 * counted as `other`, so a client sending random names cannot grow the series without bound.
 */
export function createServiceMetrics(knownEvent: (name: string) => boolean, opts: { defaultMetrics?: boolean } = {}): ServiceMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  // Registered in this order, which is the order of the exposition.
  const rpc = rpcFamily(registry);
  const emit = emitFamily(registry, knownEvent);
  const delivery = deliveryFamily(registry);
  const reconcile = reconcileFamily(registry);
  const routers = routerFamily(registry);
  const nats = natsFamily(registry);
  const ingest = ingestFamily(registry);
  return {
    registry,
    recorder: { ...rpc, ...emit.recorder, ...delivery.recorder, ...reconcile.recorder },
    apply(s) {
      routers.apply(s.routers);
      nats.apply(s);
    },
    readInputs: ingest.readInputs,
    forgetRouter(routerId) {
      emit.forgetRouter(routerId);
      delivery.forgetRouter(routerId);
      reconcile.forgetRouter(routerId);
    },
  };
}

const metricName = (s: string): string => `${METRIC_PREFIX}${s}`;

/** A group of metrics counted per router: its part of the recorder and how it forgets a deleted router. */
interface RouterCounters<K extends keyof MetricsRecorder> {
  readonly recorder: Pick<MetricsRecorder, K>;
  forgetRouter(routerId: string): void;
}

/** What the RPC interceptor counts. */
function rpcFamily(registry: Registry): Pick<MetricsRecorder, "rpc"> {
  const rpcs = new Counter({
    name: metricName("rpc_requests_total"),
    help: "RPCs handled, by procedure and code",
    labelNames: ["procedure", "code"],
    registers: [registry],
  });
  const rpcSeconds = new Histogram({
    name: metricName("rpc_duration_seconds"),
    help: "RPC handling time, by procedure",
    labelNames: ["procedure"],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  return {
    rpc(procedure, code, seconds) {
      rpcs.inc({ procedure, code });
      rpcSeconds.observe({ procedure }, seconds);
    },
  };
}

/** What the emit path counts: events by name and outcome, and the statements it stored per router. */
function emitFamily(registry: Registry, knownEvent: (name: string) => boolean): RouterCounters<"event" | "stored" | "duplicate"> {
  const events = new Counter({
    name: metricName("events_total"),
    help: "Events through the emit path (Emit, EmitBatch, inputs), by name and overall outcome",
    labelNames: ["event", "outcome"],
    registers: [registry],
  });
  const stored = new Counter({
    name: metricName("statements_stored_total"),
    help: "Delivery messages stored, per router",
    labelNames: ["router"],
    registers: [registry],
  });
  const duplicates = new Counter({
    name: metricName("statements_duplicate_total"),
    help: "Delivery messages JetStream already held under their id (a retried call), per router: not stored again",
    labelNames: ["router"],
    registers: [registry],
  });
  return {
    recorder: {
      event(name, outcome) {
        events.inc({ event: knownEvent(name) ? name : "other", outcome });
      },
      stored(routerId, statements) {
        stored.inc({ router: routerId }, statements);
      },
      duplicate(routerId, statements) {
        duplicates.inc({ router: routerId }, statements);
      },
    },
    forgetRouter(routerId) {
      for (const m of [stored, duplicates]) m.remove({ router: routerId });
    },
  };
}

/** What delivery counts: each HTTP request and each settled statement, per router. */
function deliveryFamily(registry: Registry): RouterCounters<"attempt" | "settled"> {
  const attempts = new Counter({
    name: metricName("delivery_attempts_total"),
    help: "HTTP delivery requests, per router and answer class",
    labelNames: ["router", "answer"],
    registers: [registry],
  });
  const results = new Counter({
    name: metricName("delivery_results_total"),
    help: "Statements settled after an attempt, per router and result",
    labelNames: ["router", "result"],
    registers: [registry],
  });
  const batchSize = new Histogram({
    name: metricName("delivery_batch_size"),
    help: "Statements per HTTP delivery request",
    labelNames: ["router"],
    buckets: BATCH_BUCKETS,
    registers: [registry],
  });
  const httpSeconds = new Histogram({
    name: metricName("delivery_http_duration_seconds"),
    help: "HTTP delivery request time",
    labelNames: ["router"],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const lag = new Histogram({
    name: metricName("delivery_lag_seconds"),
    help: "Stored to acknowledged, per delivered statement",
    labelNames: ["router"],
    buckets: LAG_BUCKETS,
    registers: [registry],
  });
  return {
    recorder: {
      attempt(routerId, answer, statements, seconds) {
        attempts.inc({ router: routerId, answer });
        batchSize.observe({ router: routerId }, statements);
        httpSeconds.observe({ router: routerId }, seconds);
      },
      settled(routerId, result, lagSeconds) {
        results.inc({ router: routerId, result });
        if (lagSeconds !== undefined) lag.observe({ router: routerId }, Math.max(0, lagSeconds));
      },
    },
    forgetRouter(routerId) {
      for (const m of [batchSize, httpSeconds, lag]) m.remove({ router: routerId });
      for (const answer of ANSWER_CLASSES) attempts.remove({ router: routerId, answer });
      for (const result of SETTLED_RESULTS) results.remove({ router: routerId, result });
    },
  };
}

/**
 * The last reconcile of each router that ran in this instance (kept until the next one or a restart): the
 * alert EventRoutingReconcileMissing fires on `missing` of the most recent run across instances, which the
 * timestamp picks (deploy/prometheus/alerts.yml).
 */
function reconcileFamily(registry: Registry): RouterCounters<"reconciled"> {
  const gauge = (name: string, help: string) => new Gauge({ name: metricName(name), help, labelNames: ["router"], registers: [registry] });
  const missing = gauge("reconcile_missing_statements", "Statements the router's LRS lacked at the last reconcile run here");
  const unknown = gauge("reconcile_unknown_statements", "Statements the LRS gave no clear answer for at the last reconcile run here");
  const found = gauge("reconcile_found_statements", "Statements the LRS held at the last reconcile run here");
  const at = gauge("reconcile_last_run_timestamp_seconds", "When the last reconcile of the router run here finished (Unix time)");
  return {
    recorder: {
      reconciled(routerId, r, when) {
        const router = routerId;
        missing.set({ router }, r.missing);
        unknown.set({ router }, r.unknown);
        found.set({ router }, r.found);
        at.set({ router }, when.getTime() / 1000);
      },
    },
    forgetRouter(routerId) {
      for (const g of [missing, unknown, found, at]) g.remove({ router: routerId });
    },
  };
}

/** Each router's sampled gauges; `apply` replaces them all, so a router absent from the sample disappears. */
function routerFamily(registry: Registry): { apply(routers: MetricsSample["routers"]): void } {
  const gauge = (name: string, help: string, labelNames: readonly string[] = ["router"]) =>
    new Gauge({ name: metricName(name), help, labelNames, registers: [registry] });
  const pending = gauge("router_pending", "Statements not yet delivered (consumer num_pending), sampled at scrape");
  const inFlight = gauge("router_in_flight", "Statements delivered to a worker and not yet acknowledged, sampled at scrape");
  const failedStored = gauge("router_failed_stored", "Statements of this router in the failed stream, sampled at scrape");
  const state = gauge("router_state", "1 for the router's current state as this instance sees it", ["router", "state"]);
  const age = gauge("router_oldest_pending_age_seconds", "Age of the oldest undelivered statement, 0 when none");
  const expires = gauge(
    "router_oldest_pending_expires_in_seconds",
    "Seconds until the delivery stream's age limit removes the oldest undelivered statement",
  );
  return {
    apply(routers) {
      for (const g of [pending, inFlight, failedStored, state, age, expires]) g.reset();
      for (const r of routers) {
        const router = r.routerId;
        pending.set({ router }, r.pending);
        inFlight.set({ router }, r.inFlight);
        failedStored.set({ router }, r.failedStored);
        age.set({ router }, r.oldestPendingAgeSeconds);
        if (r.oldestPendingExpiresInSeconds !== undefined) expires.set({ router }, r.oldestPendingExpiresInSeconds);
        for (const st of ROUTER_STATES) state.set({ router, state: st }, st === r.state ? 1 : 0);
      }
    },
  };
}

/** The NATS connection and the failed stream (every router's), sampled. */
function natsFamily(registry: Registry): { apply(sample: MetricsSample): void } {
  const failedStreamName = metricName("failed_stream_messages");
  const failedStream = new Gauge({
    name: failedStreamName,
    help: "Messages in the failed stream, sampled at scrape",
    registers: [registry],
  });
  const nats = new Gauge({ name: metricName("nats_connected"), help: "1 while the NATS connection is up", registers: [registry] });
  return {
    apply(s) {
      nats.set(s.natsConnected ? 1 : 0);
      // An unlabelled gauge cannot be absent in prom-client (reset() makes it 0), so it leaves the registry instead.
      if (s.failedStreamMessages === undefined) registry.removeSingleMetric(failedStreamName);
      else {
        if (!registry.getSingleMetric(failedStreamName)) registry.registerMetric(failedStream);
        failedStream.set(s.failedStreamMessages);
      }
    },
  };
}

/** The inputs' totals since start and whether each reads, read from `readInputs`' list at collect time. */
function ingestFamily(registry: Registry): Pick<ServiceMetrics, "readInputs"> {
  let inputs: readonly InputSource[] = [];
  const inputCounter = (name: string, help: string, read: (i: InputSource) => number) =>
    collectedCounter({ name: metricName(name), help, labelNames: ["input"], registers: [registry] }, () =>
      inputs.map((i) => ({ labels: { input: i.input }, value: read(i) })),
    );
  inputCounter("ingest_entries_read_total", "Entries read by an input since start", (i) => i.stats.entriesRead);
  inputCounter("ingest_statements_stored_total", "Delivery messages stored by an input since start", (i) => i.stats.statementsStored);
  inputCounter(
    "ingest_statements_duplicate_total",
    "Delivery messages an input found already stored (a batch processed again)",
    (i) => i.stats.statementsDuplicate,
  );
  inputCounter("ingest_rejected_total", "Entries an input stored in the rejected stream since start", (i) => i.stats.rejected);
  new Gauge({
    name: metricName("ingest_serving"),
    help: "1 while an input reads",
    labelNames: ["input"],
    registers: [registry],
    collect() {
      this.reset();
      for (const i of inputs) this.set({ input: i.input }, i.serving() ? 1 : 0);
    },
  });
  return {
    readInputs(list) {
      inputs = list;
    },
  };
}

/**
 * A counter whose values are totals kept elsewhere (an input's stats), read at collect time. It only ever grows by
 * the growth it sees, so a total that went backwards (a source replaced) stalls the series instead of making a
 * counter decrease, which Prometheus would take for a restart.
 */
function collectedCounter<L extends string>(
  config: { name: string; help: string; labelNames: readonly L[]; registers: Registry[] },
  read: () => ReadonlyArray<{ labels: Record<L, string>; value: number }>,
): Counter<L> {
  const seen = new Map<string, number>();
  return new Counter<L>({
    ...config,
    collect() {
      for (const { labels, value } of read()) {
        const key = JSON.stringify(labels);
        const before = seen.get(key);
        if (before !== undefined && value <= before) continue;
        this.inc(labels, before === undefined ? value : value - before);
        seen.set(key, value);
      }
    },
  });
}
