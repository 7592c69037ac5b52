import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { jetstream } from "@nats-io/jetstream";
import { connectNats } from "../src/nats/connection.js";
import { natsNames } from "../src/nats/names.js";
import { ensureStreams } from "../src/nats/streams.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";

let nats: TestNatsServer;
before(async () => {
  nats = await startNatsServer();
});
after(async () => {
  await nats.stop();
});

test("streams are provisioned idempotently and survive a server crash", async () => {
  const nc = await connectNats({ servers: nats.url });
  const names = natsNames("ertest");
  await ensureStreams(nc, names, { replicas: 1, deliveryMaxAgeHours: 1 });
  const jsm = await ensureStreams(nc, names, { replicas: 1, deliveryMaxAgeHours: 1 });
  const js = jetstream(nc);
  const ack = await js.publish(names.deliverSubject("r1"), "x", { msgID: names.deliveryMsgId("r1", "s1") });
  assert.equal(ack.stream, "ERTEST_DELIVERY");
  const reconnected = (async () => {
    for await (const s of nc.status()) if (s.type === "reconnect") return;
  })();
  await nats.restart({ crash: true });
  await reconnected;
  const dup = await js.publish(names.deliverSubject("r1"), "x", { msgID: names.deliveryMsgId("r1", "s1") });
  assert.equal(dup.duplicate, true, "dedupe window survives a crash");
  const info = await jsm.streams.info(names.deliveryStream);
  assert.equal(info.state.messages, 1);
  await nc.close();
});

test("instances starting at the same moment both provision the streams", async () => {
  const [a, b] = await Promise.all([connectNats({ servers: nats.url }), connectNats({ servers: nats.url })]);
  const names = natsNames("racetest");
  await Promise.all([
    ensureStreams(a, names, { replicas: 1, deliveryMaxAgeHours: 1 }),
    ensureStreams(b, names, { replicas: 1, deliveryMaxAgeHours: 1 }),
  ]);
  const jsm = await ensureStreams(a, names, { replicas: 1, deliveryMaxAgeHours: 2 });
  const info = await jsm.streams.info(names.deliveryStream);
  assert.equal(info.config.max_age, 2 * 3_600_000 * 1_000_000, "a later start updates the configuration");
  await Promise.all([a.close(), b.close()]);
});
