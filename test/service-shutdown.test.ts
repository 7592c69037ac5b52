/**
 * close() while NATS is down (a SIGTERM during an outage): the service still stops everything it opened. Before,
 * draining the NATS connection failed ("connection disconnected"), close() rejected, the steps after it (the
 * statement log) never ran and the client went on reconnecting, which kept a process that did not exit by itself
 * alive for ever. A start that fails part-way (a busy METRICS_PORT) stops what it had started, its listeners too.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { Backend, EventInputSchema } from "../gen/eventrouting/v1/event_pb.js";
import { EventRoutingService } from "../gen/eventrouting/v1/event_routing_service_pb.js";
import { RouterAdminService } from "../gen/eventrouting/v1/router_admin_service_pb.js";
import { loadConfig } from "../src/config.js";
import { startService } from "../src/service.js";
import { ERB_FIXTURES_DIR } from "./support/erb-fixtures.js";
import { freePort } from "./support/free-port.js";
import { startNatsServer } from "./support/nats-server.js";

const dir = mkdtempSync(join(tmpdir(), "er-shutdown-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("close() during a NATS outage ends the NATS connection and still closes the statement log", async () => {
  const nats = await startNatsServer();
  const log = join(dir, "xapi.log");
  const config = loadConfig({
    NATS_URL: nats.url,
    PORT: "0",
    EMIT_TOKENS: "emit-token-for-tests-0123456789",
    ADMIN_TOKENS: "admin-token-for-tests-0123456789",
    XAPI_STATEMENT_LOG: log,
    DELIVERY_ENABLED: "false",
    SHUTDOWN_GRACE_MS: "1000",
  });
  const svc = await startService({ ...config, natsUrl: nats.url }, pino({ level: "silent" }));
  try {
    const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${svc.port}` });
    // The statement log has what routers stored: one router, so the emit below is logged.
    await createClient(RouterAdminService, transport).createRouter(
      { router: { id: "shutdown", backend: Backend.XAPI, endpointUrl: "http://127.0.0.1:9/xapi", enabled: true } },
      { headers: { authorization: "Bearer admin-token-for-tests-0123456789" } },
    );
    const events = createClient(EventRoutingService, transport);
    const json = readFileSync(join(ERB_FIXTURES_DIR, "raw", "play_video.json"), "utf8");
    await events.emit(
      { event: create(EventInputSchema, { event: { case: "json", value: json } }) },
      {
        headers: { authorization: "Bearer emit-token-for-tests-0123456789" },
      },
    );
    await nats.server.stop();
    await svc.close();
    assert.equal(svc.nc.isClosed(), true, "the NATS client no longer reconnects");
    assert.match(readFileSync(log, "utf8"), /"verb"/, "the statement log was written and closed");
  } finally {
    await nats.stop();
  }
});

test("a failed start (METRICS_PORT in use) stops what it had started: the RPC port is free again", async () => {
  const nats = await startNatsServer();
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, "127.0.0.1", () => r()));
  try {
    const rpcPort = await freePort();
    const config = loadConfig({
      NATS_URL: nats.url,
      PORT: String(rpcPort),
      METRICS_PORT: String((busy.address() as AddressInfo).port),
      EMIT_TOKENS: "emit-token-for-tests-0123456789",
      ADMIN_TOKENS: "admin-token-for-tests-0123456789",
      DELIVERY_ENABLED: "false",
    });
    await assert.rejects(startService({ ...config, natsUrl: nats.url }, pino({ level: "silent" })), { code: "EADDRINUSE" });
    // The RPC server had been listening on rpcPort before the metrics server failed.
    const probe = createServer();
    await new Promise<void>((resolve, reject) => {
      probe.once("error", reject);
      probe.listen(rpcPort, "127.0.0.1", () => resolve());
    });
    await new Promise<void>((r) => probe.close(() => r()));
  } finally {
    busy.close();
    await nats.stop();
  }
});
