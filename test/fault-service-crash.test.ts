/**
 * Fault suite: the service process is SIGKILLed mid-load (while it holds un-acknowledged messages) and restarted.
 * Exact accounting: every statement an EmitBatch acknowledged arrives at the endpoint; duplicates are bounded by
 * what the dead instance held (its consumer's max_ack_pending); nothing arrives that was never acknowledged.
 * Then the same crash while statements are running out of attempts against an endpoint that is down: every
 * acknowledged statement ends in the failed stream (critical) or, on a router that keeps critical ones only, is
 * dropped by policy (the others), the ones whose
 * final attempt died with the process through the advisory sweeper, and none is kept twice.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { ExhaustedStatements } from "../gen/eventrouting/v1/router_admin_service_pb.js";
import { connectNats } from "../src/nats/connection.js";
import { natsNames } from "../src/nats/names.js";
import { countFaults, CRITICAL_EVENT, faultEvents, LoadGenerator, summaryLine } from "./support/fault-load.js";
import { createScenarioRouter, failedIds, routerIdle } from "./support/fault-rpc.js";
import { FaultEndpoint, waitUntil } from "./support/http-endpoints.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";
import { authed, ServiceProcess } from "./support/service-process.js";

const names = natsNames("eventrouting");
let nats: TestNatsServer;
let nc: NatsConnection;
let svc: ServiceProcess | undefined;
let endpoint: FaultEndpoint | undefined;
let down: FaultEndpoint | undefined;

before(async () => {
  nats = await startNatsServer();
  nc = await connectNats({ servers: nats.url, name: "fault-observer" });
});

after(async () => {
  await svc?.stop();
  await endpoint?.close();
  await down?.close();
  await nc?.close();
  await nats?.stop();
});

test("fault sigkill-service: SIGKILL the service mid-load, restart: every acknowledged statement arrives", {
  timeout: 120_000,
}, async (t) => {
  const router = "crash-svc";
  const batchSize = 20;
  // A little latency per request, so batches are in flight when the process dies.
  endpoint = await FaultEndpoint.start(() => ({ delayMs: 15 }));
  svc = await ServiceProcess.start(nats.url);
  await createScenarioRouter(svc.clients(), router, endpoint.url, "svccrash", {
    batchSize,
    batchIntervalMs: 50,
    maxRetries: 20,
    countdownMs: 1500,
    httpTimeoutMs: 500,
  });

  const events = faultEvents("svccrash", 2400, { criticalEvery: 10 });
  const load = LoadGenerator.start({
    client: () => svc!.clients().events,
    events,
    batchSize: 60,
    concurrency: 2,
    pauseMs: 100,
    routerId: router,
    deadlineMs: 60_000,
  });
  await load.whenAcknowledged(600);
  await waitUntil(() => endpoint!.stored.size >= 40, 20_000, "delivery under way");

  const s = svc;
  await s.kill();
  const ackedAtKill = load.acknowledged.size;
  const storedAtKill = endpoint.stored.size;
  // What the dead instance held: delivered to it, never acknowledged (it was the only instance).
  const jsm = await jetstreamManager(nc);
  const held = (await jsm.consumers.info(names.deliveryStream, names.deliveryConsumer(router))).num_ack_pending;
  await s.restart();
  await load.finished;
  assert.deepEqual(load.notPublished, []);
  assert.ok(ackedAtKill < events.length, `killed mid-load (${ackedAtKill} of ${events.length} acknowledged)`);
  assert.ok(held > 0, "the killed instance held un-acknowledged messages");

  const c = svc.clients();
  await waitUntil(
    async () => countFaults(load.acknowledged.keys(), endpoint!.stored).lost === 0 && (await routerIdle(c, router)),
    60_000,
    "every acknowledged statement delivered",
  );
  const counts = countFaults(load.acknowledged.keys(), endpoint.stored, await failedIds(c, router), svc.droppedIds(router));
  const line = summaryLine(
    "sigkill-service",
    counts,
    `killed at ${ackedAtKill} acknowledged / ${storedAtKill} delivered with ${held} held; ${load.summary()}`,
  );
  t.diagnostic(line);
  assert.equal(counts.acknowledged, events.length, "the careful client got every event acknowledged in the end");
  assert.deepEqual(counts.lostIds, []);
  assert.deepEqual(counts.unexpectedIds, []);
  assert.equal(counts.delivered, counts.acknowledged);
  // Only what the dead instance held can arrive twice: max_ack_pending = 2 batches.
  assert.ok(counts.duplicates <= 2 * batchSize, `duplicates ${counts.duplicates} within what was held (${held})`);
});

test("fault sigkill-service-exhausting: SIGKILL during a final attempt: each critical statement kept once (the sweeper takes the held ones), the others dropped", {
  timeout: 120_000,
}, async (t) => {
  assert.ok(svc, "runs after the first test, on its service");
  const router = "crash-exhaust";
  // Never answers, so every attempt lasts the HTTP timeout. A request whose statements were all sent before is
  // their final attempt (1 retry): the process is killed while it is in flight.
  const seen = new Set<string>();
  let finalAttempt: string[] | undefined;
  down = await FaultEndpoint.start(({ ids }) => {
    if (ids.every((id) => seen.has(id))) finalAttempt ??= ids;
    for (const id of ids) seen.add(id);
    return { hang: true };
  });
  await createScenarioRouter(svc.clients(), router, down.url, "exhaustcrash", {
    batchSize: 20,
    batchIntervalMs: 50,
    maxRetries: 1,
    countdownMs: 1500,
    httpTimeoutMs: 800,
    // ERB's policy, so the sweeper's drop path is exercised too (the default keeps every exhausted statement).
    exhausted: ExhaustedStatements.KEEP_CRITICAL,
  });
  const events = faultEvents("exhaustcrash", 160, { criticalEvery: 2 });
  const load = LoadGenerator.start({ client: () => svc!.clients().events, events, batchSize: 40, routerId: router, deadlineMs: 60_000 });
  await waitUntil(() => finalAttempt !== undefined, 30_000, "a final attempt in flight");
  await svc.kill();
  const heldFinal = finalAttempt!;
  await svc.restart();
  await load.finished;
  assert.deepEqual(load.notPublished, []);

  const c = svc.clients();
  const account = async () => countFaults(load.acknowledged.keys(), down!.stored, await failedIds(c, router), svc!.droppedIds(router));
  await waitUntil(
    async () => (await account()).lost === 0 && (await routerIdle(c, router)),
    60_000,
    "every acknowledged statement failed or dropped",
  );
  const counts = await account();
  const entries = (await c.events.listFailed({ filter: { routerId: router }, pageSize: 1000 }, authed)).failed;
  const critical = new Set([...load.acknowledged].filter(([, name]) => name === CRITICAL_EVENT).map(([id]) => id));
  // The final attempt in flight at the kill has no outcome: the advisory sweeper moves or drops those statements.
  const swept = entries.filter((f) => heldFinal.includes(f.statementId));
  const line = summaryLine(
    "sigkill-service-exhausting",
    counts,
    `killed during the final attempt of ${heldFinal.length} statements; the sweeper kept ${swept.length} of them; ` +
      `failed-stream entries ${entries.length}`,
  );
  t.diagnostic(line);
  assert.equal(counts.acknowledged, events.length);
  assert.deepEqual(counts.lostIds, []);
  assert.equal(counts.delivered, 0);
  assert.deepEqual(await failedIds(c, router), critical, "exactly the critical statements are kept");
  assert.equal(entries.length, critical.size, "each kept once");
  assert.equal(counts.dropped, events.length - critical.size);
  assert.equal(swept.length, heldFinal.filter((id) => critical.has(id)).length);
  for (const f of swept) assert.match(f.lastError, /no outcome recorded/, `${f.statementId} kept by the sweeper`);
  const dropped = svc.droppedIds(router);
  assert.ok(
    heldFinal.filter((id) => !critical.has(id)).every((id) => dropped.has(id)),
    "the held non-critical ones dropped by the sweeper",
  );
});
