/**
 * Ingest throughput, end to end: Emit and EmitBatch over gRPC (h2c) into a real nats-server, with two xAPI
 * routers matching every event (so each event is stored twice). Delivery is off: this measures the emit path.
 * Prints events/second; not a test.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { Backend, EventInputSchema } from "../gen/eventrouting/v1/event_pb.js";
import { EventRoutingService } from "../gen/eventrouting/v1/event_routing_service_pb.js";
import { RouterAdminService } from "../gen/eventrouting/v1/router_admin_service_pb.js";
import { loadConfig } from "../src/config.js";
import { startService } from "../src/service.js";
import { ERB_FIXTURES_DIR } from "../test/support/erb-fixtures.js";
import { startNatsServer } from "../test/support/nats-server.js";

const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 4);
const TOKEN = "bench";

const nats = await startNatsServer();
const config = loadConfig({
  NATS_URL: nats.url,
  PORT: "0",
  EMIT_TOKENS: TOKEN,
  ADMIN_TOKENS: TOKEN,
  DELIVERY_ENABLED: "false",
  LOG_RPCS: "false",
  LOG_LEVEL: "silent",
});
const service = await startService({ ...config, natsUrl: nats.url }, pino({ level: "silent" }));
const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` });
const opts = { headers: { authorization: `Bearer ${TOKEN}` } };
const admin = createClient(RouterAdminService, transport);
for (const id of ["bench-a", "bench-b"]) {
  await admin.createRouter({ router: { id, backend: Backend.XAPI, endpointUrl: "http://127.0.0.1:9/xapi", enabled: true } }, opts);
}
const client = createClient(EventRoutingService, transport);

// The fixture mix, with the timestamp varied per event so every statement id is new (no de-dupe shortcut).
const fixtures = readdirSync(join(ERB_FIXTURES_DIR, "raw"))
  .filter((f) => f.endsWith(".json") && !f.includes("anonymous"))
  .map((f) => readFileSync(join(ERB_FIXTURES_DIR, "raw", f), "utf8").replace(/\s*\n\s*/g, " "));
let counter = 0;
function nextEvent() {
  const text = fixtures[counter % fixtures.length]!;
  const micros = String(counter++ % 1_000_000).padStart(6, "0");
  return create(EventInputSchema, {
    event: { case: "json", value: text.replace(/(\d{2}:\d{2}:\d{2})(\.\d+)?(\+00:00|Z)/g, `$1.${micros}$3`) },
  });
}

async function measure(label: string, concurrency: number, call: () => Promise<number>): Promise<void> {
  const deadline = Date.now() + SECONDS * 1000;
  let events = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < deadline) {
        // Not `events += await call()`: that reads `events` before awaiting and loses concurrent increments.
        const n = await call();
        events += n;
      }
    }),
  );
  const secs = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(
    `${label}: ${Math.round(events / secs).toLocaleString("en-US")} events/s (${events} events, ${secs.toFixed(2)} s, concurrency ${concurrency})`,
  );
}

await measure("Emit", 16, async () => {
  await client.emit({ event: nextEvent() }, opts);
  return 1;
});
await measure("EmitBatch of 100", 4, async () => {
  await client.emitBatch({ events: Array.from({ length: 100 }, nextEvent) }, opts);
  return 100;
});

await service.close();
await nats.stop();
