/**
 * Delivery fault cases against a real nats-server and a real (scripted) HTTP endpoint: exact delivered and
 * failed sets for 5xx-then-recovery, 429 + Retry-After, 413, a poison statement, timeouts, connection refused,
 * slow split sequences (working() keeps them from being redelivered), and the failed-stream round trip.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { startDelivery, type Delivery } from "../src/delivery/delivery.js";
import { createFailedRpc } from "../src/delivery/failed/failed-rpc.js";
import { natsNames } from "../src/nats/names.js";
import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ValidationError } from "../src/errors.js";
import {
  FailedFilterSchema,
  ListFailedRequestSchema,
  RetryFailedRequestSchema,
  PurgeFailedRequestSchema,
} from "../gen/eventrouting/v1/event_routing_service_pb.js";
import {
  captureLogger,
  fakeStatement,
  makeRouter,
  MemoryRouterSource,
  publishStatements,
  TEST_DEFAULTS,
  type CapturedLogger,
} from "./support/delivery-harness.js";
import { FaultEndpoint, waitUntil, type Script } from "./support/http-endpoints.js";
import { startJetStream, type TestNatsServer } from "./support/nats-server.js";

const names = natsNames("ftest");
let nats: TestNatsServer;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let routers: MemoryRouterSource;
let delivery: Delivery;
let log: CapturedLogger;
const endpoints: FaultEndpoint[] = [];

before(async () => {
  ({ nats, nc, js, jsm } = await startJetStream(names));
  routers = new MemoryRouterSource();
  log = captureLogger();
  delivery = await startDelivery({
    nc,
    names,
    routers,
    defaults: TEST_DEFAULTS,
    caliperSensorId: "http://localhost:18000",
    logger: log.logger,
  });
});

after(async () => {
  await delivery.stop();
  await nc.close();
  await Promise.all(endpoints.map((e) => e.close()));
  await nats.stop();
});

async function endpoint(script?: Script): Promise<FaultEndpoint> {
  const e = await FaultEndpoint.start(script);
  endpoints.push(e);
  return e;
}

async function addRouter(...args: Parameters<typeof makeRouter>): Promise<void> {
  routers.put(makeRouter(...args));
  await delivery.settled();
}

async function acked(routerId: string): Promise<boolean> {
  const ci = await jsm.consumers.info(names.deliveryStream, names.deliveryConsumer(routerId));
  return ci.num_pending === 0 && ci.num_ack_pending === 0;
}

test("500s then recovery: every statement delivered once, nothing failed", async () => {
  const e = await endpoint(({ n }) => (n <= 2 ? { status: 500 } : undefined));
  await addRouter("r500", e.url, { auth: { kind: "basic", username: "key", password: "secret" }, headers: { "X-Tenant": "t1" } });
  const st = Array.from({ length: 5 }, () => fakeStatement());
  await publishStatements(js, names, "r500", st);
  await waitUntil(() => e.stored.size === 5, 5000, "5 stored");
  assert.deepEqual(e.storedIds(), new Set(st.map((s) => s["id"])));
  assert.deepEqual(e.duplicates(), []);
  assert.equal(e.requests.filter((r) => r.status === 500).length, 2);
  for (const r of e.requests) {
    assert.equal(`${r.method} ${r.path}`, "POST /statements");
    assert.equal(r.headers["x-experience-api-version"], "1.0.3");
    assert.equal(r.headers["content-type"], "application/json");
    assert.equal(r.headers["authorization"], `Basic ${Buffer.from("key:secret").toString("base64")}`);
    assert.equal(r.headers["x-tenant"], "t1");
    assert.equal(r.headers["connection"], "keep-alive");
  }
  await waitUntil(() => acked("r500"), 3000, "all acked");
  const [s] = await delivery.status.status("r500");
  assert.equal(s!.delivered, 5);
  assert.equal(s!.failedStored, 0);
  assert.match(s!.lastError ?? "", /HTTP 500/);
});

test("429 with Retry-After: the retry waits as long as the endpoint asked", async () => {
  const e = await endpoint(({ n }) => (n === 1 ? { status: 429, retryAfter: "1" } : undefined));
  await addRouter("r429", e.url);
  const st = [fakeStatement(), fakeStatement()];
  await publishStatements(js, names, "r429", st);
  await waitUntil(() => e.stored.size === 2, 5000, "2 stored");
  const gap = e.requests[1]!.at - e.requests[0]!.at;
  assert.ok(gap >= 950, `retry came after ${gap} ms`);
  assert.deepEqual(e.duplicates(), []);
});

test("413: the batch is halved until the endpoint accepts it", async () => {
  const e = await endpoint(({ ids }) => (ids.length > 2 ? { status: 413 } : undefined));
  await addRouter("r413", e.url, {}, { batchSize: 8, batchIntervalMs: 300 });
  const st = Array.from({ length: 8 }, () => fakeStatement());
  await publishStatements(js, names, "r413", st);
  await waitUntil(() => e.stored.size === 8, 5000, "8 stored");
  assert.deepEqual(e.duplicates(), []);
  assert.ok(
    e.requests.some((r) => r.ids.length > 2 && r.status === 413),
    "a large batch was tried first",
  );
  assert.ok(e.requests.filter((r) => r.status === 200).every((r) => r.ids.length <= 2));
});

test("poison statement in a batch (router keeping critical ones only): the rest is delivered, the critical poison fails at once, a non-critical one is dropped and logged", async () => {
  const poison = new Set<string>();
  const e = await endpoint(({ ids }) => (ids.some((id) => poison.has(id)) ? { status: 400 } : undefined));
  await addRouter("rpoison", e.url, {}, { batchSize: 6, batchIntervalMs: 300, exhausted: "critical" });
  const good = Array.from({ length: 4 }, () => fakeStatement());
  const badCritical = fakeStatement();
  const badOther = fakeStatement();
  poison.add(String(badCritical["id"]));
  poison.add(String(badOther["id"]));
  await publishStatements(js, names, "rpoison", [good[0]!, good[1]!]);
  await publishStatements(js, names, "rpoison", [badCritical], "edx.course.enrollment.activated");
  await publishStatements(js, names, "rpoison", [good[2]!, badOther, good[3]!]);
  await waitUntil(() => acked("rpoison"), 5000, "all answered");
  assert.deepEqual(e.storedIds(), new Set(good.map((s) => s["id"])));
  const page = await delivery.failed.list({ routerId: "rpoison" }, 10);
  assert.deepEqual(
    page.entries.map((f) => f.statementId),
    [badCritical["id"]],
  );
  assert.equal(page.entries[0]!.attempts, 1, "400 is not retried");
  assert.equal(page.entries[0]!.lastHttpStatus, 400);
  const dropped = log.lines.find((l) => l["routerId"] === "rpoison" && Array.isArray(l["statementIds"]));
  assert.deepEqual(dropped?.["statementIds"], [badOther["id"]]);
});

test("timeouts and a dropped connection are retried; a slow answer within the timeout is fine", async () => {
  const e = await endpoint(({ n }) => (n === 1 ? { delayMs: 600 } : n === 2 ? { destroy: true } : { delayMs: 100 }));
  await addRouter("rtimeout", e.url);
  const st = Array.from({ length: 3 }, () => fakeStatement());
  await publishStatements(js, names, "rtimeout", st);
  await waitUntil(() => acked("rtimeout"), 6000, "all acked");
  assert.deepEqual(e.storedIds(), new Set(st.map((s) => s["id"])));
  const [s] = await delivery.status.status("rtimeout");
  assert.equal(s!.delivered, 3);
  // The first request timed out on our side but the endpoint stored it later: at-least-once, same ids.
  assert.ok(e.requests.length >= 3);
});

test("connection refused until the endpoint comes back", async () => {
  const e = await endpoint();
  await e.close();
  await addRouter("rrefused", e.url);
  const st = Array.from({ length: 3 }, () => fakeStatement());
  await publishStatements(js, names, "rrefused", st);
  await waitUntil(
    async () => /ECONNREFUSED/.test((await delivery.status.status("rrefused"))[0]!.lastError ?? ""),
    3000,
    "a refused attempt",
  );
  await e.reopen();
  await waitUntil(() => e.stored.size === 3, 5000, "3 stored");
  assert.deepEqual(e.storedIds(), new Set(st.map((s) => s["id"])));
});

test("a long split sequence keeps its messages alive with working(): no redelivery mid-flight", async () => {
  // ack wait 600 ms; 8 statements, 413 above 1 -> 15 requests of 80 ms = 1.2 s, twice the ack wait.
  const e = await endpoint(({ ids }) => ({ delayMs: 80, ...(ids.length > 1 ? { status: 413 } : {}) }));
  await addRouter("rslow", e.url, {}, { batchSize: 8, batchIntervalMs: 300 });
  const st = Array.from({ length: 8 }, () => fakeStatement());
  await publishStatements(js, names, "rslow", st);
  await waitUntil(() => e.stored.size === 8, 8000, "8 stored");
  await waitUntil(() => acked("rslow"), 3000, "all acked");
  assert.deepEqual(e.duplicates(), []);
  const ci = await jsm.consumers.info(names.deliveryStream, names.deliveryConsumer("rslow"));
  assert.equal(ci.num_redelivered, 0);
  assert.equal(ci.delivered.stream_seq >= 8, true);
  assert.equal(e.requests.filter((r) => r.ids.length === 8).length, 1, "the batch was sent once, not redelivered");
});

test("critical statement exhausting retries: failed stream with metadata, ListFailed, RetryFailed after recovery empties it", async () => {
  let down = true;
  const e = await endpoint(() => (down ? { status: 503 } : undefined));
  await addRouter("rexhaust", e.url, {}, { maxRetries: 2, backoffMs: [100], exhausted: "critical" });
  const critical = fakeStatement();
  const other = fakeStatement();
  const t0 = Date.now();
  await publishStatements(js, names, "rexhaust", [critical], "edx.course.grade.passed.first_time");
  await publishStatements(js, names, "rexhaust", [other], "edx.video.played");
  await waitUntil(() => acked("rexhaust"), 6000, "both exhausted");
  assert.equal(e.requests.length >= 3, true);
  const rpc = createFailedRpc(delivery.failed);
  const list = await rpc.listFailed(create(ListFailedRequestSchema, { filter: create(FailedFilterSchema, { routerId: "rexhaust" }) }));
  assert.equal(list.failed.length, 1);
  const f = list.failed[0]!;
  assert.equal(f.routerId, "rexhaust");
  assert.equal(f.eventName, "edx.course.grade.passed.first_time");
  assert.equal(f.statementId, critical["id"]);
  assert.equal(f.attempts, 3);
  assert.equal(f.lastHttpStatus, 503);
  assert.match(f.lastError, /HTTP 503/);
  const first = timestampDate(f.firstAttemptTime!).getTime();
  const last = timestampDate(f.lastAttemptTime!).getTime();
  // Three attempts 100 ms apart at least (backoff [100]): the first attempt time survives the retries.
  assert.ok(first >= t0 && last - first >= 190, `attempts at ${first - t0} and ${last - t0} ms`);
  assert.ok(timestampDate(f.failedTime!).getTime() >= last);
  assert.deepEqual(f.statement, critical);
  // The non-critical statement is not kept (ERB's policy, chosen for this router).
  const byName = await rpc.listFailed(
    create(ListFailedRequestSchema, { filter: create(FailedFilterSchema, { eventName: "edx.video.played" }) }),
  );
  assert.equal(byName.failed.length, 0, "the non-critical one was dropped, not kept");
  assert.deepEqual(e.storedIds(), new Set());
  const [s] = await delivery.status.status("rexhaust");
  assert.equal(s!.failedStored, 1);
  assert.equal(s!.failed, 2);

  down = false;
  const retried = await rpc.retryFailed(create(RetryFailedRequestSchema, { filter: create(FailedFilterSchema, { routerId: "rexhaust" }) }));
  assert.equal(retried.retried, 1);
  await waitUntil(() => e.stored.has(String(critical["id"])), 5000, "retried statement delivered");
  assert.equal((await rpc.listFailed(create(ListFailedRequestSchema, {}))).failed.filter((x) => x.routerId === "rexhaust").length, 0);
  assert.equal((await delivery.status.status("rexhaust"))[0]!.failedStored, 0);
  const again = await rpc.retryFailed(create(RetryFailedRequestSchema, { ids: [f.id] }));
  assert.deepEqual(again.notFound, [f.id]);
});

test("a statement failing again after RetryFailed is stored again (not swallowed by msg-id dedupe); PurgeFailed removes it", async () => {
  const e = await endpoint(() => ({ status: 400 }));
  await addRouter("ragain", e.url, {}, { maxRetries: 0 });
  const st = fakeStatement();
  await publishStatements(js, names, "ragain", [st], "edx.course.enrollment.deactivated");
  await waitUntil(async () => (await delivery.failed.count("ragain")) === 1, 4000, "failed once");
  const rpc = createFailedRpc(delivery.failed);
  await rpc.retryFailed(create(RetryFailedRequestSchema, { filter: create(FailedFilterSchema, { routerId: "ragain" }) }));
  await waitUntil(async () => e.requests.length === 2 && (await delivery.failed.count("ragain")) === 1, 4000, "failed twice");
  const purged = await rpc.purgeFailed(
    create(PurgeFailedRequestSchema, { filter: create(FailedFilterSchema, { eventName: "edx.course.enrollment.deactivated" }) }),
  );
  assert.equal(purged.purged, 1);
  assert.equal(await delivery.failed.count("ragain"), 0);
});

test("duplicate statement ids inside one batch are sent once", async () => {
  const e = await endpoint(({ ids }) => (new Set(ids).size !== ids.length ? { status: 400 } : undefined));
  await addRouter("rdup", e.url, {}, { batchSize: 4, batchIntervalMs: 300 });
  const st = fakeStatement();
  await publishStatements(js, names, "rdup", [st]);
  // Same statement published again with a different msg id (e.g. RetryFailed while the original was pending).
  const h = natsHeaders();
  h.set("Er-Router-Id", "rdup");
  h.set("Er-Event-Name", "edx.video.played");
  h.set("Er-Statement-Id", String(st["id"]));
  h.set("Er-Backend", "xapi");
  await js.publish(names.deliverSubject("rdup"), JSON.stringify(st), { msgID: "other", headers: h });
  await waitUntil(() => acked("rdup"), 4000, "both acked");
  assert.equal(e.requests.length, 1);
  assert.deepEqual(e.requests[0]!.ids, [st["id"]]);
});

test("ListFailed pages with a token and filters by time; bad tokens and filters are InvalidArgument", async () => {
  const e = await endpoint(() => ({ status: 422 }));
  await addRouter("rpage", e.url, {}, { maxRetries: 0, batchSize: 3, batchIntervalMs: 100 });
  const st = [fakeStatement(), fakeStatement(), fakeStatement()];
  await publishStatements(js, names, "rpage", st, "edx.course.enrollment.activated");
  await waitUntil(async () => (await delivery.failed.count("rpage")) === 3, 4000, "3 failed");
  const rpc = delivery.failedRpc;
  const filter = create(FailedFilterSchema, { routerId: "rpage" });
  const p1 = await rpc.listFailed(create(ListFailedRequestSchema, { filter, pageSize: 2 }));
  assert.equal(p1.failed.length, 2);
  assert.notEqual(p1.nextPageToken, "");
  const p2 = await rpc.listFailed(create(ListFailedRequestSchema, { filter, pageSize: 2, pageToken: p1.nextPageToken }));
  assert.equal(p2.failed.length, 1);
  assert.equal(p2.nextPageToken, "");
  assert.deepEqual(new Set([...p1.failed, ...p2.failed].map((f) => f.statementId)), new Set(st.map((s) => s["id"])));
  const hourAgo = timestampFromDate(new Date(Date.now() - 3_600_000));
  const past = await rpc.listFailed(
    create(ListFailedRequestSchema, { filter: create(FailedFilterSchema, { routerId: "rpage", endTime: hourAgo }) }),
  );
  assert.equal(past.failed.length, 0);
  const since = await rpc.listFailed(
    create(ListFailedRequestSchema, { filter: create(FailedFilterSchema, { routerId: "rpage", startTime: hourAgo }) }),
  );
  assert.equal(since.failed.length, 3);
  await assert.rejects(rpc.listFailed(create(ListFailedRequestSchema, { pageToken: "nope" })), ValidationError);
  await assert.rejects(
    rpc.listFailed(create(ListFailedRequestSchema, { filter: create(FailedFilterSchema, { routerId: "x.>" }) })),
    ValidationError,
  );
  await assert.rejects(rpc.purgeFailed(create(PurgeFailedRequestSchema, {})), ValidationError);
  const purged = await rpc.purgeFailed(create(PurgeFailedRequestSchema, { ids: [p2.failed[0]!.id, 999_999n] }));
  assert.equal(purged.purged, 1);
  assert.deepEqual(purged.notFound, [999_999n]);
  assert.equal((await rpc.purgeFailed(create(PurgeFailedRequestSchema, { filter })))?.purged, 2);
});

test("RetryFailed leaves the entries of a deleted router in place instead of parking them undeliverable", async () => {
  const e = await endpoint(() => ({ status: 400 }));
  await addRouter("rgone", e.url, {}, { maxRetries: 0 });
  await publishStatements(js, names, "rgone", [fakeStatement()], "edx.course.enrollment.activated");
  await waitUntil(async () => (await delivery.failed.count("rgone")) === 1, 4000, "failed");
  routers.delete("rgone");
  await delivery.settled();
  const r = await delivery.failedRpc.retryFailed(
    create(RetryFailedRequestSchema, { filter: create(FailedFilterSchema, { routerId: "rgone" }) }),
  );
  assert.equal(r.retried, 0);
  assert.equal(await delivery.failed.count("rgone"), 1, "still kept (deleting a router does not purge its failed statements)");
  assert.ok(log.lines.some((l) => String(l["msg"]).includes("deleted routers")));
});

test("batching: a full batch goes at once, the tail goes when the interval expires (no stranding in a quiet period)", async () => {
  // A full batch with a 60 s interval: if it arrives within the guard, only its size can have sent it.
  const full = await endpoint();
  await addRouter("rbatch", full.url, {}, { batchSize: 10, batchIntervalMs: 60_000 });
  await publishStatements(
    js,
    names,
    "rbatch",
    Array.from({ length: 13 }, () => fakeStatement()),
  );
  await waitUntil(() => full.stored.size === 10, 20_000, "the full batch of 10 stored");
  assert.deepEqual(
    full.requests.map((r) => r.ids.length),
    [10],
    "the 3 left wait for their timer",
  );
  // A tail that never fills a batch: sent by the timer, never before it (load can only delay it).
  const tail = await endpoint();
  await addRouter("rbatch-tail", tail.url, {}, { batchSize: 10, batchIntervalMs: 400 });
  const t0 = Date.now();
  await publishStatements(
    js,
    names,
    "rbatch-tail",
    Array.from({ length: 3 }, () => fakeStatement()),
  );
  await waitUntil(() => tail.stored.size === 3, 20_000, "the tail of 3 stored");
  assert.deepEqual(
    tail.requests.map((r) => r.ids.length),
    [3],
  );
  assert.ok(tail.requests[0]!.at - t0 >= 380, `tail after ${tail.requests[0]!.at - t0} ms`);
});
