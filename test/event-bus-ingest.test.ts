/**
 * The inputs as an operator runs them: a real redis-server (spawned here) written to by an independent Python
 * producer that writes entries exactly as an Open edX LMS does (Debian's python3-redis and python3-avro, the
 * openedx-events schema), a real nats-server, and the whole service reading both, delivering to real HTTP
 * endpoints. A second service instance, fed through EmitBatch instead, is the reference for "the same
 * statements as through Emit".
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { create } from "@bufbuild/protobuf";
import { Code, type ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Backend, EventInputSchema, Outcome } from "../gen/eventrouting/v1/event_pb.js";
import { EventRoutingService } from "../gen/eventrouting/v1/event_routing_service_pb.js";
import { Health, HealthCheckResponse_ServingStatus as Serving } from "../gen/grpc/health/v1/health_pb.js";
import {
  IngestAdminService,
  IngestInputKind,
  IngestInputState,
  type IngestInputStatus,
} from "../gen/eventrouting/v1/ingest_admin_service_pb.js";
import { RouterAdminService } from "../gen/eventrouting/v1/router_admin_service_pb.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { loadConfig } from "../src/config.js";
import { connectNats } from "../src/nats/connection.js";
import { HEALTH_EVENT_BUS_REDIS } from "../src/ingest/ingest-inputs.js";
import { HDR_INGEST_ID, HDR_REJECT_REASON } from "../src/ingest/rejected-store.js";
import { startService, type RunningService } from "../src/service.js";
import { capturingLogger } from "./server-fixtures.js";
import { ERB_FIXTURES_DIR } from "./support/erb-fixtures.js";
import { CaliperReceiver, FaultEndpoint, waitUntil } from "./support/http-endpoints.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";
import { TestRedisServer } from "./support/redis-server.js";

const run = promisify(execFile);
const TOKEN = "admin-token-for-event-bus";
const EMIT_TOKEN = "emit-token-for-event-bus";
const auth = (t = TOKEN) => ({ headers: { authorization: `Bearer ${t}` } });
const PRODUCER = join(import.meta.dirname, "clients", "event_bus_producer.py");
const RAW = join(ERB_FIXTURES_DIR, "raw");
const ENROLLMENT = join(RAW, "edx.course.enrollment.activated.json");
const STREAM_KEY = "openedx-analytics";

let nats: TestNatsServer;
let redis: TestRedisServer;
let viaBus: RunningService;
let viaEmit: RunningService;
let xapiEndpoint: FaultEndpoint;
let caliperEndpoint: CaliperReceiver;
let nc: NatsConnection;
let jsm: JetStreamManager;
const logs = capturingLogger();

function config(prefix: string, extra: Record<string, string>) {
  return loadConfig({
    NATS_URL: nats.url,
    NATS_PREFIX: prefix,
    PORT: "0",
    ADMIN_TOKENS: TOKEN,
    EMIT_TOKENS: EMIT_TOKEN,
    CALIPER_ENABLED: "true",
    IDENTITY_HMAC_SECRET: "event-bus-test-secret-0123456789",
    LOG_RPCS: "false",
    SHUTDOWN_GRACE_MS: "1000",
    ...extra,
  });
}

async function produce(...args: string[]): Promise<Array<Record<string, unknown>>> {
  const { stdout } = await run("/usr/bin/python3", [PRODUCER, redis.url, STREAM_KEY, ...args], { maxBuffer: 64 * 1024 * 1024 });
  return stdout
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const clientOf = <S extends Parameters<typeof createClient>[0]>(service: S, s: RunningService) =>
  createClient(service, createGrpcTransport({ baseUrl: `http://127.0.0.1:${s.port}` }));

async function subjectCount(stream: string, subject: string): Promise<number> {
  const info = await jsm.streams.info(stream, { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

/** (router id, statement id) -> statement, for every message of a delivery stream. */
async function storedStatements(stream: string): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  const { state } = await jsm.streams.info(stream);
  for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq });
    if (m) out.set(`${m.header.get("Er-Router-Id")} ${m.header.get("Er-Statement-Id")}`, m.json());
  }
  return out;
}

async function busStatus(): Promise<IngestInputStatus> {
  const res = await clientOf(IngestAdminService, viaBus).getIngestStatus({}, auth());
  return res.inputs.find((i) => i.kind === IngestInputKind.EVENT_BUS_REDIS)!;
}

async function natsStatus(): Promise<IngestInputStatus> {
  const res = await clientOf(IngestAdminService, viaBus).getIngestStatus({}, auth());
  return res.inputs.find((i) => i.kind === IngestInputKind.NATS)!;
}

