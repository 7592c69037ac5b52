/**
 * Delivery throughput, end to end: statements emitted through the service are delivered by its own workers to a
 * fast local xAPI endpoint (answers 200 at once), batches of 100. Prints statements delivered per second from the
 * first emit to the last statement received; not a test.
 */
import http from "node:http";
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

const EVENTS = Number(process.env["BENCH_EVENTS"] ?? 20_000);
const TOKEN = "bench";

let received = 0;
let requests = 0;
let allReceived: () => void = () => {};
const done = new Promise<void>((resolve) => (allReceived = resolve));
let expected = Number.POSITIVE_INFINITY;
const endpoint = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const ids = (JSON.parse(Buffer.concat(chunks).toString()) as Array<{ id: string }>).map((s) => s.id);
    received += ids.length;
    requests++;
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(ids));
    if (received >= expected) allReceived();
  });
});
await new Promise<void>((r) => endpoint.listen(0, "127.0.0.1", r));
const port = (endpoint.address() as { port: number }).port;

const nats = await startNatsServer();
const config = loadConfig({
  NATS_URL: nats.url,
  PORT: "0",
  EMIT_TOKENS: TOKEN,
  ADMIN_TOKENS: TOKEN,
  LOG_RPCS: "false",
  LOG_LEVEL: "silent",
});
const service = await startService({ ...config, natsUrl: nats.url }, pino({ level: "silent" }));
const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` });
const opts = { headers: { authorization: `Bearer ${TOKEN}` } };
await createClient(RouterAdminService, transport).createRouter(
  {
    router: {
      id: "bench-lrs",
      backend: Backend.XAPI,
      endpointUrl: `http://127.0.0.1:${port}/xapi`,
      enabled: true,
      delivery: { batchSize: 100, batchInterval: { seconds: 0n, nanos: 200_000_000 } },
    },
  },
  opts,
);
await service.delivery!.settled();

const fixtures = readdirSync(join(ERB_FIXTURES_DIR, "raw"))
  .filter((f) => f.endsWith(".json") && !f.includes("anonymous"))
  .map((f) => readFileSync(join(ERB_FIXTURES_DIR, "raw", f), "utf8").replace(/\s*\n\s*/g, " "));
const event = (i: number) =>
  create(EventInputSchema, {
    event: {
      case: "json",
      value: fixtures[i % fixtures.length]!.replace(/(\d{2}:\d{2}:\d{2})(\.\d+)?(\+00:00|Z)/g, `$1.${String(i).padStart(6, "0")}$3`),
    },
  });

const client = createClient(EventRoutingService, transport);
const started = process.hrtime.bigint();
let statements = 0;
for (let i = 0; i < EVENTS; i += 500) {
  const res = await client.emitBatch({ events: Array.from({ length: Math.min(500, EVENTS - i) }, (_, k) => event(i + k)) }, opts);
  for (const r of res.results) statements += r.backends[0]?.statementIds.length ?? 0;
}
const emitted = Number(process.hrtime.bigint() - started) / 1e9;
expected = statements;
if (received >= expected) allReceived();
await done;
const secs = Number(process.hrtime.bigint() - started) / 1e9;
console.log(
  `delivery: ${Math.round(statements / secs).toLocaleString("en-US")} statements/s delivered (${statements} statements from ${EVENTS} events, ` +
    `${requests} HTTP requests, emitted in ${emitted.toFixed(2)} s, all delivered after ${secs.toFixed(2)} s)`,
);

await service.close();
await nats.stop();
endpoint.close();
