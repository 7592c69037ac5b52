/**
 * The fault suite's load generator against a real service: it must read outcomes the way the contract says a
 * careful client does. A call whose statements were stored but whose answer was lost (the service died between
 * the PubAck and the answer) is retried, and the retry's DUPLICATE acknowledges those statements; a DUPLICATE on a
 * first attempt is still a failure, because the generator's events were never sent before.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { EventInputSchema } from "../gen/eventrouting/v1/event_pb.js";
import type { EventRoutingService } from "../gen/eventrouting/v1/event_routing_service_pb.js";
import { faultEvents, LoadGenerator, type FaultEvent } from "./support/fault-load.js";
import { createScenarioRouter } from "./support/fault-rpc.js";
import { FaultEndpoint } from "./support/http-endpoints.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";
import { authed, ServiceProcess } from "./support/service-process.js";

const ROUTER = "load-contract";
let nats: TestNatsServer;
let svc: ServiceProcess;
let endpoint: FaultEndpoint;

before(async () => {
  nats = await startNatsServer();
  endpoint = await FaultEndpoint.start(() => ({}));
  svc = await ServiceProcess.start(nats.url);
  await createScenarioRouter(svc.clients(), ROUTER, endpoint.url, "loadcontract", {
    batchSize: 20,
    batchIntervalMs: 50,
    maxRetries: 5,
    countdownMs: 1000,
    httpTimeoutMs: 500,
  });
});

after(async () => {
  await svc?.stop();
  await endpoint?.close();
  await nats?.stop();
});

async function store(events: readonly FaultEvent[]): Promise<void> {
  const inputs = events.map((e) => create(EventInputSchema, { event: { case: "json", value: e.json } }));
  await svc.clients().events.emitBatch({ events: inputs }, authed);
}

/**
 * The service's real client, except that the first EmitBatch's answer is lost after the service stored the batch:
 * what a client sees when the service is killed between the PubAck and the answer.
 */
function answerLostOnce(): Client<typeof EventRoutingService> {
  const real = svc.clients().events;
  let lost = false;
  return new Proxy(real, {
    get(target, key, receiver) {
      if (key !== "emitBatch") return Reflect.get(target, key, receiver);
      return async (...args: Parameters<typeof real.emitBatch>) => {
        const answer = await target.emitBatch(...args);
        if (lost) return answer;
        lost = true;
        throw new ConnectError("the answer was lost with the connection", Code.Unavailable);
      };
    },
  });
}

test("a retried batch answered DUPLICATE counts as acknowledged (its first attempt stored it, the answer was lost)", async () => {
  const events = faultEvents("loadcontract", 30, { offset: 0 });
  const client = answerLostOnce();
  const load = LoadGenerator.start({ client: () => client, events, batchSize: 30, routerId: ROUTER, deadlineMs: 20_000 });
  await load.finished;
  assert.deepEqual(
    load.calls.map((c) => c.code),
    ["Unavailable", "OK"],
    "one lost answer, then the retry",
  );
  assert.deepEqual(load.notPublished, []);
  assert.equal(load.acknowledged.size, events.length, "every statement of the retried batch is acknowledged");
});

test("a DUPLICATE on a first attempt is not an acknowledgement: those events were never sent before", async () => {
  const events = faultEvents("loadcontract", 10, { offset: 1000 });
  await store(events);
  const load = LoadGenerator.start({
    client: () => svc.clients().events,
    events,
    batchSize: 10,
    routerId: ROUTER,
    deadlineMs: 20_000,
  });
  await load.finished;
  assert.equal(load.acknowledged.size, 0);
  assert.equal(load.notPublished.length, events.length);
  for (const line of load.notPublished) assert.match(line, /: DUPLICATE /);
});
