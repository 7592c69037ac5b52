/**
 * The per-router request rate limit (delivery.rate_limit, src/delivery/worker/rate-limiter.ts): the slot rule on
 * its own, then a backlog drained by TWO delivery instances (their own NATS connections, one shared consumer)
 * against a real receiver, which must never see more than N requests in any window of the period.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { startDelivery, type Delivery } from "../src/delivery/delivery.js";
import { reserveSlot } from "../src/delivery/worker/rate-limiter.js";
import { connectNats } from "../src/nats/connection.js";
import { natsNames } from "../src/nats/names.js";
import {
  captureLogger,
  fakeStatement,
  makeRouter,
  MemoryRouterSource,
  publishStatements,
  TEST_DEFAULTS,
} from "./support/delivery-harness.js";
import { FaultEndpoint, waitUntil } from "./support/http-endpoints.js";
import { startJetStream, type TestNatsServer } from "./support/nats-server.js";

test("slots: one interval apart, never in the past, a reservation more than a period ahead is taken as stale", () => {
  // 4 a second, less the 5% headroom: one every 1000 / 3.8 ms.
  const limit = { requests: 4, periodMs: 1000 };
  const interval = 1000 / 3.8;
  assert.deepEqual(reserveSlot(undefined, 10_000, limit), { slot: 10_000, next: 10_000 + interval });
  // The next free slot is ahead: wait for it.
  assert.deepEqual(reserveSlot(10_250, 10_100, limit), { slot: 10_250, next: 10_250 + interval });
  // Idle for a while: now.
  assert.deepEqual(reserveSlot(10_250, 20_000, limit), { slot: 20_000, next: 20_000 + interval });
  // Other instances have reserved up to one period ahead: honoured.
  assert.deepEqual(reserveSlot(11_000, 10_000, limit), { slot: 11_000, next: 11_000 + interval });
  // Further ahead (a slower limit before a router change, a clock far ahead): not waited for.
  assert.deepEqual(reserveSlot(60_000, 10_000, limit), { slot: 10_000, next: 10_000 + interval });
});

const names = natsNames("rlimit");
let nats: TestNatsServer;
let nc: NatsConnection;
let js: JetStreamClient;
const closers: Array<() => Promise<unknown>> = [];

before(async () => {
  ({ nats, nc, js } = await startJetStream(names));
});

after(async () => {
  for (const c of closers.reverse()) await c();
  await nc.close();
  await nats.stop();
});

async function instance(routers: MemoryRouterSource, conn: NatsConnection): Promise<Delivery> {
  const d = await startDelivery({
    nc: conn,
    names,
    routers,
    defaults: TEST_DEFAULTS,
    caliperSensorId: "x",
    logger: captureLogger().logger,
  });
  closers.push(() => d.stop());
  return d;
}

test("a router limited to N requests a second never exceeds it under a backlog, with two instances delivering", async (t) => {
  const N = 8;
  // Two seconds: the limiter's 5% headroom (100 ms here) must absorb the receiver's event-loop jitter too, which
  // on a loaded 2-core machine (the suite runs two files at a time) reached 60 ms against a 1 s period.
  const PERIOD_MS = 2000;
  const e = await FaultEndpoint.start();
  closers.push(() => e.close());
  const st = Array.from({ length: 24 }, () => fakeStatement());
  await publishStatements(js, names, "limited", st);

  const nc2 = await connectNats({ servers: nats.url });
  closers.push(() => nc2.close());
  const r1 = new MemoryRouterSource();
  const r2 = new MemoryRouterSource();
  const d1 = await instance(r1, nc);
  const d2 = await instance(r2, nc2);
  // One statement per request, so requests = statements; a 10 s ack wait keeps slow heartbeats out of the picture.
  const router = makeRouter(
    "limited",
    e.url,
    {},
    {
      batchSize: 1,
      batchIntervalMs: 20,
      countdownMs: 10_000,
      httpTimeoutMs: 2000,
      rateLimit: { requests: N, periodMs: PERIOD_MS },
    },
  );
  r1.put(router);
  r2.put(router);
  await Promise.all([d1.settled(), d2.settled()]);
  await waitUntil(() => e.stored.size === st.length, 30_000, "backlog delivered");

  // Measured where an LRS counts them, at the receiver: N + 1 consecutive arrivals always span more than a period
  // (the limiter's 5% headroom absorbs its timers' and the loopback's jitter).
  const at = e.requests.map((r) => r.at).sort((a, b) => a - b);
  let worst = Number.POSITIVE_INFINITY;
  for (let i = 0; i + N < at.length; i++) worst = Math.min(worst, at[i + N]! - at[i]!);
  t.diagnostic(`${at.length} requests in ${at.at(-1)! - at[0]!} ms; shortest span of ${N + 1} consecutive: ${worst} ms`);
  assert.ok(worst >= PERIOD_MS, `${N + 1} requests within ${worst} ms: more than ${N} in one period`);
  // And the limit was the bottleneck, not something slower: the drain took about (requests - 1) intervals.
  assert.ok(at.at(-1)! - at[0]! < ((at.length - 1) * PERIOD_MS) / N + 2000, "drained at about the limit");
  const [s1] = await d1.status.status("limited");
  const [s2] = await d2.status.status("limited");
  assert.equal(s1!.delivered + s2!.delivered, st.length);
  assert.ok(s1!.delivered > 0 && s2!.delivered > 0, `both instances delivered (${s1!.delivered}/${s2!.delivered})`);
});
