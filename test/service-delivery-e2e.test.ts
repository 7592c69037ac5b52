/**
 * The user's path for delivery, through the whole service: EmitBatch over gRPC, stored in JetStream, delivered
 * by the service's own workers to a real LRS (read back with GET); a failing router's critical statement shows
 * up in ListFailed, RetryFailed delivers it once the endpoint recovers; GetRouterStatus reports it all.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { Backend, EventInputSchema, Outcome } from "../gen/eventrouting/v1/event_pb.js";
import { EventRoutingService } from "../gen/eventrouting/v1/event_routing_service_pb.js";
import { RouterAdminService } from "../gen/eventrouting/v1/router_admin_service_pb.js";
import { loadConfig } from "../src/config.js";
import { startService, type RunningService } from "../src/service.js";
import { ERB_FIXTURES_DIR, isAnonymousFixture, rawFixtureFiles } from "./support/erb-fixtures.js";
import { FaultEndpoint, waitUntil } from "./support/http-endpoints.js";
import { lrsInstalled, startLrs, type TestLrs } from "./support/lrs.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";

const TOKEN = "admin-token-for-delivery-e2e";
const opts = { headers: { authorization: `Bearer ${TOKEN}` } };
const ms = (n: number) => ({ seconds: BigInt(Math.floor(n / 1000)), nanos: (n % 1000) * 1_000_000 });

let nats: TestNatsServer;
let lrs: TestLrs;
let service: RunningService;

before(async () => {
  nats = await startNatsServer();
  lrs = await startLrs();
  const config = loadConfig({
    NATS_URL: nats.url,
    PORT: "0",
    EMIT_TOKENS: TOKEN,
    ADMIN_TOKENS: TOKEN,
    LOG_LEVEL: "silent",
    SHUTDOWN_GRACE_MS: "1000",
  });
  service = await startService({ ...config, natsUrl: nats.url }, pino({ level: "silent" }));
});
after(async () => {
  await service?.close();
  await lrs?.stop();
  await nats?.stop();
});

const client = () => createClient(EventRoutingService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));
const admin = () => createClient(RouterAdminService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));
const input = (file: string) =>
  create(EventInputSchema, { event: { case: "json", value: readFileSync(join(ERB_FIXTURES_DIR, "raw", file), "utf8") } });

test("EmitBatch of the fixture events reaches a real LRS, each statement once", {
  skip: !lrsInstalled() && "test LRS not installed",
}, async () => {
  await admin().createRouter(
    {
      router: {
        id: "real-lrs",
        backend: Backend.XAPI,
        endpointUrl: lrs.xapiUrl,
        enabled: true,
        auth: { kind: { case: "basic", value: { username: "test", password: "test" } } },
        delivery: { batchSize: 20, batchInterval: ms(100) },
      },
    },
    opts,
  );
  await service.delivery!.settled();
  const files = rawFixtureFiles().filter((f) => !isAnonymousFixture(f));
  const res = await client().emitBatch({ events: files.map(input) }, opts);
  // ERB's fixture variants reuse ids with different content (the LRS would answer 409); keep the first of each.
  const published = new Map<string, string>();
  for (const r of res.results) {
    assert.notEqual(r.outcome, Outcome.INVALID, r.reason);
    for (const id of r.backends.find((b) => b.backend === Backend.XAPI)?.statementIds ?? [])
      if (!published.has(id)) published.set(id, r.name);
  }
  assert.ok(published.size > 50, `published ${published.size}`);
  await waitUntil(async () => (await lrs.allStatements()).length >= published.size, 20_000, "every statement stored in the LRS");
  const stored = await lrs.allStatements();
  const storedIds = stored.map((s) => String(s["id"]));
  assert.equal(new Set(storedIds).size, storedIds.length, "no statement stored twice");
  for (const id of published.keys()) assert.ok(storedIds.includes(id), `${published.get(id)} ${id} stored`);

  const [status] = (await admin().getRouterStatus({ id: "real-lrs" }, opts)).statuses;
  assert.equal(status!.routerId, "real-lrs");
  assert.ok(status!.delivered >= BigInt(published.size));
  assert.equal(status!.pending, 0n);
});

test("a critical statement that exhausts its retries is kept; ListFailed finds it; RetryFailed delivers it", async () => {
  let healthy = false;
  const endpoint = await FaultEndpoint.start(() => (healthy ? undefined : { status: 503 }));
  try {
    await admin().createRouter(
      {
        router: {
          id: "flaky",
          backend: Backend.XAPI,
          endpointUrl: `http://127.0.0.1:${endpoint.port}/xapi`,
          enabled: true,
          delivery: { batchSize: 1, maxRetries: 1, countdown: ms(500), httpTimeout: ms(200), batchInterval: ms(50) },
        },
      },
      opts,
    );
    await service.delivery!.settled();
    const emitted = await client().emit({ event: input("edx.course.enrollment.deactivated.json") }, opts);
    const statementId = emitted.result!.backends[0]!.statementIds[0]!;

    let failed = await client().listFailed({ filter: { routerId: "flaky" } }, opts);
    await waitUntil(
      async () => {
        failed = await client().listFailed({ filter: { routerId: "flaky" } }, opts);
        return failed.failed.length === 1;
      },
      15_000,
      "the statement in the failed stream",
    );
    const entry = failed.failed[0]!;
    assert.equal(entry.statementId, statementId);
    assert.equal(entry.eventName, "edx.course.enrollment.deactivated");
    assert.equal(entry.attempts, 2);
    assert.equal(entry.lastHttpStatus, 503);
    assert.equal(entry.statement!["id"], statementId);
    assert.equal(endpoint.storedIds().size, 0);

    healthy = true;
    const retried = await client().retryFailed({ ids: [entry.id] }, opts);
    assert.equal(retried.retried, 1);
    await waitUntil(() => endpoint.storedIds().has(statementId), 10_000, "delivered after RetryFailed");
    assert.equal((await client().listFailed({ filter: { routerId: "flaky" } }, opts)).failed.length, 0);
  } finally {
    await endpoint.close();
  }
});
