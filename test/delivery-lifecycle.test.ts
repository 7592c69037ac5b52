/**
 * Router lifecycle and scale-out against a real nats-server: consumers follow the RouterSource live (create,
 * update, disable keeps the backlog, delete purges it), two service instances share one consumer without
 * delivering anything twice, the advisory sweeper moves statements whose worker died on their final
 * attempt, and Caliper batches arrive as one valid envelope at a receiver enforcing §6.1.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import { startDelivery, type Delivery } from "../src/delivery/delivery.js";
import type { ForgottenMessages } from "../src/delivery/delivery-runtime.js";
import { connectNats } from "../src/nats/connection.js";
import { natsNames } from "../src/nats/names.js";
import { createCaliperRegistry } from "../src/transform/caliper/index.js";
import {
  captureLogger,
  fakeStatement,
  makeRouter,
  MemoryRouterSource,
  publishStatements,
  TEST_DEFAULTS,
} from "./support/delivery-harness.js";
import { ERB_TEST_ENV, isAnonymousFixture, rawFixtureFiles, readRawFixture } from "./support/erb-fixtures.js";
import type { JsonObject } from "../src/transform/edx-event.js";
import { transformForBackend, type BackendSettings } from "../src/transform/transform-event.js";
import { CaliperReceiver, FaultEndpoint, waitUntil } from "./support/http-endpoints.js";
import { startJetStream, type TestNatsServer } from "./support/nats-server.js";

const names = natsNames("ltest");
let nats: TestNatsServer;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
const closers: Array<() => Promise<unknown>> = [];

before(async () => {
  ({ nats, nc, js, jsm } = await startJetStream(names));
});

after(async () => {
  for (const c of closers.reverse()) await c();
  await nc.close();
  await nats.stop();
});

async function instance(routers: MemoryRouterSource, conn = nc, sweeper = true, forgotten?: ForgottenMessages): Promise<Delivery> {
  const d = await startDelivery({
    nc: conn,
    names,
    routers,
    defaults: TEST_DEFAULTS,
    caliperSensorId: "http://localhost:18000",
    logger: captureLogger().logger,
    sweeper,
    ...(forgotten ? { forgotten } : {}),
  });
  closers.push(() => d.stop());
  return d;
}

async function endpoint(): Promise<FaultEndpoint> {
  const e = await FaultEndpoint.start();
  closers.push(() => e.close());
  return e;
}

async function consumer(id: string) {
  return jsm.consumers.info(names.deliveryStream, names.deliveryConsumer(id)).catch(() => null);
}

// First in the file: no other instance (with its sweeper) may be running yet.
test("sweeper backstop: statements whose final attempt never completed land in the failed stream once (the non-critical one marked discardable), even when no sweeper ran at the time; a forgotten learner's does not", async () => {
  const e = await endpoint();
  const routers = new MemoryRouterSource();
  // No sweeper in this instance: the advisory must wait in the advisory stream.
  const d = await instance(routers, nc, false);
  routers.put(makeRouter("crash", e.url, { enabled: false }, { maxRetries: 0 }));
  await d.settled();
  const st = fakeStatement();
  const ordinary = fakeStatement();
  // Critical, so it would be kept; but its learner is forgotten by the time the sweeper finds it.
  const forgottenOne = fakeStatement();
  await publishStatements(js, names, "crash", [st], "edx.course.enrollment.activated");
  await publishStatements(js, names, "crash", [ordinary], "edx.video.played");
  await publishStatements(js, names, "crash", [forgottenOne], "edx.course.enrollment.activated");
  // A "worker" that takes the messages on their last attempt and dies without answering.
  const c = await js.consumers.get(names.deliveryStream, names.deliveryConsumer("crash"));
  assert.ok(await c.next({ expires: 2000 }), "took the critical message");
  assert.ok(await c.next({ expires: 2000 }), "took the other message");
  assert.ok(await c.next({ expires: 2000 }), "took the forgotten learner's message");
  // Re-enabling starts a worker whose pulls make the server notice the expired final attempt (advisories are lazy).
  routers.put(makeRouter("crash", e.url, { enabled: true }, { maxRetries: 0 }));
  const advSubject = `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${names.deliveryStream}.deliver-crash`;
  await waitUntil(
    async () => {
      const info = await jsm.streams.info(names.advisoryStream, { subjects_filter: advSubject });
      return (info.state.subjects?.[advSubject] ?? 0) === 3;
    },
    6000,
    "advisory captured",
  );
  assert.equal(await d.failed.count("crash"), 0, "nothing moved it yet");
  // An instance with the sweeper starts later and finds the advisories.
  const forgottenId = Buffer.from(String(forgottenOne["id"]));
  const d2 = await instance(new MemoryRouterSource(), nc, true, {
    isForgotten: (_headers, body) => Buffer.from(body).includes(forgottenId),
  });
  await waitUntil(
    async () => {
      const info = await jsm.consumers.info(names.advisoryStream, names.sweeperConsumer);
      return info.num_pending === 0 && info.num_ack_pending === 0;
    },
    6000,
    "the sweeper handled every advisory",
  );
  assert.equal(await d2.failed.count("crash"), 2, "the two statements kept, not the forgotten learner's");
  const page = await d2.failed.list({ routerId: "crash" }, 10);
  const f = page.entries.find((x) => x.statementId === st["id"])!;
  assert.equal(f.discardable, false, "a critical statement is never discardable");
  assert.equal(
    page.entries.find((x) => x.statementId === forgottenOne["id"]),
    undefined,
    "no trace of the forgotten learner",
  );
  const o = page.entries.find((x) => x.statementId === ordinary["id"]);
  assert.equal(o?.discardable, true, "kept by the default policy, marked discardable");
  assert.equal(f.attempts, 1);
  assert.equal(f.lastHttpStatus, 0);
  assert.match(f.lastError, /no outcome recorded/);
  assert.equal(e.requests.length, 0);
  // The worker path uses the same msg id: a late record of the same failure is de-duplicated.
  await d2.failed.record({ ...f, lastError: "late worker" }, f.body);
  assert.equal(await d2.failed.count("crash"), 2);
});

test("a statement whose learner is forgotten during its final attempt is not kept in the failed stream", async () => {
  let forgotten = false;
  // The learner is forgotten while the request is out; the endpoint then fails it, on its only attempt.
  const e = await FaultEndpoint.start(() => {
    forgotten = true;
    return { status: 500 };
  });
  closers.push(() => e.close());
  const routers = new MemoryRouterSource();
  const d = await instance(routers, nc, false, { isForgotten: () => forgotten });
  routers.put(makeRouter("forget-final", e.url, {}, { maxRetries: 0 }));
  await d.settled();
  await publishStatements(js, names, "forget-final", [fakeStatement()], "edx.course.enrollment.activated");
  await waitUntil(
    async () => {
      const ci = await consumer("forget-final");
      return ci !== null && ci.delivered.stream_seq > 0 && ci.num_ack_pending === 0 && ci.num_pending === 0;
    },
    6000,
    "the final attempt settled",
  );
  assert.equal(e.requests.length, 1, "sent once, before the learner was forgotten");
  assert.equal(await d.failed.count("forget-final"), 0, "not kept in the failed stream");
});

test("consumers follow the router source: update, disable keeps the backlog, re-enable delivers it, delete purges", async () => {
  const routers = new MemoryRouterSource();
  const d = await instance(routers);
  const e = await endpoint();
  routers.put(makeRouter("life", e.url));
  await d.settled();
  let ci = await consumer("life");
  assert.equal(ci?.config.max_deliver, 4);
  assert.equal(ci?.config.ack_wait, nanos(600));
  assert.equal(ci?.config.filter_subject, "ltest.deliver.life");

  routers.put(makeRouter("life", e.url, {}, { maxRetries: 5, countdownMs: 900 }));
  await d.settled();
  ci = await consumer("life");
  assert.equal(ci?.config.max_deliver, 6);
  assert.equal(ci?.config.ack_wait, nanos(900));

  routers.put(makeRouter("life", e.url, { enabled: false }));
  await d.settled();
  const backlog = Array.from({ length: 4 }, () => fakeStatement());
  await publishStatements(js, names, "life", backlog);
  await waitUntil(async () => (await consumer("life"))?.num_pending === 4, 2000, "backlog pending");
  assert.equal(e.requests.length, 0, "a disabled router delivers nothing");
  const [st] = await d.status.status("life");
  assert.equal(st!.pending, 4);
  assert.equal(st!.inFlight, 0);

  routers.put(makeRouter("life", e.url, { enabled: true }));
  await waitUntil(() => e.stored.size === 4, 4000, "backlog delivered after re-enable");

  routers.put(makeRouter("life", e.url, { enabled: false }));
  await d.settled();
  await publishStatements(js, names, "life", [fakeStatement(), fakeStatement()]);
  routers.delete("life");
  await d.settled();
  assert.equal(await consumer("life"), null, "consumer deleted");
  const info = await jsm.streams.info(names.deliveryStream, { subjects_filter: "ltest.deliver.life" });
  assert.equal(info.state.subjects?.["ltest.deliver.life"] ?? 0, 0, "backlog purged");
});

test("two instances on the same router: every statement delivered, none twice", async () => {
  const e = await endpoint();
  const nc2 = await connectNats({ servers: nats.url });
  closers.push(() => nc2.close());
  const r1 = new MemoryRouterSource();
  const r2 = new MemoryRouterSource();
  const d1 = await instance(r1);
  const d2 = await instance(r2, nc2);
  // A 10 s ack wait: "none twice" must not depend on heartbeats keeping a 600 ms deadline on a loaded machine
  // (a late heartbeat legitimately redelivers: at least once).
  const router = makeRouter("shared", e.url, {}, { batchSize: 5, batchIntervalMs: 30, countdownMs: 10_000, httpTimeoutMs: 2_000 });
  r1.put(router);
  r2.put(router);
  await Promise.all([d1.settled(), d2.settled()]);
  const st = Array.from({ length: 200 }, () => fakeStatement());
  for (let i = 0; i < st.length; i += 20) await publishStatements(js, names, "shared", st.slice(i, i + 20));
  await waitUntil(() => e.stored.size === 200, 10_000, "200 stored");
  await waitUntil(async () => (await consumer("shared"))?.num_ack_pending === 0, 3000, "all acked");
  assert.deepEqual(e.duplicates(), []);
  assert.deepEqual(e.storedIds(), new Set(st.map((s) => s["id"])));
  const [s1] = await d1.status.status("shared");
  const [s2] = await d2.status.status("shared");
  assert.equal(s1!.delivered + s2!.delivered, 200);
  assert.ok(s1!.delivered > 0 && s2!.delivered > 0, `both instances worked (${s1!.delivered}/${s2!.delivered})`);
});

test("Caliper: every fixture arrives as valid envelopes (one per batch) at a §6.1 receiver, bearer auth, override_args on the envelope", async () => {
  const rcv = await CaliperReceiver.start({ token: "s3cret" });
  closers.push(() => rcv.close());
  const routers = new MemoryRouterSource();
  const d = await instance(routers);
  routers.put(
    makeRouter(
      "cal",
      rcv.url,
      { backend: "caliper", auth: { kind: "bearer", token: "s3cret" }, overrideArgs: { sensor: "https://sensor.example.org" } },
      { batchSize: 3, batchIntervalMs: 200 },
    ),
  );
  await d.settled();
  const registry = createCaliperRegistry();
  const settings: BackendSettings = { backend: "caliper", enabled: true, filter: { kind: "all" }, registry };
  // Every ERB fixture with a Caliper transformer; the first content per id (the stream de-duplicates by id).
  const expected = new Map<string, JsonObject>();
  for (const file of rawFixtureFiles()) {
    if (isAnonymousFixture(file)) continue;
    const ev = readRawFixture(file);
    const r = transformForBackend(settings, ev, ERB_TEST_ENV);
    if (r.outcome !== "transformed") continue;
    for (const s of r.statements) if (!expected.has(String(s["id"]))) expected.set(String(s["id"]), s);
    await publishStatements(js, names, "cal", r.statements, ev.name, "caliper");
  }
  assert.ok(expected.size >= 25, `only ${expected.size} Caliper events`);
  await waitUntil(() => rcv.events.size === expected.size, 30_000, `${expected.size} Caliper events received`);
  assert.deepEqual(rcv.rejections, []);
  for (const [id, ev] of expected) assert.deepEqual(rcv.events.get(id), ev);
  assert.ok(
    rcv.envelopes.every((env) => (env["data"] as unknown[]).length <= 3),
    "one envelope per batch of at most batch_size",
  );
  assert.equal(rcv.envelopes[0]!["sensor"], "https://sensor.example.org");

  // Wrong token -> 401 -> retried, logged, never delivered; fixing the router delivers it.
  routers.put(
    makeRouter("cal", rcv.url, { backend: "caliper", auth: { kind: "bearer", token: "wrong" } }, { batchSize: 1, maxRetries: 10 }),
  );
  await d.settled();
  const more = registry
    .get("edx.course.enrollment.activated")!
    .transform(readRawFixture("edx.course.enrollment.activated.json"), { ...ERB_TEST_ENV, courseName: "Other" });
  const again = more.map((ev) => ({ ...ev, id: "urn:uuid:9a8a2a9f-3f5c-4c44-9e55-1e2f3a1b7c01" }));
  await publishStatements(js, names, "cal", again, "edx.course.enrollment.activated", "caliper");
  await waitUntil(() => rcv.rejections.some((r) => r.status === 401), 3000, "401 seen");
  routers.put(
    makeRouter("cal", rcv.url, { backend: "caliper", auth: { kind: "bearer", token: "s3cret" } }, { batchSize: 1, maxRetries: 10 }),
  );
  await waitUntil(() => rcv.events.has("urn:uuid:9a8a2a9f-3f5c-4c44-9e55-1e2f3a1b7c01"), 4000, "delivered after the fix");
});

test("a nats-server crash mid-delivery loses nothing (at least once: every statement arrives)", async () => {
  const e = await FaultEndpoint.start(() => ({ delayMs: 100 }));
  closers.push(() => e.close());
  const routers = new MemoryRouterSource();
  const d = await instance(routers);
  routers.put(makeRouter("crashy", e.url, {}, { batchSize: 5, batchIntervalMs: 20 }));
  await d.settled();
  await assert.rejects(d.status.status("nope"), /not found/);
  const st = Array.from({ length: 30 }, () => fakeStatement());
  await publishStatements(js, names, "crashy", st);
  await waitUntil(() => e.requests.length >= 1, 3000, "delivery started");
  const reconnected = (async () => {
    for await (const s of nc.status()) if (s.type === "reconnect") return;
  })();
  await nats.restart({ crash: true });
  await reconnected;
  await waitUntil(() => e.stored.size === 30, 15_000, "all 30 stored after the crash");
  assert.deepEqual(e.storedIds(), new Set(st.map((s) => s["id"])));
});

test("stopping one of two instances mid-batch hands its messages to the other; nothing is lost", async () => {
  // Each instance posts to its own path (the URL is not part of the shared consumer's config), so the endpoint sees
  // who sent what. The stopped instance's first batch is answered only after its HTTP timeout, and with a 503: it
  // is in flight, un-acknowledged, when the instance stops, so the other instance must deliver it.
  let held: number | undefined;
  const e = await FaultEndpoint.start(({ n, path }) => {
    if (path.startsWith("/i2/") && held === undefined) {
      held = n;
      return { delayMs: 400, status: 503 };
    }
    return { delayMs: 60 };
  });
  closers.push(() => e.close());
  const nc2 = await connectNats({ servers: nats.url });
  closers.push(() => nc2.close());
  const r1 = new MemoryRouterSource();
  const r2 = new MemoryRouterSource();
  const d1 = await instance(r1);
  const d2 = await startDelivery({
    nc: nc2,
    names,
    routers: r2,
    defaults: TEST_DEFAULTS,
    caliperSensorId: "x",
    logger: captureLogger().logger,
  });
  r1.put(makeRouter("handover", `${e.url}/i1`, {}, { batchSize: 5, batchIntervalMs: 30 }));
  r2.put(makeRouter("handover", `${e.url}/i2`, {}, { batchSize: 5, batchIntervalMs: 30 }));
  await Promise.all([d1.settled(), d2.settled()]);
  const st = Array.from({ length: 60 }, () => fakeStatement());
  await publishStatements(js, names, "handover", st);
  await waitUntil(() => held !== undefined, 3000, "the second instance sent a batch");
  const heldIds = e.requests.find((r) => r.n === held)!.ids;
  assert.ok(heldIds.length > 0);
  assert.ok((await consumer("handover"))!.num_ack_pending >= heldIds.length, "its batch is un-acknowledged as it stops");
  await d2.stop();
  await waitUntil(() => e.stored.size === 60, 10_000, "all 60 stored by the remaining instance");
  assert.deepEqual(e.storedIds(), new Set(st.map((s) => s["id"])));
  assert.deepEqual(e.duplicates(), []);
  // What the stopped instance held was delivered by the other one.
  const byFirst = new Set(e.requests.filter((r) => r.path.startsWith("/i1/") && r.status === 200).flatMap((r) => r.ids));
  const notHandedOver = heldIds.filter((id) => !byFirst.has(id));
  assert.deepEqual(notHandedOver, [], `the ${heldIds.length} held statements were delivered by the remaining instance`);
});
