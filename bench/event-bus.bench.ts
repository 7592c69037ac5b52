/**
 * Event-bus ingest throughput: a Redis Stream pre-filled with 100k entries exactly as event-bus-redis writes
 * them (CloudEvent fields + schemaless Avro TrackingLogData; the ERB fixture mix, timestamps varied so every
 * statement id is new), consumed by the service's Redis input into a real nats-server with two xAPI routers;
 * and, in the same run and set-up, EmitBatch of 100 over gRPC for comparison. Delivery is off: this measures
 * the way in. Prints events/s and statements stored/s; not a test. BENCH_ENTRIES changes the 100k.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createClient as createRedisClient } from "@redis/client";
import { pino } from "pino";
import { Backend, EventInputSchema } from "../gen/eventrouting/v1/event_pb.js";
import { EventRoutingService } from "../gen/eventrouting/v1/event_routing_service_pb.js";
import { RouterAdminService } from "../gen/eventrouting/v1/router_admin_service_pb.js";
import { loadConfig } from "../src/config.js";
import { encodeTrackingLog, TRACKING_EVENT_TYPE } from "../src/ingest/event-bus/tracking-log-schema.js";
import { startService } from "../src/service.js";
import { ERB_FIXTURES_DIR } from "../test/support/erb-fixtures.js";
import { startNatsServer } from "../test/support/nats-server.js";
import { TestRedisServer } from "../test/support/redis-server.js";

const ENTRIES = Number(process.env["BENCH_ENTRIES"] ?? 100_000);
const EMIT_SECONDS = Number(process.env["BENCH_SECONDS"] ?? 4);
const TOKEN = "bench-token-0123456789abcdef";
const STREAM = "analytics";

// The fixture mix as the LMS would put it on the bus: {name, timestamp, data, context}.
const fixtures = readdirSync(join(ERB_FIXTURES_DIR, "raw"))
  .filter((f) => f.endsWith(".json") && !f.includes("anonymous"))
  .map((f) => JSON.parse(readFileSync(join(ERB_FIXTURES_DIR, "raw", f), "utf8")) as Record<string, unknown>);
const withMicros = (ts: string, n: number) =>
  ts.replace(/(\d{2}:\d{2}:\d{2})(\.\d+)?(\+00:00|Z)/, `$1.${String(n % 1_000_000).padStart(6, "0")}+00:00`);

function busEntry(i: number): Record<string, Buffer | string> {
  const f = fixtures[i % fixtures.length]!;
  const data = typeof f["event"] === "string" ? JSON.parse(f["event"]) : (f["data"] ?? f["event"] ?? null);
  return {
    type: TRACKING_EVENT_TYPE,
    id: `00000000-0000-1000-8000-${String(i).padStart(12, "0")}`,
    source: "openedx/lms/web",
    time: new Date().toISOString(),
    minorversion: "0",
    sourcehost: "bench",
    sourcelib: "9.15.0",
    event_data: encodeTrackingLog({
      name: String(f["name"]),
      timestamp: withMicros(String(f["timestamp"] ?? f["time"]), i),
      data: JSON.stringify(data),
      context: JSON.stringify(f["context"] ?? null),
    }),
  };
}

const [nats, redis] = await Promise.all([startNatsServer(), TestRedisServer.start()]);
const filler = await createRedisClient({ url: redis.url }).connect();
let started = Date.now();
for (let i = 0; i < ENTRIES; i += 1000) {
  await Promise.all(Array.from({ length: Math.min(1000, ENTRIES - i) }, (_, k) => filler.xAdd(STREAM, "*", busEntry(i + k))));
}
console.log(`pre-filled ${ENTRIES.toLocaleString("en-US")} entries in ${((Date.now() - started) / 1000).toFixed(1)} s`);
await filler.close();

const baseEnv = {
  NATS_URL: nats.url,
  PORT: "0",
  EMIT_TOKENS: TOKEN,
  ADMIN_TOKENS: TOKEN,
  DELIVERY_ENABLED: "false",
  NATS_INGEST_ENABLED: "false",
  LOG_RPCS: "false",
  LOG_LEVEL: "silent",
  IDENTITY_HMAC_SECRET: "bench-secret-0123456789abcdef",
};
// First without the Redis input: create the routers, measure EmitBatch.
const emitter = await startService({ ...loadConfig(baseEnv), natsUrl: nats.url }, pino({ level: "silent" }));
const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${emitter.port}` });
const opts = { headers: { authorization: `Bearer ${TOKEN}` } };
const admin = createClient(RouterAdminService, transport);
for (const id of ["bench-a", "bench-b"]) {
  await admin.createRouter({ router: { id, backend: Backend.XAPI, endpointUrl: "http://127.0.0.1:9/xapi", enabled: true } }, opts);
}
const client = createClient(EventRoutingService, transport);
const texts = fixtures.map((f) => JSON.stringify(f));
let counter = 1_000_000;
const nextInput = () => {
  const n = counter++;
  return create(EventInputSchema, {
    event: {
      case: "json",
      value: texts[n % texts.length]!.replace(/(\d{2}:\d{2}:\d{2})(\.\d+)?(\+00:00|Z)/g, `$1.${String(n % 1_000_000).padStart(6, "0")}$3`),
    },
  });
};
{
  const deadline = Date.now() + EMIT_SECONDS * 1000;
  let events = 0;
  let statements = 0;
  started = Date.now();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (Date.now() < deadline) {
        const res = await client.emitBatch({ events: Array.from({ length: 100 }, nextInput) }, opts);
        events += 100;
        for (const r of res.results) for (const b of r.backends) statements += b.statementIds.length * b.routerIds.length;
      }
    }),
  );
  const secs = (Date.now() - started) / 1000;
  console.log(
    `EmitBatch of 100 (concurrency 4): ${Math.round(events / secs).toLocaleString("en-US")} events/s, ${Math.round(statements / secs).toLocaleString("en-US")} statements stored/s`,
  );
}
await emitter.close();

// Then the Redis input drains the pre-filled stream.
started = Date.now();
// The routers exist before the consumer starts, so every event is stored for both from the first entry.
const consumer = await startService(
  { ...loadConfig({ ...baseEnv, EVENT_BUS_REDIS_CONNECTION_URL: redis.url, EVENT_BUS_CONSUMER_NAME: "bench" }), natsUrl: nats.url },
  pino({ level: "silent" }),
);
const stats = consumer.ingest.eventBus!.stats;
const processed = () => [...stats.outcomes.values()].reduce((a, b) => a + b, 0) + stats.rejected + stats.skippedOtherType;
while (processed() < ENTRIES) await new Promise((r) => setTimeout(r, 20));
const secs = (Date.now() - started) / 1000;
console.log(
  `Redis event bus (batches of 100): ${Math.round(ENTRIES / secs).toLocaleString("en-US")} events/s, ` +
    `${Math.round(stats.statementsStored / secs).toLocaleString("en-US")} statements stored/s ` +
    `(${ENTRIES.toLocaleString("en-US")} entries, ${stats.statementsStored.toLocaleString("en-US")} statements, ${secs.toFixed(1)} s incl. start-up, rejected ${stats.rejected})`,
);
await consumer.close();
await redis.close();
await nats.stop();
