/**
 * Fault suite: the service process is SIGKILLed mid-load (while it holds un-acknowledged messages) and restarted.
 * Exact accounting: every statement an EmitBatch acknowledged arrives at the endpoint; duplicates are bounded by
 * what the dead instance held (its consumer's max_ack_pending); nothing arrives that was never acknowledged.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats } from "../src/nats/connection.js";
import { natsNames } from "../src/nats/names.js";
import { countFaults, faultEvents, LoadGenerator, summaryLine } from "./support/fault-load.js";
import { createScenarioRouter, failedIds, routerIdle } from "./support/fault-rpc.js";
import { FaultEndpoint, waitUntil } from "./support/http-endpoints.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";
import { ServiceProcess } from "./support/service-process.js";

const names = natsNames("eventrouting");
let nats: TestNatsServer;
let nc: NatsConnection;
let svc: ServiceProcess | undefined;
let endpoint: FaultEndpoint | undefined;

before(async () => {
  nats = await startNatsServer();
  nc = await connectNats({ servers: nats.url, name: "fault-observer" });
});

after(async () => {
  await svc?.stop();
  await endpoint?.close();
  await nc?.close();
  await nats?.stop();
});

test("fault sigkill-service: SIGKILL the service mid-load, restart: every acknowledged statement arrives", { timeout: 120_000 }, async (t) => {
  const router = "crash-svc";
  const batchSize = 20;
  // A little latency per request, so batches are in flight when the process dies.
  endpoint = await FaultEndpoint.start(() => ({ delayMs: 15 }));
  svc = await ServiceProcess.start(nats.url);
  await createScenarioRouter(svc.clients(), router, endpoint.url, "svccrash", { batchSize, batchIntervalMs: 50, maxRetries: 20, countdownMs: 1500, httpTimeoutMs: 500 });

  const events = faultEvents("svccrash", 2400, { criticalEvery: 10 });
  const load = LoadGenerator.start({ client: () => svc!.clients().events, events, batchSize: 60, concurrency: 2, routerId: router, deadlineMs: 60_000 });
  await load.whenAcknowledged(800);
  await waitUntil(() => endpoint!.stored.size > 100, 20_000, "delivery under way");

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
  await waitUntil(async () => countFaults(load.acknowledged.keys(), endpoint!.stored).lost === 0 && (await routerIdle(c, router)), 60_000, "every acknowledged statement delivered");
  const counts = countFaults(load.acknowledged.keys(), endpoint.stored, await failedIds(c, router), svc.droppedIds(router));
  const line = summaryLine("sigkill-service", counts, `killed at ${ackedAtKill} acknowledged / ${storedAtKill} delivered with ${held} held; ${load.summary()}`);
  t.diagnostic(line);
  assert.equal(counts.acknowledged, events.length, "the careful client got every event acknowledged in the end");
  assert.deepEqual(counts.lostIds, []);
  assert.deepEqual(counts.unexpectedIds, []);
  assert.equal(counts.delivered, counts.acknowledged);
  // Only what the dead instance held can arrive twice: max_ack_pending = 2 batches.
  assert.ok(counts.duplicates <= 2 * batchSize, `duplicates ${counts.duplicates} within what was held (${held})`);
});
