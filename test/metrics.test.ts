/**
 * Prometheus metrics through a real service: METRICS_PORT serves GET /metrics, the counters move with real RPCs,
 * emits and deliveries (to a real HTTP endpoint), the JetStream gauges are sampled at scrape, label values stay
 * bounded, and deploy/prometheus/alerts.yml parses and names only metrics the service exports.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { parse } from "yaml";
import { Backend, EventInputSchema } from "../gen/eventrouting/v1/event_pb.js";
import { answerClass } from "../src/metrics/metrics.js";
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
  await waitUntil(
    async () => (value(await scrape(), 'event_routing_delivery_results_total{router="m1",result="delivered"}') ?? 0) >= 1,
    10_000,
    "ack counted",
  );
  const text = await scrape();
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
  const text = await scrape();
  assert.doesNotMatch(text, /router="m2"/);
  assert.match(text, /router="m1"/);
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
    await back;
  } finally {
    await other.close();
  }
});
