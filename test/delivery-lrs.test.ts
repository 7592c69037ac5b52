/**
 * End to end against a REAL LRS (Learning Locker's xapi-statements, in memory, random loopback port): every ERB
 * fixture is transformed and published exactly as Emit does, delivered through JetStream in batches, then read
 * back from the LRS with GET and compared. A proxy in front of the LRS fails the first requests AFTER the LRS
 * stored them, so retries re-send stored statements: the LRS must still hold each statement exactly once.
 * A poison statement (invalid timestamp) inside a batch is isolated by the real LRS's 400 and kept as failed.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import { jetstream, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { startDelivery, type Delivery } from "../src/delivery/delivery.js";
import { connectNats } from "../src/nats/connection.js";
import { natsNames } from "../src/nats/names.js";
import { ensureStreams } from "../src/nats/streams.js";
import { StatementPublisher } from "../src/routing/statement-publisher.js";
import { deliveryMessages } from "../src/routing/statement-routing.js";
import type { JsonObject } from "../src/transform/edx-event.js";
import { transformForBackend, type BackendSettings } from "../src/transform/transform-event.js";
import { createXapiRegistry } from "../src/transform/xapi/index.js";
import { captureLogger, fakeStatement, makeRouter, MemoryRouterSource, TEST_DEFAULTS } from "./support/delivery-harness.js";
import { ERB_TEST_ENV, isAnonymousFixture, rawFixtureFiles, readRawFixture } from "./support/erb-fixtures.js";
import { FailingProxy, waitUntil } from "./support/http-endpoints.js";
import { lrsInstalled, startLrs, type TestLrs } from "./support/lrs.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";

const names = natsNames("lrstest");
let nats: TestNatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
let lrs: TestLrs;
let proxy: FailingProxy;
let delivery: Delivery;

before(async () => {
  // One after the other, and the LRS only when installed: a failed start must not leave a nats-server that
  // after() cannot see (it kept the file's process alive, so the run hung instead of skipping).
  nats = await startNatsServer();
  if (lrsInstalled()) lrs = await startLrs();
  nc = await connectNats({ servers: nats.url });
  jsm = await ensureStreams(nc, names, { replicas: 1, deliveryMaxAgeHours: 1 });
});

after(async () => {
  await delivery?.stop();
  await nc?.close();
  await proxy?.close();
  await lrs?.stop();
  await nats?.stop();
});

/** What the LRS adds or may re-format (XAPI-CALIPER-VALIDATION.md §5 rule 9). */
function comparable(s: JsonObject): JsonObject {
  const { stored: _s, authority: _a, timestamp, ...rest } = s;
  return { ...rest, timestamp: typeof timestamp === "string" ? new Date(timestamp).toISOString() : null };
}

test("fixtures reach a real LRS exactly once despite failures after storage; a poison statement is isolated", {
  skip: lrsInstalled() ? false : "run: npm ci --prefix test/lrs --ignore-scripts",
}, async () => {
  // Requests 1 and 2 are stored by the LRS but answered 503: the sender must retry without creating duplicates.
  proxy = await FailingProxy.start(lrs.xapiUrl.replace(/\/xAPI$/, ""), (n) => (n <= 2 ? 503 : undefined));
  const router = makeRouter(
    "lrs",
    `${proxy.url}/xAPI`,
    { auth: { kind: "basic", username: "test", password: "test" } },
    {
      batchSize: 20,
      batchIntervalMs: 100,
      maxRetries: 4,
      countdownMs: 3000,
      httpTimeoutMs: 2000,
      backoffMs: [100],
    },
  );
  const routers = new MemoryRouterSource();
  routers.put(router);
  delivery = await startDelivery({
    nc,
    names,
    routers,
    defaults: TEST_DEFAULTS,
    caliperSensorId: "http://localhost:18000",
    logger: captureLogger().logger,
  });
  await delivery.settled();

  const registry = createXapiRegistry();
  const settings: BackendSettings = { backend: "xapi", enabled: true, filter: { kind: "all" }, registry };
  const publisher = new StatementPublisher(jetstream(nc), { timeoutMs: 5000, streamName: names.deliveryStream });
  // First content per id: fixture variants reuse ids, and the stream de-duplicates by router + statement id.
  const expected = new Map<string, JsonObject>();
  for (const file of rawFixtureFiles()) {
    if (isAnonymousFixture(file)) continue;
    const event = readRawFixture(file);
    const r = transformForBackend(settings, event, ERB_TEST_ENV);
    if (r.outcome !== "transformed") continue;
    for (const s of r.statements) if (!expected.has(String(s["id"]))) expected.set(String(s["id"]), s);
    await publisher.publish(deliveryMessages(names, "xapi", event, r.statements, [router]));
  }
  assert.ok(expected.size >= 50, `only ${expected.size} statements`);
  // The poison: a critical event whose statement the LRS refuses (timestamp without a zone).
  const poison = fakeStatement({ id: randomUUID(), timestamp: "2023-05-10 10:22" }) as JsonObject;
  const enrollment = readRawFixture("edx.course.enrollment.activated.json");
  await publisher.publish(deliveryMessages(names, "xapi", enrollment, [poison], [router]));

  const consumerDone = async () => {
    const ci = await jsm.consumers.info(names.deliveryStream, names.deliveryConsumer("lrs"));
    return ci.num_pending === 0 && ci.num_ack_pending === 0;
  };
  await waitUntil(consumerDone, 30_000, "every statement answered");

  const stored = await lrs.allStatements();
  const ids = stored.map((s) => String(s["id"]));
  assert.equal(new Set(ids).size, ids.length, "no statement stored twice");
  assert.deepEqual(new Set(ids), new Set(expected.keys()), "exactly the fixture statements are stored");
  for (const s of stored) assert.deepEqual(comparable(s as JsonObject), comparable(expected.get(String(s["id"]))!), `statement ${s["id"]}`);
  console.log(
    `lrs e2e: ${expected.size} statements, ${proxy.requests.length} requests (${proxy.requests.map((r) => `${r.upstreamStatus}/${r.answered}`).join(" ")})`,
  );
  const one = await lrs.getStatement([...expected.keys()][0]!);
  assert.equal(one?.["id"], [...expected.keys()][0]);

  assert.ok(proxy.requests.filter((r) => r.answered === 503 && r.upstreamStatus === 200).length >= 1, "a stored batch was reported failed");
  assert.equal(await lrs.getStatement(String(poison["id"])), undefined);
  const failed = await delivery.failed.list({ routerId: "lrs" }, 10);
  assert.deepEqual(
    failed.entries.map((f) => [f.statementId, f.lastHttpStatus, f.eventName]),
    [[poison["id"], 400, "edx.course.enrollment.activated"]],
  );
  const [status] = await delivery.status.status("lrs");
  assert.equal(status!.failedStored, 1);
});
