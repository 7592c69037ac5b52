/**
 * Fault suite: an operator deletes a router while its endpoint hangs (a batch in flight), and creates it again
 * under the same id at once, against two service processes on one nats-server.
 *
 * The delete waits on each instance for that instance's worker to stop (up to the HTTP timeout), then removes the
 * consumer and purges the subject. Both instances do it, each on its own schedule, while the new router is already
 * being stored to and delivered. The new router is another incarnation with its own subject and consumer, so
 * neither clean-up may take its statements or its consumer: every statement stored for it arrives, also those
 * stored after both instances finished deleting, and none of the deleted router's backlog does.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { countFaults, faultEvents, LoadGenerator, summaryLine } from "./support/fault-load.js";
import { createScenarioRouter } from "./support/fault-rpc.js";
import { FaultEndpoint, waitUntil } from "./support/http-endpoints.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";
import { authed, ServiceProcess } from "./support/service-process.js";

const ROUTER = "recreate";
const DELETED_MSG = "router deleted: consumer removed and its undelivered statements purged";

let nats: TestNatsServer;
let one: ServiceProcess;
let two: ServiceProcess;
let hanging: FaultEndpoint;
let healthy: FaultEndpoint;

before(async () => {
  nats = await startNatsServer();
  [one, two] = await Promise.all([ServiceProcess.start(nats.url), ServiceProcess.start(nats.url)]);
  hanging = await FaultEndpoint.start(() => ({ hang: true }));
  healthy = await FaultEndpoint.start();
});

after(async () => {
  await Promise.all([one?.stop(), two?.stop()]);
  await Promise.all([hanging?.close(), healthy?.close()]);
  await nats?.stop();
});

function load(svc: ServiceProcess, n: number, offset: number): Promise<LoadGenerator> {
  const g = LoadGenerator.start({
    client: () => svc.clients().events,
    events: faultEvents(ROUTER, n, { offset }),
    batchSize: n,
    routerId: ROUTER,
    deadlineMs: 30_000,
  });
  return g.finished.then(() => {
    assert.deepEqual(g.notPublished, []);
    return g;
  });
}

function deletesLogged(svc: ServiceProcess): number {
  return svc.lines.filter((l) => l.msg === DELETED_MSG && l["routerId"] === ROUTER).length;
}

test("fault router-recreate: a router deleted with a batch in flight and created again at once under the same id; two instances clean up the deleted one, the new one loses nothing", {
  timeout: 90_000,
}, async (t) => {
  // The deleted router: every request hangs, so each instance's delete waits for its in-flight batch (4 s).
  await createScenarioRouter(one.clients(), ROUTER, `${hanging.url}/xapi`, ROUTER, {
    batchSize: 10,
    batchIntervalMs: 50,
    maxRetries: 5,
    countdownMs: 6000,
    httpTimeoutMs: 4000,
  });
  const old = await load(one, 40, 0);
  await waitUntil(() => hanging.requests.length >= 2, 15_000, "the hanging endpoint holds batches in flight");

  await one.clients().admin.deleteRouter({ id: ROUTER }, authed);
  await createScenarioRouter(two.clients(), ROUTER, `${healthy.url}/xapi`, ROUTER, {
    batchSize: 10,
    batchIntervalMs: 50,
    maxRetries: 5,
    countdownMs: 1000,
    httpTimeoutMs: 400,
  });
  // Stored while the instances are still stopping the deleted router's workers.
  const early = await load(two, 20, 1000);
  const earlyCleanupsPending = 2 - Math.min(deletesLogged(one), 1) - Math.min(deletesLogged(two), 1);
  await waitUntil(() => deletesLogged(one) >= 1 && deletesLogged(two) >= 1, 30_000, "both instances applied the delete");
  // Stored after both clean-ups: the new router's consumer must still be there.
  const late = await load(one, 20, 2000);

  const acknowledged = [...early.acknowledged.keys(), ...late.acknowledged.keys()];
  await waitUntil(() => countFaults(acknowledged, healthy.stored).lost === 0, 20_000, "every statement of the new router delivered").catch(
    () => {},
  );
  const counts = countFaults(acknowledged, healthy.stored);
  const oldDelivered = [...old.acknowledged.keys()].filter((id) => healthy.stored.has(id)).length;
  const line = summaryLine(
    "router-recreate",
    counts,
    `2 instances; deleted with ${hanging.requests.length} requests hanging, ${earlyCleanupsPending} of 2 clean-ups still pending when ` +
      `${early.acknowledged.size} statements were stored for the new router, ${late.acknowledged.size} after both; ` +
      `${oldDelivered} of the deleted router's ${old.acknowledged.size} reached the new endpoint`,
  );
  t.diagnostic(line);
  assert.equal(counts.acknowledged, 40);
  assert.deepEqual(counts.lostIds, [], "the deleted router's clean-up took statements stored for the new router");
  assert.equal(counts.delivered, 40);
  assert.equal(oldDelivered, 0, "the deleted router's backlog is dropped with it, not handed to its successor");
  assert.equal(counts.unexpected, 0);
  assert.ok(earlyCleanupsPending > 0, "the early statements were stored while a clean-up was still pending");
});
