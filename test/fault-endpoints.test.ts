/**
 * Fault suite: endpoints that misbehave, against the service as its own process (one nats-server, one router per
 * scenario selected by match_params):
 * - one that hangs (never answers): the HTTP timeout ends each attempt, nothing is lost or duplicated;
 * - one that resets the connection half-way through its 200 answer: the statements were stored, the service cannot
 *   know it and sends them again, so exactly those arrive twice;
 * - one that is down past the retry budget: every statement lands in the failed stream (the default), or on a router
 *   keeping critical ones only (ERB), the critical ones do and the others are dropped by policy (logged with their
 *   ids); after recovery RetryFailed delivers each failed statement exactly once.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ExhaustedStatements } from "../gen/eventrouting/v1/router_admin_service_pb.js";
import { countFaults, CRITICAL_EVENT, faultEvents, LoadGenerator, summaryLine } from "./support/fault-load.js";
import { createScenarioRouter, failedIds, routerIdle } from "./support/fault-rpc.js";
import { FaultEndpoint, waitUntil, type Script } from "./support/http-endpoints.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";
import { authed, ServiceProcess } from "./support/service-process.js";

let nats: TestNatsServer;
let svc: ServiceProcess;
const endpoints: FaultEndpoint[] = [];

before(async () => {
  nats = await startNatsServer();
  svc = await ServiceProcess.start(nats.url);
});

after(async () => {
  await svc?.stop();
  await Promise.all(endpoints.map((e) => e.close()));
  await nats?.stop();
});

async function endpoint(script?: Script): Promise<FaultEndpoint> {
  const e = await FaultEndpoint.start(script);
  endpoints.push(e);
  return e;
}

function load(scenario: string, routerId: string, n: number, criticalEvery: number): Promise<LoadGenerator> {
  const g = LoadGenerator.start({
    client: () => svc.clients().events,
    events: faultEvents(scenario, n, { criticalEvery }),
    batchSize: 50,
    routerId,
    deadlineMs: 30_000,
  });
  return g.finished.then(() => {
    assert.deepEqual(g.notPublished, []);
    return g;
  });
}

async function settled(g: LoadGenerator, e: FaultEndpoint, routerId: string, timeoutMs: number) {
  const c = svc.clients();
  await waitUntil(
    async () =>
      countFaults(g.acknowledged.keys(), e.stored, await failedIds(c, routerId), svc.droppedIds(routerId)).lost === 0 &&
      (await routerIdle(c, routerId)),
    timeoutMs,
    `${routerId}: every acknowledged statement accounted for`,
  );
  return countFaults(g.acknowledged.keys(), e.stored, await failedIds(c, routerId), svc.droppedIds(routerId));
}

test("fault endpoint-hang: an endpoint that never answers its first requests; the HTTP timeout ends each, everything arrives once", {
  timeout: 60_000,
}, async (t) => {
  const HUNG = 4;
  const e = await endpoint(({ n }) => (n <= HUNG ? { hang: true } : undefined));
  await createScenarioRouter(svc.clients(), "hang", `${e.url}/xapi`, "hang", {
    batchSize: 20,
    batchIntervalMs: 50,
    maxRetries: 5,
    countdownMs: 1000,
    httpTimeoutMs: 400,
  });
  const g = await load("hang", "hang", 300, 3);
  const counts = await settled(g, e, "hang", 30_000);
  const line = summaryLine(
    "endpoint-hang",
    counts,
    `${HUNG} requests never answered (each ended by the 400 ms HTTP timeout), ${e.requests.length} requests in all`,
  );
  t.diagnostic(line);
  assert.equal(counts.acknowledged, 300);
  assert.deepEqual(counts.lostIds, []);
  assert.equal(counts.delivered, 300);
  assert.equal(counts.duplicates, 0, "a request that was never answered stored nothing");
  assert.equal(counts.unexpected, 0);
  assert.ok(e.requests.length > HUNG);
});

test("fault endpoint-reset: an endpoint that resets the connection mid-response; each reset answer costs one extra copy of its statements, nothing is lost", {
  timeout: 60_000,
}, async (t) => {
  const RESET = new Set([2, 4, 6]);
  const e = await endpoint(({ n }) => (RESET.has(n) ? { resetMidResponse: true } : undefined));
  await createScenarioRouter(svc.clients(), "reset", `${e.url}/xapi`, "reset", {
    batchSize: 20,
    batchIntervalMs: 50,
    maxRetries: 5,
    countdownMs: 1000,
    httpTimeoutMs: 400,
  });
  const g = await load("reset", "reset", 300, 3);
  const counts = await settled(g, e, "reset", 30_000);
  const resetIds = new Set(e.requests.filter((r) => RESET.has(r.n)).flatMap((r) => r.ids));
  const copies = [...e.stored.values()].reduce((a, b) => a + b, 0) - counts.delivered;
  const line = summaryLine(
    "endpoint-reset",
    counts,
    `${RESET.size} answers reset half-way, holding ${resetIds.size} distinct statements; ${copies} extra copies stored`,
  );
  t.diagnostic(line);
  assert.equal(counts.acknowledged, 300);
  assert.deepEqual(counts.lostIds, []);
  assert.equal(counts.delivered, 300);
  assert.equal(counts.unexpected, 0);
  // Stored by the endpoint, but the answer never arrived whole: the service must treat it as not delivered.
  assert.deepEqual(new Set(e.duplicates()), resetIds);
  // Each reset answer costs exactly one extra copy (a retry can be reset again).
  for (const id of g.acknowledged.keys()) {
    const resets = e.requests.filter((r) => RESET.has(r.n) && r.ids.includes(id)).length;
    assert.equal(e.stored.get(id), 1 + resets, `${id} stored once per reset answer plus once`);
  }
});

test("fault endpoint-down: down past the retry budget, every statement is kept in the failed stream; RetryFailed after recovery delivers each once", {
  timeout: 90_000,
}, async (t) => {
  const e = await endpoint();
  await e.close(); // connection refused from the first attempt
  await createScenarioRouter(svc.clients(), "down", `${e.url}/xapi`, "down", {
    batchSize: 20,
    batchIntervalMs: 50,
    maxRetries: 2,
    countdownMs: 300,
    httpTimeoutMs: 200,
  });
  const g = await load("down", "down", 400, 2);
  const exhausted = await settled(g, e, "down", 45_000);
  t.diagnostic(summaryLine("endpoint-down", exhausted, "endpoint refusing connections through 3 attempts per statement"));
  const c = svc.clients();
  const all = new Set(g.acknowledged.keys());
  assert.equal(exhausted.acknowledged, 400);
  assert.equal(exhausted.lost, 0);
  assert.equal(exhausted.delivered, 0);
  assert.deepEqual(await failedIds(c, "down"), all, "every exhausted statement is in the failed stream, critical or not");
  assert.equal(svc.droppedIds("down").size, 0, "none dropped");

  await e.reopen();
  const retried = await c.events.retryFailed({ filter: { routerId: "down" } }, authed);
  assert.equal(retried.retried, all.size);
  await waitUntil(
    async () => [...all].every((id) => e.stored.has(id)) && (await routerIdle(c, "down")),
    30_000,
    "every failed statement delivered after RetryFailed",
  );
  const after = countFaults(g.acknowledged.keys(), e.stored, await failedIds(c, "down"), svc.droppedIds("down"));
  t.diagnostic(summaryLine("endpoint-down-then-retry", after, `RetryFailed re-sent ${retried.retried}`));
  assert.equal(after.lost, 0);
  assert.equal(after.failed, 0, "the failed stream is empty");
  assert.equal(after.delivered, all.size);
  assert.equal(after.duplicates, 0, "each retried statement delivered exactly once");
  assert.equal(after.unexpected, 0);
});

test("fault endpoint-down-keep-critical: a router keeping critical statements only (ERB): the others are dropped and logged; RetryFailed after recovery delivers each kept one once", {
  timeout: 90_000,
}, async (t) => {
  const e = await endpoint();
  await e.close(); // connection refused from the first attempt
  await createScenarioRouter(svc.clients(), "downkc", `${e.url}/xapi`, "downkc", {
    batchSize: 20,
    batchIntervalMs: 50,
    maxRetries: 2,
    countdownMs: 300,
    httpTimeoutMs: 200,
    exhausted: ExhaustedStatements.KEEP_CRITICAL,
  });
  const g = await load("downkc", "downkc", 400, 2);
  const exhausted = await settled(g, e, "downkc", 45_000);
  t.diagnostic(summaryLine("endpoint-down-keep-critical", exhausted, "endpoint refusing connections through 3 attempts per statement"));
  const critical = new Set([...g.acknowledged].filter(([, name]) => name === CRITICAL_EVENT).map(([id]) => id));
  const ordinary = new Set([...g.acknowledged.keys()].filter((id) => !critical.has(id)));
  const c = svc.clients();
  assert.equal(exhausted.acknowledged, 400);
  assert.equal(exhausted.lost, 0);
  assert.equal(exhausted.delivered, 0);
  assert.deepEqual(await failedIds(c, "downkc"), critical, "exactly the critical statements are in the failed stream");
  assert.deepEqual(svc.droppedIds("downkc"), ordinary, "exactly the others were dropped by policy");

  await e.reopen();
  const retried = await c.events.retryFailed({ filter: { routerId: "downkc" } }, authed);
  assert.equal(retried.retried, critical.size);
  await waitUntil(
    async () => [...critical].every((id) => e.stored.has(id)) && (await routerIdle(c, "downkc")),
    30_000,
    "every failed statement delivered after RetryFailed",
  );
  const after = countFaults(g.acknowledged.keys(), e.stored, await failedIds(c, "downkc"), svc.droppedIds("downkc"));
  t.diagnostic(summaryLine("endpoint-down-keep-critical-then-retry", after, `RetryFailed re-sent ${retried.retried}`));
  assert.equal(after.lost, 0);
  assert.equal(after.failed, 0, "the failed stream is empty");
  assert.equal(after.delivered, critical.size);
  assert.equal(after.dropped, ordinary.size);
  assert.equal(after.duplicates, 0, "each retried statement delivered exactly once");
  assert.equal(after.unexpected, 0);
  assert.deepEqual(e.storedIds(), critical, "dropped statements stay dropped");
});
