/**
 * Delivery never stalls or drops silently (issue 9) and never shows a router's secrets (issue 8), against a real
 * nats-server and real HTTP endpoints: a consumer deleted under a running worker is recreated; 401 pauses the
 * router without dropping anything even with max_retries 0, and a config change resumes it at once; a stop hands
 * untried statements back without spending their only attempt; a stop while consume() is pending ends; failed
 * attempts are logged (first, summary, recovery); a permanent JetStream refusal leaves later changes free and
 * makes the router UNHEALTHY (status and health); a dead router watch is reopened; the oldest pending statement
 * and its expiry are reported and warned about; an echoing endpoint never gets a secret into any kept text.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { jetstream, type ConsumeOptions, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KvWatchEntry } from "@nats-io/kv";
import { nanos, type NatsConnection, type QueuedIterator } from "@nats-io/transport-node";
import { startDelivery, type Delivery, type DeliveryOptions } from "../src/delivery/delivery.js";
import { FailedStore } from "../src/delivery/failed/failed-store.js";
import { HttpClient } from "../src/delivery/http/http-send.js";
import { RouterWorker } from "../src/delivery/worker/router-worker.js";
import { StatsRegistry } from "../src/delivery/status/router-stats.js";
import { JetStreamWriter } from "../src/nats/jetstream-writer.js";
import { natsNames } from "../src/nats/names.js";
import { streamConfigs } from "../src/nats/streams.js";
import { resolveDelivery, type RouterConfig } from "../src/routing/router-model.js";
import { RouterStore } from "../src/routing/router-store.js";
import { bindHealthToDelivery, DELIVERY_HEALTH_SERVICE, HealthRegistry, ServingStatus } from "../src/server/health.js";
import { consumerConfig } from "../src/delivery/worker/consumer-config.js";
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

const names = natsNames("rtest");
let nats: TestNatsServer;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
const closers: Array<() => Promise<unknown>> = [];

before(async () => {
  ({ nats, nc, js, jsm } = await startJetStream(names));
});

after(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await nc.close();
  await nats.stop();
});

async function instance(routers: MemoryRouterSource, opts: Partial<DeliveryOptions> = {}): Promise<{ d: Delivery; log: CapturedLogger }> {
  const log = captureLogger();
  const base = {
    nc,
    names,
    routers,
    defaults: TEST_DEFAULTS,
    caliperSensorId: "http://localhost:18000",
    logger: log.logger,
    sweeper: false,
  };
  const d = await startDelivery({ ...base, ...opts });
  closers.push(() => d.stop());
  return { d, log };
}

async function endpoint(script?: Script): Promise<FaultEndpoint> {
  const e = await FaultEndpoint.start(script);
  closers.push(() => e.close());
  return e;
}

async function acked(routerId: string, n = names): Promise<boolean> {
  const ci = await jsm.consumers.info(n.deliveryStream, n.deliveryConsumer(routerId));
  return ci.num_pending === 0 && ci.num_ack_pending === 0;
}

/** Rejects when `p` does not settle in time: a hang is the failure these tests look for. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms)));
  return Promise.race([p, guard]).finally(() => clearTimeout(t));
}

const ids = (st: Record<string, unknown>[]) => new Set(st.map((s) => String(s["id"])));

test("a consumer deleted under a running worker is recreated from the router's configuration and delivery resumes", async () => {
  const e = await endpoint();
  const routers = new MemoryRouterSource();
  const { d, log } = await instance(routers);
  routers.put(makeRouter("rgone", e.url));
  await d.settled();
  const first = [fakeStatement(), fakeStatement()];
  await publishStatements(js, names, "rgone", first);
  await waitUntil(() => e.stored.size === 2, 5000, "first 2 stored");
  await jsm.consumers.delete(names.deliveryStream, names.deliveryConsumer("rgone"));
  const later = [fakeStatement(), fakeStatement(), fakeStatement()];
  await publishStatements(js, names, "rgone", later);
  await waitUntil(() => e.stored.size === 5, 15_000, "the 3 later statements stored after the consumer was recreated");
  assert.deepEqual(e.storedIds(), ids([...first, ...later]));
  const ci = await jsm.consumers.info(names.deliveryStream, names.deliveryConsumer("rgone"));
  assert.equal(ci.config.max_deliver, 4, "recreated with the router's settings");
  assert.ok(log.lines.some((l) => l["routerId"] === "rgone" && /consumer is gone; recreating/.test(String(l["msg"]))));
});

test("401 pauses the router: PAUSED with the reason, nothing dropped with max_retries 0, then every statement delivered once", async () => {
  let refuse = true;
  const e = await endpoint(() => (refuse ? { status: 401, body: "bad credentials" } : undefined));
  const routers = new MemoryRouterSource();
  const { d, log } = await instance(routers);
  routers.put(makeRouter("r401", e.url, {}, { maxRetries: 0, batchSize: 3, batchIntervalMs: 50, countdownMs: 400, httpTimeoutMs: 250 }));
  await d.settled();
  const st = Array.from({ length: 7 }, () => fakeStatement());
  await publishStatements(js, names, "r401", st.slice(0, 2), "edx.course.enrollment.activated");
  await publishStatements(js, names, "r401", st.slice(2));
  await waitUntil(async () => (await d.status.status("r401"))[0]!.state === "paused", 5000, "router paused");
  const [paused] = await d.status.status("r401");
  assert.match(paused!.stateReason ?? "", /HTTP 401: bad credentials/);
  // Several probes, each answered 401: still nothing exhausted, even though max_retries is 0.
  await waitUntil(() => e.requests.length >= 3, 10_000, "probes");
  const [still] = await d.status.status("r401");
  assert.equal(still!.state, "paused");
  assert.equal(still!.failed, 0);
  assert.equal(still!.failedStored, 0);
  refuse = false;
  await waitUntil(() => e.stored.size === 7, 20_000, "all 7 stored once the endpoint accepts");
  await waitUntil(() => acked("r401"), 5000, "all acked");
  assert.deepEqual(e.storedIds(), ids(st));
  assert.deepEqual(e.duplicates(), []);
  const [after] = await d.status.status("r401");
  assert.equal(after!.state, "active");
  assert.equal(after!.failed, 0);
  assert.ok(log.lines.some((l) => l["routerId"] === "r401" && /router PAUSED/.test(String(l["msg"]))));
  assert.ok(log.lines.some((l) => l["routerId"] === "r401" && /PAUSED ended/.test(String(l["msg"]))));
});

test("a PAUSED router resumes at once when its configuration changes (rotated token), and nothing is lost", async () => {
  const e = await endpoint(({ headers }) => (headers["authorization"] === "Bearer new-token" ? undefined : { status: 401 }));
  const routers = new MemoryRouterSource();
  const { d } = await instance(routers);
  // A 20 s countdown: the first probe would come far later than the deadline below, so only the change can resume it.
  const delivery = { maxRetries: 0, batchSize: 4, batchIntervalMs: 50, countdownMs: 20_000, httpTimeoutMs: 250 };
  routers.put(makeRouter("rrotate", e.url, { auth: { kind: "bearer", token: "old-token" } }, delivery));
  await d.settled();
  const st = Array.from({ length: 4 }, () => fakeStatement());
  await publishStatements(js, names, "rrotate", st.slice(0, 2), "edx.course.enrollment.activated");
  await publishStatements(js, names, "rrotate", st.slice(2));
  await waitUntil(async () => (await d.status.status("rrotate"))[0]!.state === "paused", 5000, "router paused");
  routers.put(makeRouter("rrotate", e.url, { auth: { kind: "bearer", token: "new-token" } }, delivery));
  await waitUntil(() => e.stored.size === 4, 8000, "all 4 stored after the token change");
  assert.deepEqual(e.storedIds(), ids(st));
  assert.equal(await d.failed.count("rrotate"), 0);
  assert.equal((await d.status.status("rrotate"))[0]!.failed, 0);
});

test("stopping with max_retries 0 hands pulled-but-unsent statements back without spending their only attempt", async () => {
  const e = await endpoint();
  const r1 = new MemoryRouterSource();
  const { d } = await instance(r1);
  // A long batch interval: the statements are pulled and wait in the batcher when the instance stops.
  r1.put(makeRouter("rstop", e.url, {}, { maxRetries: 0, batchSize: 100, batchIntervalMs: 60_000 }));
  await d.settled();
  const st = Array.from({ length: 5 }, () => fakeStatement());
  await publishStatements(js, names, "rstop", st.slice(0, 2), "edx.course.grade.passed.first_time");
  await publishStatements(js, names, "rstop", st.slice(2));
  const inFlight = async () => (await jsm.consumers.info(names.deliveryStream, names.deliveryConsumer("rstop"))).num_ack_pending;
  await waitUntil(async () => (await inFlight()) === 5, 5000, "all 5 pulled");
  await within(d.stop(), 10_000, "stop");
  assert.equal(e.requests.length, 0, "nothing was sent before the stop");
  const r2 = new MemoryRouterSource();
  const { d: d2 } = await instance(r2);
  r2.put(makeRouter("rstop", e.url, {}, { maxRetries: 0, batchSize: 100, batchIntervalMs: 50 }));
  await waitUntil(() => e.stored.size === 5, 8000, "all 5 delivered by the next instance");
  assert.deepEqual(e.storedIds(), ids(st));
  assert.equal(await d2.failed.count("rstop"), 0);
});

test("a stop while consume() is still pending ends, and does not spin on its messages", async () => {
  const e = await endpoint();
  const routers = new MemoryRouterSource();
  const { d } = await instance(routers);
  const router = makeRouter("rspin", e.url, { enabled: false });
  routers.put(router);
  await d.settled();
  await publishStatements(js, names, "rspin", [fakeStatement(), fakeStatement()]);
  const d0 = resolveDelivery({ ...router, enabled: true }, TEST_DEFAULTS);
  let stopping: Promise<void> | undefined;
  // The real client, with consume() wrapped so the worker is stopped while consume() is in progress.
  const real = jetstream(nc);
  const instrumented = {
    consumers: {
      get: async (stream: string, name: string) => {
        const c = await real.consumers.get(stream, name);
        const consume = c.consume.bind(c);
        return Object.assign(Object.create(c) as typeof c, {
          consume: async (o?: ConsumeOptions) => {
            stopping = worker.stop(200);
            return consume(o);
          },
        });
      },
    },
  } as unknown as JetStreamClient;
  const client = new HttpClient();
  const stats = new StatsRegistry();
  const worker = new RouterWorker({ ...router, enabled: true }, d0, {
    js: instrumented,
    writer: new JetStreamWriter(nc, { timeoutMs: 5000 }),
    streamName: names.deliveryStream,
    consumerName: names.deliveryConsumer("rspin"),
    failed: new FailedStore(js, jsm, names),
    stats: stats.for("rspin"),
    logger: captureLogger().logger,
    client,
    caliperSensorId: "x",
    ackWaitMs: 600,
    msgIdPrefix: names.deliveryMsgId("rspin", ""),
    recreateConsumer: async () => undefined,
    onUnhealthy: () => undefined,
    rateLimitsBucket: () => Promise.reject(new Error("this router has no rate limit")),
  });
  worker.start();
  await waitUntil(() => stopping !== undefined, 3000, "consume called");
  await within(stopping!, 5000, "worker stop while consume() was pending");
  client.close();
  assert.equal(e.requests.length, 0);
  const ci = await jsm.consumers.info(names.deliveryStream, names.deliveryConsumer("rspin"));
  assert.ok(ci.delivered.consumer_seq <= 4, `no redelivery loop (consumer delivered ${ci.delivered.consumer_seq} times)`);
});

test("failed attempts are logged per router: the first at once, then summaries with counts, then the recovery", async () => {
  let down = true;
  const e = await endpoint(() => (down ? { status: 503 } : undefined));
  const routers = new MemoryRouterSource();
  const { d, log } = await instance(routers, { failureSummaryEveryMs: 300 });
  routers.put(makeRouter("rlog", e.url, {}, { maxRetries: 50, backoffMs: [100] }));
  await d.settled();
  await publishStatements(js, names, "rlog", [fakeStatement(), fakeStatement()]);
  const lines = () => log.lines.filter((l) => l["routerId"] === "rlog");
  await waitUntil(() => lines().some((l) => l["msg"] === "delivery still failing"), 8000, "a summary");
  assert.equal(lines().filter((l) => String(l["msg"]).startsWith("delivery attempt failed")).length, 1, "the first failure once");
  const summary = lines().find((l) => l["msg"] === "delivery still failing")!;
  assert.equal(summary["level"], 40);
  assert.ok((summary["failedAttempts"] as number) >= 1);
  assert.match(String(summary["lastError"]), /HTTP 503/);
  assert.equal((await d.status.status("rlog"))[0]!.state, "failing");
  down = false;
  await waitUntil(() => lines().some((l) => l["msg"] === "delivery recovered"), 8000, "recovery logged");
  await waitUntil(() => e.stored.size === 2, 5000, "delivered");
  assert.equal((await d.status.status("rlog"))[0]!.state, "active");
});

test("a permanent JetStream refusal makes the router UNHEALTHY (status and health) without blocking its later changes", async () => {
  // A delivery stream that allows one consumer: the second router's consumer is refused for good.
  const pn = natsNames("ptest");
  for (const cfg of streamConfigs(pn, { replicas: 1, deliveryMaxAgeHours: 1 })) {
    await jsm.streams.add(cfg.name === pn.deliveryStream ? { ...cfg, max_consumers: 1 } : cfg);
  }
  const e = await endpoint();
  const routers = new MemoryRouterSource();
  const { d } = await instance(routers, { names: pn });
  const health = new HealthRegistry();
  bindHealthToDelivery(d.health, health);
  routers.put(makeRouter("pa", e.url));
  routers.put(makeRouter("pb", e.url));
  await within(d.settled(), 10_000, "router changes applied");
  const [pb] = await d.status.status("pb");
  assert.equal(pb!.state, "unhealthy");
  assert.match(pb!.stateReason ?? "", /maximum consumers/i);
  assert.equal(health.status(DELIVERY_HEALTH_SERVICE), ServingStatus.NOT_SERVING);
  assert.equal(health.status(""), ServingStatus.SERVING, "the overall status stays tied to NATS");
  assert.equal((await d.status.status("pa"))[0]!.state, "active");
  routers.delete("pb");
  await within(d.settled(), 10_000, "the delete of the refused router applied");
  assert.equal(health.status(DELIVERY_HEALTH_SERVICE), ServingStatus.SERVING);
  await publishStatements(js, pn, "pa", [fakeStatement()]);
  await waitUntil(() => e.stored.size === 1, 5000, "the other router still delivers");
});

test("a router watch that ends is reopened and later changes still arrive", async () => {
  const watches: QueuedIterator<KvWatchEntry>[] = [];
  const restarts: Array<{ error?: string }> = [];
  const wn = natsNames("wtest");
  const store = await RouterStore.open(nc, wn, {
    openWatch: async (kv, from) => {
      const w = from > 0 ? await kv.watch({ resumeFromRevision: from + 1 }) : await kv.watch();
      watches.push(w);
      return w;
    },
    onWatchRestart: (ev) => restarts.push(ev),
  });
  closers.push(() => store.close());
  const kv = await new Kvm(nc).open(wn.routersBucket);
  const stored = (id: string) => {
    const { revision: _r, ...r } = makeRouter(id, "http://127.0.0.1:9");
    return JSON.stringify(r);
  };
  await kv.put("w1", stored("w1"));
  await waitUntil(() => store.get("w1") !== undefined, 3000, "w1 seen");
  watches[0]!.stop();
  await waitUntil(() => watches.length === 2, 5000, "watch reopened");
  await kv.put("w2", stored("w2"));
  await kv.delete("w1");
  await waitUntil(() => store.get("w2") !== undefined && store.get("w1") === undefined, 5000, "changes after the restart applied");
  assert.ok(restarts.some((r) => r.error !== undefined));
});

test("status reports the oldest pending statement and when the age limit removes it; a warning comes before", async () => {
  // A delivery stream with a 6 s age limit, so the 75 % warning comes after 4.5 s.
  const an = natsNames("atest");
  for (const cfg of streamConfigs(an, { replicas: 1, deliveryMaxAgeHours: 1 })) {
    await jsm.streams.add(cfg.name === an.deliveryStream ? { ...cfg, max_age: nanos(6000), duplicate_window: nanos(1000) } : cfg);
  }
  const routers = new MemoryRouterSource();
  const log = captureLogger();
  const opts = { nc, names: an, routers, defaults: TEST_DEFAULTS, caliperSensorId: "x", logger: log.logger, sweeper: false };
  const d = await startDelivery({ ...opts, ageCheckEveryMs: 200 });
  closers.push(() => d.stop());
  routers.put(makeRouter("aold", "http://127.0.0.1:9", { enabled: false }));
  await d.settled();
  const [empty] = await d.status.status("aold");
  assert.equal(empty!.oldestPendingTime, undefined);
  assert.equal(empty!.state, "disabled");
  const t0 = Date.now();
  await publishStatements(js, an, "aold", [fakeStatement()]);
  await publishStatements(js, an, "aold", [fakeStatement()]);
  const [s] = await d.status.status("aold");
  const oldest = s!.oldestPendingTime!.getTime();
  assert.ok(oldest >= t0 - 1000 && oldest <= Date.now(), "the first statement's storage time");
  assert.equal(s!.oldestPendingExpireTime!.getTime() - oldest, 6000);
  await waitUntil(
    () => log.lines.some((l) => l["routerId"] === "aold" && /DELIVERY_MAX_AGE_HOURS/.test(String(l["msg"]))),
    8000,
    "age warning",
  );
});

test("an endpoint echoing the request never gets the router's secrets into stats, logs, the failed stream or the state reason", async () => {
  const password = "pa55word-XYZ";
  const apiKey = "hdr-secret-123";
  const basic = Buffer.from(`key:${password}`).toString("base64");
  let status = 500;
  const e = await endpoint(({ headers, body }) => ({ status, body: JSON.stringify({ headers, body }) }));
  const routers = new MemoryRouterSource();
  const { d, log } = await instance(routers);
  const auth = { kind: "basic" as const, username: "key", password };
  routers.put(makeRouter("recho", e.url, { auth, headers: { "X-Api-Key": apiKey } }, { maxRetries: 0 }));
  await d.settled();
  await publishStatements(js, names, "recho", [fakeStatement()], "edx.course.enrollment.activated");
  await waitUntil(async () => (await d.failed.count("recho")) === 1, 5000, "failed stream entry");
  const [entry] = (await d.failed.list({ routerId: "recho" }, 10)).entries;
  const secrets = [password, apiKey, basic, `Basic ${basic}`];
  const [failedStatus] = await d.status.status("recho");
  for (const text of [entry!.lastError, failedStatus!.lastError ?? ""]) {
    for (const secret of secrets) assert.ok(!text.includes(secret), `secret ${secret} in ${text}`);
  }
  status = 401;
  await publishStatements(js, names, "recho", [fakeStatement()]);
  await waitUntil(async () => (await d.status.status("recho"))[0]!.state === "paused", 5000, "paused on the echoed 401");
  const [st] = await d.status.status("recho");
  const kept = [entry!.lastError, st!.lastError ?? "", st!.stateReason ?? "", ...log.lines.map((l) => JSON.stringify(l))];
  for (const secret of secrets) {
    for (const text of kept) assert.ok(!text.includes(secret), `secret ${secret} in ${text}`);
  }
  assert.match(entry!.lastError, /HTTP 500: .*\[redacted\]/);
  assert.match(st!.stateReason ?? "", /HTTP 401: .*\[redacted\]/);
  assert.ok(entry!.lastError.length <= 200);
});

test("consumer config of a recreated consumer equals the configured one (no drift)", () => {
  const r: RouterConfig = makeRouter("x", "http://127.0.0.1:9", {}, { maxRetries: 2 });
  const cfg = consumerConfig(names, { id: "x" }, resolveDelivery(r, TEST_DEFAULTS));
  assert.equal(cfg.max_deliver, 3);
});

test("a delivery stream lost under a running worker makes the router UNHEALTHY; once the stream is back, delivery resumes", async () => {
  const sn = natsNames("stest");
  const { ensureStreams } = await import("../src/nats/streams.js");
  await ensureStreams(nc, sn, { replicas: 1, deliveryMaxAgeHours: 1 });
  const e = await endpoint();
  const routers = new MemoryRouterSource();
  const { d } = await instance(routers, { names: sn });
  routers.put(makeRouter("slost", e.url));
  await d.settled();
  await jsm.streams.delete(sn.deliveryStream);
  await waitUntil(() => d.health.unhealthy().has("slost"), 30_000, "router reported unhealthy");
  assert.match(d.health.unhealthy().get("slost")!, /not found/);
  await ensureStreams(nc, sn, { replicas: 1, deliveryMaxAgeHours: 1 });
  await waitUntil(() => !d.health.unhealthy().has("slost"), 20_000, "healthy again once the stream exists");
  const st = [fakeStatement(), fakeStatement()];
  await publishStatements(js, sn, "slost", st);
  await waitUntil(() => e.stored.size === 2, 10_000, "delivered after the stream came back");
  assert.equal((await d.status.status("slost"))[0]!.state, "active");
});
