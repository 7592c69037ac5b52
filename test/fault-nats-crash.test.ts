/**
 * Fault suite: nats-server is SIGKILLed mid-load and restarted on the same port and store. While it is down every
 * Emit the service answers is Unavailable (never a false OK); after the restart every acknowledged statement
 * arrives, nothing arrives that was never acknowledged, and only statements delivered before the restart arrive twice.
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, test } from "node:test";
import { countFaults, faultEvents, LoadGenerator, summaryLine } from "./support/fault-load.js";
import { createScenarioRouter, failedIds, routerIdle } from "./support/fault-rpc.js";
import { FaultEndpoint, waitUntil } from "./support/http-endpoints.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";
import { ServiceProcess } from "./support/service-process.js";

/**
 * Over twice the service's PubAck timeout (5 s): calls in flight at the kill are answered during the outage, and so
 * are calls first sent after it.
 */
const OUTAGE_MS = 11_000;

let nats: TestNatsServer;
let svc: ServiceProcess | undefined;
let endpoint: FaultEndpoint | undefined;

before(async () => {
  nats = await startNatsServer();
});

after(async () => {
  await svc?.stop();
  await endpoint?.close();
  await nats?.stop();
});

test("fault sigkill-nats: SIGKILL nats-server mid-load, restart on the same store: Unavailable meanwhile, every acknowledged statement arrives", {
  timeout: 120_000,
}, async (t) => {
  const router = "crash-nats";
  endpoint = await FaultEndpoint.start(() => ({ delayMs: 10 }));
  svc = await ServiceProcess.start(nats.url);
  await createScenarioRouter(svc.clients(), router, endpoint.url, "natscrash", {
    batchSize: 20,
    batchIntervalMs: 50,
    maxRetries: 20,
    // The ack wait: long enough that a batch fetched after the restart is acknowledged before it expires even on a
    // loaded machine (at 1.5 s, 100 statements fetched after the restart were redelivered: late duplicates).
    countdownMs: 5000,
    httpTimeoutMs: 500,
  });

  const events = faultEvents("natscrash", 2400, { criticalEvery: 10 });
  const load = LoadGenerator.start({
    client: () => svc!.clients().events,
    events,
    batchSize: 40,
    concurrency: 4,
    pauseMs: 100,
    routerId: router,
    deadlineMs: 80_000,
  });
  await load.whenAcknowledged(600);
  await waitUntil(() => endpoint!.stored.size >= 40, 20_000, "delivery under way");

  await nats.server.stop({ crash: true });
  const downAt = Date.now();
  const ackedAtKill = load.acknowledged.size;
  // Single Emit calls too, first sent during the outage (retried after it, like the batches).
  const singles = LoadGenerator.start({
    client: () => svc!.clients().events,
    events: faultEvents("natscrash", 40, { criticalEvery: 10, offset: events.length }),
    batchSize: 1,
    single: true,
    concurrency: 2,
    routerId: router,
    deadlineMs: 80_000,
  });
  // The outage itself (a fault's duration, not a synchronisation): the load keeps calling throughout.
  await sleep(OUTAGE_MS);
  const restartAt = Date.now();
  const storedBeforeRestart = new Set(endpoint.stored.keys());
  await nats.restart();
  await Promise.all([load.finished, singles.finished]);
  assert.deepEqual([...load.notPublished, ...singles.notPublished], []);
  assert.ok(ackedAtKill < events.length, `killed mid-load (${ackedAtKill} of ${events.length} acknowledged)`);

  // Every call answered while nats-server was down: Unavailable. An OK is allowed only for a call sent before the
  // kill (its PubAcks may have come just before it); an OK for a call sent during the outage would be a false OK.
  const answeredDuring = [...load.calls, ...singles.calls].filter((call) => call.end >= downAt && call.end < restartAt);
  const wrong = answeredDuring.filter((call) => call.code !== "Unavailable" && !(call.code === "OK" && call.start < downAt));
  assert.deepEqual(wrong, [], "every call answered during the outage is Unavailable");
  const unavailable = answeredDuring.filter((call) => call.code === "Unavailable").length;
  const sentDuring = answeredDuring.filter((call) => call.start >= downAt).length;
  assert.ok(unavailable > 0, "calls were answered during the outage");
  const singlesDuring = singles.calls.filter((call) => call.end < restartAt);
  assert.ok(
    singlesDuring.length > 0 && singlesDuring.every((call) => call.code === "Unavailable"),
    "single Emit calls during the outage: Unavailable",
  );

  const acknowledged = () => [...load.acknowledged.keys(), ...singles.acknowledged.keys()];
  const c = svc.clients();
  await waitUntil(
    async () => countFaults(acknowledged(), endpoint!.stored).lost === 0 && (await routerIdle(c, router)),
    60_000,
    "every acknowledged statement delivered",
  );
  const counts = countFaults(acknowledged(), endpoint.stored, await failedIds(c, router), svc.droppedIds(router));
  const line = summaryLine(
    "sigkill-nats",
    counts,
    `killed at ${ackedAtKill} acknowledged, down ${OUTAGE_MS} ms, ${unavailable} calls answered Unavailable during the outage ` +
      `(${sentDuring} of them sent during it, ${singlesDuring.length} single Emits), 0 OK; ` +
      `EmitBatch ${load.summary()}; Emit ${singles.summary()}`,
  );
  t.diagnostic(line);
  assert.equal(counts.acknowledged, events.length + 40);
  assert.deepEqual(counts.lostIds, []);
  assert.deepEqual(counts.unexpectedIds, []);
  assert.equal(counts.delivered, counts.acknowledged);
  // Duplicates are redeliveries of work done before the crash: acks the killed server had not yet written to its
  // store, and batches the worker held. Nothing delivered after the restart arrives twice.
  const lateDuplicates = endpoint.duplicates().filter((id) => !storedBeforeRestart.has(id));
  assert.deepEqual(lateDuplicates, [], "every duplicate was first delivered before nats-server came back");
});
