/**
 * Prometheus metrics through a real service: METRICS_PORT serves GET /metrics, the counters move with real RPCs,
 * emits and deliveries (to a real HTTP endpoint), the JetStream gauges are sampled at most once per interval
 * whatever the scrape rate (counted at the nats-server), the inputs export counters, label values stay
 * bounded, and deploy/prometheus/alerts.yml parses and names only metrics the service exports.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { jetstream } from "@nats-io/jetstream";
import { parse } from "yaml";
import { Backend, EventInputSchema } from "../gen/eventrouting/v1/event_pb.js";
import { answerClass } from "../src/metrics/metrics.js";
import { throttle } from "../src/metrics/sample-throttle.js";
import { ERB_FIXTURES_DIR } from "./support/erb-fixtures.js";
import { freePort } from "./support/free-port.js";
import { FaultEndpoint, waitUntil } from "./support/http-endpoints.js";
import { adminAuth, emitAuth, startServiceUnderTest, type ServiceUnderTest } from "./support/service-under-test.js";

const raw = (file: string) => readFileSync(join(ERB_FIXTURES_DIR, "raw", file), "utf8");
const ms = (n: number) => ({ seconds: BigInt(Math.floor(n / 1000)), nanos: (n % 1000) * 1_000_000 });

let sut: ServiceUnderTest;
let endpoint: FaultEndpoint;
let metricsUrl: string;

before(async () => {
  endpoint = await FaultEndpoint.start();
  sut = await startServiceUnderTest({ DELIVERY_ENABLED: "true", METRICS_PORT: String(await freePort()), LOG_LEVEL: "warn" });
  metricsUrl = sut.service.metricsUrl!;
});
after(async () => {
  await sut?.close();
  await endpoint?.close();
});

async function scrape(): Promise<string> {
  const res = await fetch(metricsUrl);
  assert.equal(res.status, 200);
  return res.text();
}

/** The value of one series, e.g. value(text, 'event_routing_router_pending{router="r"}'). */
function value(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test("answer classes: 2xx, 409, 4xx, 429, 5xx, timeout and network failures are told apart", () => {
  assert.deepEqual(
    [
      answerClass(200),
      answerClass(204),
      answerClass(409),
      answerClass(400),
      answerClass(429),
      answerClass(503),
      answerClass(undefined, true),
      answerClass(undefined),
    ],
    ["2xx", "2xx", "409", "4xx", "429", "5xx", "timeout", "network"],
  );
});

test("a delivered emit moves the RPC, event, stored, attempt, result, batch, latency and lag metrics", async () => {
  await sut.createRouter({
    id: "m1",
    backend: Backend.XAPI,
    endpointUrl: endpoint.url,
    enabled: true,
    delivery: { batchSize: 5, batchInterval: ms(50) },
  });
  await sut.service.delivery!.settled();
  const event = create(EventInputSchema, { event: { case: "json", value: raw("edx.course.enrollment.activated.json") } });
  await sut.events.emit({ event }, emitAuth);
  await waitUntil(() => endpoint.stored.size >= 1, 20_000, "the statement is delivered");
  // The JetStream gauges are sampled at most once per interval: wait for a sample taken after the delivery.
  let text = "";
  await waitUntil(
    async () => {
      text = await scrape();
      return (
        (value(text, 'event_routing_delivery_results_total{router="m1",result="delivered"}') ?? 0) >= 1 &&
        value(text, 'event_routing_router_pending{router="m1"}') === 0 &&
        value(text, 'event_routing_router_in_flight{router="m1"}') === 0
      );
    },
    20_000,
    "ack counted and sampled",
  );
  assert.equal(value(text, 'event_routing_rpc_requests_total{procedure="eventrouting.v1.EventRoutingService/Emit",code="ok"}'), 1);
  assert.ok(value(text, 'event_routing_rpc_duration_seconds_count{procedure="eventrouting.v1.EventRoutingService/Emit"}')! >= 1);
  assert.equal(value(text, 'event_routing_events_total{event="edx.course.enrollment.activated",outcome="published"}'), 1);
  assert.equal(value(text, 'event_routing_statements_stored_total{router="m1"}'), 1);
  assert.equal(value(text, 'event_routing_delivery_attempts_total{router="m1",answer="2xx"}'), 1);
  assert.equal(value(text, 'event_routing_delivery_batch_size_count{router="m1"}'), 1);
  assert.equal(value(text, 'event_routing_delivery_http_duration_seconds_count{router="m1"}'), 1);
  assert.equal(value(text, 'event_routing_delivery_lag_seconds_count{router="m1"}'), 1);
  assert.equal(value(text, 'event_routing_router_pending{router="m1"}'), 0);
  assert.equal(value(text, 'event_routing_router_in_flight{router="m1"}'), 0);
  assert.equal(value(text, 'event_routing_router_state{router="m1",state="active"}'), 1);
  assert.equal(value(text, "event_routing_nats_connected"), 1);
  assert.equal(value(text, "event_routing_failed_stream_messages"), 0);
  assert.equal(value(text, "event_routing_scrape_sample_ok"), 1);

  // The same event again (a retried call): JetStream holds it already, so it counts as a duplicate, not stored.
  await sut.events.emit({ event }, emitAuth);
  const after = await scrape();
  assert.equal(value(after, 'event_routing_statements_stored_total{router="m1"}'), 1);
  assert.equal(value(after, 'event_routing_statements_duplicate_total{router="m1"}'), 1);
});

test("a failing endpoint shows as 5xx attempts and the FAILING state; unknown event names count as other", async () => {
  const failing = await FaultEndpoint.start(() => ({ status: 503 }));
  try {
    await sut.createRouter({
      id: "m2",
      backend: Backend.XAPI,
      endpointUrl: failing.url,
      enabled: true,
      delivery: { batchSize: 5, batchInterval: ms(50), maxRetries: 5 },
    });
    await sut.service.delivery!.settled();
    const event = create(EventInputSchema, { event: { case: "json", value: raw("edx.course.enrollment.deactivated.json") } });
    await sut.events.emit({ event }, emitAuth);
    const junk = JSON.parse(raw("edx.course.enrollment.activated.json")) as Record<string, unknown>;
    for (const name of ["random.name.1", "random.name.2"]) {
      await sut.events.emit(
        { event: create(EventInputSchema, { event: { case: "json", value: JSON.stringify({ ...junk, name, event_type: name }) } }) },
        emitAuth,
      );
    }
    await waitUntil(
      async () => value(await scrape(), 'event_routing_router_state{router="m2",state="failing"}') === 1,
      20_000,
      "router FAILING",
    );
    const text = await scrape();
    assert.ok(value(text, 'event_routing_delivery_attempts_total{router="m2",answer="5xx"}')! >= 1);
    assert.ok(value(text, 'event_routing_router_in_flight{router="m2"}')! + value(text, 'event_routing_router_pending{router="m2"}')! >= 1);
    assert.ok(value(text, 'event_routing_router_oldest_pending_expires_in_seconds{router="m2"}')! > 0);
    assert.equal(value(text, 'event_routing_events_total{event="other",outcome="no_transformer"}'), 2);
    assert.doesNotMatch(text, /random\.name/);
  } finally {
    await sut.admin.deleteRouter({ id: "m2" }, adminAuth);
    await failing.close();
  }
});

test("a deleted router's series disappear", async () => {
  await waitUntil(() => sut.service.routers.get("m2") === undefined, 10_000, "m2 deleted");
  // Counters go at once; the sampled gauges with the next sample.
  let text = "";
  await waitUntil(
    async () => {
      text = await scrape();
      return !text.includes('router="m2"');
    },
    20_000,
    "m2's series gone",
  );
  assert.match(text, /router="m1"/);
});

test("throttle: one read in flight at a time, at most one per interval, a slow read never doubled", async () => {
  let now = 0;
  let reads = 0;
  let finish: () => void = () => {};
  const refresh = throttle(
    () =>
      new Promise<void>((resolve) => {
        reads++;
        finish = resolve;
      }),
    5_000,
    () => now,
  );
  const first = [refresh(), refresh(), refresh()];
  assert.equal(reads, 1, "concurrent callers share the read");
  now = 60_000;
  void refresh();
  assert.equal(reads, 1, "a read slower than the interval is not started twice");
  finish();
  await Promise.all(first);
  const second = refresh();
  assert.equal(reads, 2, "after the interval, the next caller reads again");
  finish();
  await second;
  now = 64_999;
  await refresh();
  assert.equal(reads, 2, "within the interval of the last read's start, its result is reused");
  now = 65_000;
  void refresh();
  assert.equal(reads, 3);
  finish();
});

/** JetStream API requests the nats-server has served so far (its monitoring endpoint). */
async function jetStreamApiCalls(): Promise<number> {
  const jsz = (await (await fetch(`${sut.nats.monitorUrl}/jsz`)).json()) as { api: { total: number } };
  return jsz.api.total;
}

test("a burst of concurrent scrapes costs one JetStream sample, not one per scrape", async () => {
  // More routers make a per-scrape sample expensive (a consumer info and more per router).
  for (const id of ["burst1", "burst2", "burst3"]) {
    await sut.createRouter({ id, backend: Backend.XAPI, endpointUrl: endpoint.url, enabled: true });
  }
  try {
    const before = await jetStreamApiCalls();
    const texts: string[] = [];
    for (let wave = 0; wave < 4; wave++) texts.push(...(await Promise.all(Array.from({ length: 50 }, () => scrape()))));
    const calls = (await jetStreamApiCalls()) - before;
    // One sample is about 3 requests per router plus 2; 200 unthrottled scrapes of 4 routers cost over 2,000.
    assert.ok(calls <= 40, `200 scrapes cost ${calls} JetStream API requests`);
    assert.equal(texts.length, 200);
    for (const t of texts) assert.equal(value(t, "event_routing_scrape_sample_ok"), 1);
  } finally {
    for (const id of ["burst1", "burst2", "burst3"]) await sut.admin.deleteRouter({ id }, adminAuth);
  }
});

test("the inputs' totals are counters (TYPE counter, _total) that move with what the input reads", async () => {
  const js = jetstream(sut.service.nc);
  await js.publish("eventrouting.ingest.metrics", raw("edx.course.enrollment.activated.json"));
  await js.publish("eventrouting.ingest.metrics", "{not json");
  let text = "";
  await waitUntil(
    async () => {
      text = await scrape();
      return (
        value(text, 'event_routing_ingest_entries_read_total{input="nats"}') === 2 &&
        value(text, 'event_routing_ingest_rejected_total{input="nats"}') === 1
      );
    },
    20_000,
    "the NATS input read both messages",
  );
  const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => [name!, type!]));
  for (const name of ["entries_read_total", "statements_stored_total", "statements_duplicate_total", "rejected_total"]) {
    assert.equal(types.get(`event_routing_ingest_${name}`), "counter", `event_routing_ingest_${name} is a counter`);
  }
  assert.equal(types.get("event_routing_ingest_serving"), "gauge");
  assert.equal(value(text, 'event_routing_ingest_serving{input="nats"}'), 1);
});