/** Resolves when the health status of `service` on the bus instance is `wanted` (Watch: no polling). */
async function healthBecomes(service: string, wanted: Serving): Promise<void> {
  const abort = new AbortController();
  try {
    for await (const r of clientOf(Health, viaBus).watch({ service }, { signal: abort.signal })) if (r.status === wanted) return;
  } finally {
    abort.abort();
  }
}

async function createRouters(s: RunningService, xapiUrl: string, caliperUrl: string): Promise<void> {
  const admin = clientOf(RouterAdminService, s);
  await admin.createRouter({ router: { id: "bus-xapi", backend: Backend.XAPI, endpointUrl: xapiUrl, enabled: true } }, auth());
  await admin.createRouter({ router: { id: "bus-caliper", backend: Backend.CALIPER, endpointUrl: caliperUrl, enabled: true } }, auth());
}

before(async () => {
  [nats, redis, xapiEndpoint, caliperEndpoint] = await Promise.all([
    startNatsServer(),
    TestRedisServer.start(),
    FaultEndpoint.start(),
    CaliperReceiver.start(),
  ]);
  nc = await connectNats({ servers: nats.url });
  jsm = await jetstreamManager(nc);
});

after(async () => {
  await Promise.all([viaBus?.close(), viaEmit?.close()]);
  await Promise.all([xapiEndpoint?.close(), caliperEndpoint?.close()]);
  await redis?.close();
  await nc?.close();
  await nats?.stop();
});

