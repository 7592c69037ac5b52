/**
 * Fault suite: exhausted statements are kept, and the failed stream stays bounded. An endpoint that is down
 * exhausts every statement; the failed stream's limit (FAILED_MAX_BYTES) is far below what they take. Every
 * critical statement stays in the failed stream; of the others, the oldest are discarded until the stream fits,
 * each logged with its id and counted (GetRouterStatus `discarded`), and the ones kept are the newest.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats } from "../src/nats/connection.js";
import { natsNames } from "../src/nats/names.js";
import { countFaults, CRITICAL_EVENT, faultEvents, LoadGenerator, summaryLine } from "./support/fault-load.js";
import { createScenarioRouter, failedIds, routerIdle } from "./support/fault-rpc.js";
import { FaultEndpoint, waitUntil } from "./support/http-endpoints.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";
import { authed, ServiceProcess } from "./support/service-process.js";

const LIMIT = 300_000;
const ROUTER = "bound";
const KEPT_MSG = "non-critical statements exhausted their attempts; kept in the failed stream";

let nats: TestNatsServer;
let nc: NatsConnection;
let svc: ServiceProcess;
let down: FaultEndpoint;

before(async () => {
  nats = await startNatsServer();
  nc = await connectNats({ servers: nats.url });
  svc = await ServiceProcess.start(nats.url, { FAILED_MAX_BYTES: String(LIMIT) });
  down = await FaultEndpoint.start();
  await down.close(); // connection refused from the first attempt
});

after(async () => {
  await svc?.stop();
  await nc?.close();
  await nats?.stop();
});

test("fault failed-bound: every exhausted statement kept; over FAILED_MAX_BYTES the oldest non-critical ones are discarded (logged, counted), critical ones never", {
  timeout: 90_000,
}, async (t) => {
  await createScenarioRouter(svc.clients(), ROUTER, `${down.url}/xapi`, ROUTER, {
    batchSize: 20,
    batchIntervalMs: 50,
    maxRetries: 0,
    countdownMs: 300,
    httpTimeoutMs: 200,
  });
  const g = LoadGenerator.start({
    client: () => svc.clients().events,
    events: faultEvents(ROUTER, 400, { criticalEvery: 4 }),
    batchSize: 50,
    routerId: ROUTER,
    deadlineMs: 30_000,
  });
  await g.finished;
  assert.deepEqual(g.notPublished, []);
  const c = svc.clients();
  const critical = new Set([...g.acknowledged].filter(([, name]) => name === CRITICAL_EVENT).map(([id]) => id));
  const account = async () => countFaults(g.acknowledged.keys(), down.stored, await failedIds(c, ROUTER), svc.droppedIds(ROUTER));
  await waitUntil(async () => (await account()).lost === 0 && (await routerIdle(c, ROUTER)), 45_000, "every statement kept or discarded");
  const jsm = await jetstreamManager(nc);
  const failedStream = natsNames().failedStream;
  await waitUntil(async () => (await jsm.streams.info(failedStream)).state.bytes <= LIMIT, 10_000, "the failed stream trimmed");

  const counts = await account();
  const kept = await failedIds(c, ROUTER);
  const discarded = svc.droppedIds(ROUTER);
  const { state } = await jsm.streams.info(failedStream);
  const [status] = (await c.admin.getRouterStatus({ id: ROUTER }, authed)).statuses;
  t.diagnostic(
    summaryLine(
      "failed-bound",
      counts,
      `FAILED_MAX_BYTES ${LIMIT}; failed stream ${state.bytes} bytes, ${state.messages} entries: ${critical.size} critical, ` +
        `${kept.size - critical.size} newest non-critical; ${discarded.size} oldest non-critical discarded and logged`,
    ),
  );
  assert.equal(counts.acknowledged, 400);
  assert.deepEqual(counts.lostIds, []);
  assert.ok(
    [...critical].every((id) => kept.has(id)),
    "no critical statement is ever discarded",
  );
  assert.ok(discarded.size > 0, "the limit was reached and statements were discarded");
  assert.ok(kept.size > critical.size, "non-critical statements are kept while they fit");
  assert.ok([...discarded].every((id) => !critical.has(id) && !kept.has(id)));
  assert.equal(status?.discarded, BigInt(discarded.size), "each discard counted");
  // Oldest first: in the order they were stored (the worker's log lines), every discarded one precedes every kept one.
  const order = svc.lines.filter((l) => l.msg === KEPT_MSG && l["routerId"] === ROUTER).flatMap((l) => l["statementIds"] as string[]);
  assert.equal(order.length, 400 - critical.size, "each non-critical statement was first kept in the failed stream");
  const lastDiscarded = Math.max(...[...discarded].map((id) => order.indexOf(id)));
  const firstKept = Math.min(...order.filter((id) => kept.has(id)).map((id) => order.indexOf(id)));
  assert.ok(lastDiscarded < firstKept, `oldest first (last discarded #${lastDiscarded}, first kept #${firstKept})`);
});