test("deploy/prometheus/alerts.yml parses and uses only metrics the running service exports", async () => {
  const text = await scrape();
  const exported = new Set(
    [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) =>
      type === "histogram" ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name!],
    ),
  );
  const doc = parse(readFileSync(new URL("../deploy/prometheus/alerts.yml", import.meta.url), "utf8")) as {
    groups: Array<{ name: string; rules: Array<{ alert: string; expr: string; for?: string; annotations: Record<string, string> }> }>;
  };
  const rules = doc.groups.flatMap((g) => g.rules);
  assert.deepEqual(rules.map((r) => r.alert).sort(), [
    "EventRoutingDown",
    "EventRoutingFailedStreamGrowing",
    "EventRoutingInputNotServing",
    "EventRoutingInputTrimmed",
    "EventRoutingNatsDown",
    "EventRoutingPendingNearMaxAge",
    "EventRoutingReconcileMissing",
    "EventRoutingRouterFailing",
    "EventRoutingStatementLogFailing",
  ]);
  const runbook = readFileSync(new URL("../docs/operations.md", import.meta.url), "utf8");
  for (const r of rules) {
    const names = [...r.expr.matchAll(/\b(event_routing_[a-z0-9_]+)\b/g)].map((m) => m[1]!);
    assert.ok(names.length > 0 || /\bup\{/.test(r.expr), `${r.alert} uses a metric`);
    for (const n of names) assert.ok(exported.has(n), `${r.alert}: ${n} is exported`);
    assert.match(r.annotations["description"] ?? "", /docs\/operations\.md#/, `${r.alert} links its runbook`);
    assert.ok(runbook.includes(`### ${r.alert}`), `docs/operations.md has a runbook section for ${r.alert}`);
  }
});