describe("Open edX event bus (Redis Streams) and NATS ingest", () => {
  test("setup: one instance reads the LMS's stream, one is fed through EmitBatch", async () => {
    viaBus = await startService(
      {
        ...config("evbus", {
          // The form Tutor writes (empty user before "@", trailing "/").
          EVENT_BUS_REDIS_CONNECTION_URL: `redis://@127.0.0.1:${redis.port}/`,
          EVENT_BUS_TOPIC_PREFIX: "openedx",
          EVENT_BUS_CONSUMER_NAME: "bus-a",
          EVENT_BUS_CLAIM_IDLE_MS: "5000",
          DELIVERY_BATCH_INTERVAL_MS: "100",
        }),
        natsUrl: nats.url,
      },
      logs.logger,
    );
    viaEmit = await startService(
      { ...config("viaemit", { DELIVERY_ENABLED: "false", NATS_INGEST_ENABLED: "false" }), natsUrl: nats.url },
      logs.logger.child({ instance: "emit" }),
    );
    await createRouters(viaBus, `${xapiEndpoint.url}/xapi`, caliperEndpoint.url);
    await createRouters(viaEmit, "http://127.0.0.1:9/xapi", "http://127.0.0.1:9/caliper");
    await healthBecomes(HEALTH_EVENT_BUS_REDIS, Serving.SERVING);
  });

  test("every raw ERB fixture through the bus is stored exactly as through Emit, ids included; xAPI reaches the LRS", async () => {
    const written = await produce("fixtures", RAW);
    assert.equal(written.length, 69);
    // The LMS sends {name, timestamp, data, context} with the timestamp as datetime.isoformat(). Where the raw
    // fixture is that event already, Emit gets the raw fixture itself; the others (tracking-log shape, a "Z"
    // timestamp) never cross the bus as they are, so Emit gets the event the LMS would have sent.
    let asIs = 0;
    const inputs = written.map((w) => {
      const text = readFileSync(join(RAW, String(w["file"])), "utf8");
      const raw = JSON.parse(text) as Record<string, unknown>;
      const log = w["tracking_log"] as { name: string; timestamp: string; data: string; context: string };
      const sameEvent =
        Object.keys(raw).every((k) => ["name", "timestamp", "data", "context"].includes(k)) && raw["timestamp"] === log.timestamp;
      if (sameEvent) asIs++;
      const sent: Record<string, unknown> = { name: log.name, timestamp: log.timestamp };
      if (JSON.parse(log.data) !== null) sent["data"] = JSON.parse(log.data);
      if (JSON.parse(log.context) !== null) sent["context"] = JSON.parse(log.context);
      return create(EventInputSchema, { event: { case: "json", value: sameEvent ? text : JSON.stringify(sent) } });
    });
    assert.equal(asIs, 58, "58 of the 69 fixtures are the very event the LMS puts on the bus");
    const res = await clientOf(EventRoutingService, viaEmit).emitBatch({ events: inputs }, auth(EMIT_TOKEN));
    const expected = new Set<string>();
    for (const r of res.results)
      for (const b of r.backends) for (const router of b.routerIds) for (const id of b.statementIds) expected.add(`${router} ${id}`);
    assert.ok(expected.size > 80, `${expected.size} statements`);

    await waitUntil(
      async () => (await jsm.streams.info("EVBUS_DELIVERY")).state.messages >= expected.size,
      30_000,
      "the bus instance stored every statement",
    );
    const [bus, emitted] = await Promise.all([storedStatements("EVBUS_DELIVERY"), storedStatements("VIAEMIT_DELIVERY")]);
    assert.deepEqual([...bus.keys()].sort(), [...expected].sort(), "the same statement ids for the same routers");
    for (const [key, statement] of emitted) assert.deepEqual(bus.get(key), statement, `statement ${key}`);

    const xapiIds = [...expected].filter((k) => k.startsWith("bus-xapi ")).map((k) => k.slice("bus-xapi ".length));
    await waitUntil(() => xapiIds.every((id) => xapiEndpoint.stored.has(id)), 30_000, "every xAPI statement delivered to the LRS endpoint");
    const status = await busStatus();
    assert.equal(status.entriesRead, 69n);
    assert.equal(
      status.outcomes.reduce((n, o) => n + o.count, 0n),
      69n,
      "every entry went through the emit path",
    );
    const expectedOutcomes = new Map<Outcome, bigint>();
    for (const r of res.results) expectedOutcomes.set(r.outcome, (expectedOutcomes.get(r.outcome) ?? 0n) + 1n);
    const counted = new Map(status.outcomes.map((o) => [o.outcome, o.count]));
    // A batch whose PubAcks came late (a loaded machine: CI runs two runtimes side by side) is retried in place, and
    // what its first try stored then comes back DUPLICATE, as InputStats documents. Only then may PUBLISHED and
    // DUPLICATE differ from Emit's, and only by moving events from one to the other.
    const retried = logs
      .lines()
      .filter((l) => String(l["msg"]).startsWith("could not store an input batch; retrying") && l["source"] === "event-bus-redis");
    if (retried.length === 0) {
      const warnings = logs.lines().filter((l) => Number(l["level"]) >= 40);
      assert.deepEqual(counted, expectedOutcomes, `outcomes counted as Emit reports them; warnings: ${JSON.stringify(warnings)}`);
    } else {
      const sum = (m: Map<Outcome, bigint>) => (m.get(Outcome.PUBLISHED) ?? 0n) + (m.get(Outcome.DUPLICATE) ?? 0n);
      assert.equal(sum(counted), sum(expectedOutcomes), `published or duplicate, after a retry: ${JSON.stringify(retried)}`);
      for (const [outcome, n] of expectedOutcomes)
        if (outcome !== Outcome.PUBLISHED && outcome !== Outcome.DUPLICATE) assert.equal(counted.get(outcome), n, `outcome ${outcome}`);
      assert.ok((counted.get(Outcome.DUPLICATE) ?? 0n) >= (expectedOutcomes.get(Outcome.DUPLICATE) ?? 0n), "no fewer duplicates");
    }
  });

  test("malformed entries end in the rejected stream with their reasons, and the stream keeps flowing", async () => {
    const before = await subjectCount("EVBUS_DELIVERY", "evbus.deliver.bus-xapi");
    const cases = await produce("malformed", ENROLLMENT);
    const idOf = (c: string) => String(cases.find((x) => x["case"] === c)!["entry_id"]);
    await waitUntil(
      async () => (await subjectCount("EVBUS_DELIVERY", "evbus.deliver.bus-xapi")) === before + 1,
      20_000,
      "the good entry after the bad ones stored",
    );
    await waitUntil(async () => (await busStatus()).pending === 0n, 20_000, "every entry acknowledged");

    const reasons = new Map<string, string>();
    const { state } = await jsm.streams.info("EVBUS_REJECTED");
    for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
      const m = await jsm.streams.getMessage("EVBUS_REJECTED", { seq });
      if (m && m.subject === "evbus.rejected.event-bus-redis") reasons.set(m.header.get(HDR_INGEST_ID), m.header.get(HDR_REJECT_REASON));
    }
    assert.match(reasons.get(idOf("bad avro"))!, /not a TrackingLogData Avro record/);
    assert.match(reasons.get(idOf("missing event_data"))!, /missing "event_data"/);
    assert.match(reasons.get(idOf("invalid JSON in data"))!, /tracking_log\.data is not JSON/);
    assert.match(reasons.get(idOf("invalid JSON in context"))!, /tracking_log\.context is not JSON/);
    assert.match(reasons.get(idOf("missing id"))!, /missing "id"/);
    assert.match(reasons.get(idOf("empty timestamp"))!, /timestamp/);
    assert.equal(reasons.has(idOf("other type")), false, "another signal is not an error");
    assert.equal(reasons.size, 6);

    const status = await busStatus();
    assert.equal(status.rejected, 6n);
    assert.equal(status.skippedOtherType, 1n);
    assert.equal(status.state, IngestInputState.SERVING);
    assert.equal(status.lag, 0n);
    assert.match(status.source, /stream openedx-analytics, group event_routing, consumer bus-a/);
    assert.ok(!status.source.includes(String(redis.port)), "the Redis URL is not shown");
  });

  test("NATS ingest subject: good messages are stored, bad ones rejected with the reason, nothing left behind", async () => {
    const js = jetstream(viaBus.nc);
    const before = await subjectCount("EVBUS_DELIVERY", "evbus.deliver.bus-xapi");
    const withTimestamp = (timestamp: string) => JSON.stringify({ ...(JSON.parse(readFileSync(ENROLLMENT, "utf8")) as object), timestamp });
    const enrollment = withTimestamp("2032-02-02T00:00:00.000001+00:00");
    const logLine = `2032-02-02 00:00:00,000 INFO 20 [tracking] logger.py:41 - ${withTimestamp("2032-02-02T00:00:00.000002+00:00")}`;
    await js.publish("evbus.ingest.lms", enrollment);
    await js.publish("evbus.ingest.replay", logLine);
    await js.publish("evbus.ingest.lms", "{nope}");
    await js.publish("evbus.ingest.lms", JSON.stringify({ name: "edx.course.enrollment.activated" }));
    await js.publish("evbus.ingest.lms", new Uint8Array([0xff, 0xfe, 0x00]));
    await waitUntil(
      async () => (await subjectCount("EVBUS_DELIVERY", "evbus.deliver.bus-xapi")) === before + 2,
      20_000,
      "both good messages stored",
    );
    await waitUntil(async () => (await subjectCount("EVBUS_REJECTED", "evbus.rejected.nats")) === 3, 20_000, "three rejected copies");
    await waitUntil(
      async () => {
        const s = await natsStatus();
        return s.pending === 0n && s.lag === 0n && s.entriesRead === 5n;
      },
      20_000,
      "every message acknowledged",
    );
    const last = await jsm.streams.getMessage("EVBUS_REJECTED", { last_by_subj: "evbus.rejected.nats" });
    assert.match(last!.header.get(HDR_REJECT_REASON), /message\.json: /);
    const info = await jsm.streams.info("EVBUS_INGEST");
    assert.equal(info.state.messages, 0, "a work queue: acknowledged messages are gone");
    const s = await natsStatus();
    assert.equal(s.rejected, 3n);
    assert.equal(s.state, IngestInputState.SERVING);
  });

  test("GetIngestStatus is admin-only", async () => {
    await assert.rejects(
      clientOf(IngestAdminService, viaBus).getIngestStatus({}, auth(EMIT_TOKEN)),
      (e: ConnectError) => e.code === Code.PermissionDenied,
    );
    const res = await clientOf(IngestAdminService, viaEmit).getIngestStatus({}, auth());
    assert.deepEqual(
      res.inputs.map((i) => i.state),
      [IngestInputState.DISABLED, IngestInputState.DISABLED],
      "inputs not configured there",
    );
  });

  test("Redis restart mid-stream: health NOT_SERVING while it is down, consumption resumes, nothing lost or doubled", async () => {
    const subject = "evbus.deliver.bus-xapi";
    const before = await subjectCount("EVBUS_DELIVERY", subject);
    await produce("bulk", ENROLLMENT, "1500", "0");
    await waitUntil(async () => (await subjectCount("EVBUS_DELIVERY", subject)) > before, 20_000, "consumption started");
    const down = healthBecomes(HEALTH_EVENT_BUS_REDIS, Serving.NOT_SERVING);
    await redis.stop();
    await down;
    const up = healthBecomes(HEALTH_EVENT_BUS_REDIS, Serving.SERVING);
    await redis.restart();
    await up;
    await produce("bulk", ENROLLMENT, "500", "1500");
    await waitUntil(async () => (await subjectCount("EVBUS_DELIVERY", subject)) >= before + 2000, 30_000, "all 2000 events stored");
    await waitUntil(
      async () => {
        const s = await busStatus();
        return s.pending === 0n && s.lag === 0n;
      },
      20_000,
      "every entry acknowledged",
    );
    assert.equal(await subjectCount("EVBUS_DELIVERY", subject), before + 2000, "one statement per event: none lost, none stored twice");
    const retries = logs.lines().filter((l) => l["msg"] === "event bus: Redis unreachable; retrying");
    assert.ok(retries.length > 0 && typeof retries[0]!["retryInMs"] === "number", "the outage is logged with the next retry");
    assert.ok((await busStatus()).lastError.startsWith("redis: "));
  });
});