test("NATS down: the scrape still answers, with nats_connected 0 and scrape_sample_ok 0 (what EventRoutingNatsDown fires on)", async () => {
  const other = await startServiceUnderTest({ METRICS_PORT: String(await freePort()), LOG_LEVEL: "silent" });
  try {
    const url = other.service.metricsUrl!;
    assert.equal(value(await (await fetch(url)).text(), "event_routing_nats_connected"), 1);
    // Down for 20 s, then back on the same port and store, so the service can close normally afterwards.
    const back = other.nats.restart({ downMs: 20_000 });
    let text = "";
    await waitUntil(
      async () => {
        const res = await fetch(url);
        assert.equal(res.status, 200);
        text = await res.text();
        return value(text, "event_routing_nats_connected") === 0;
      },
      15_000,
      "a scrape sees NATS down",
    );
    assert.equal(value(text, "event_routing_scrape_sample_ok"), 0);
    // Omitted, not stale: no JetStream number is shown as current while JetStream does not answer.
    assert.equal(value(text, "event_routing_failed_stream_messages"), undefined);
    assert.doesNotMatch(text, /^event_routing_router_/m);
    // The inputs' counters need no JetStream and stay.
    assert.notEqual(value(text, 'event_routing_ingest_entries_read_total{input="nats"}'), undefined);
    await back;
  } finally {
    await other.close();
  }
});
