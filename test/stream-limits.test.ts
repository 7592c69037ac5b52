/**
 * The delivery stream's size limit against a real nats-server whose JetStream storage is smaller than the default
 * limit: start-up must still work with the default (lowered, and said), and fail clearly for a limit the operator set.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats } from "../src/nats/connection.js";
import { natsNames } from "../src/nats/names.js";
import { DEFAULT_DELIVERY_MAX_BYTES, ensureStreams } from "../src/nats/streams.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";

let nats: TestNatsServer;
let nc: NatsConnection;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "er-small-store-"));
  const conf = join(dir, "nats.conf");
  // 2 GiB of JetStream file storage: the 8 GiB default cannot be reserved.
  writeFileSync(conf, "jetstream { max_file_store: 2GB }\n");
  nats = await startNatsServer({ extraArgs: ["-c", conf] });
  nc = await connectNats({ servers: nats.url });
});

after(async () => {
  await nc?.close();
  await nats?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("the default delivery limit is lowered until the server can reserve it, and the lowering is reported", async () => {
  const names = natsNames("small");
  const lowered: Array<[string, number]> = [];
  const jsm = await ensureStreams(nc, names, { replicas: 1, deliveryMaxAgeHours: 1 }, (s, b) => lowered.push([s, b]));
  const info = await jsm.streams.info(names.deliveryStream);
  assert.ok(info.config.max_bytes > 0 && info.config.max_bytes < DEFAULT_DELIVERY_MAX_BYTES, `max_bytes ${info.config.max_bytes}`);
  assert.deepEqual(lowered, [[names.deliveryStream, info.config.max_bytes]]);
  // A second instance starting against the same stream agrees without another error.
  await ensureStreams(nc, names, { replicas: 1, deliveryMaxAgeHours: 1 });
});

test("a limit the operator set that does not fit stops start-up, naming the stream and the limit", async () => {
  const names = natsNames("explicit");
  await assert.rejects(
    ensureStreams(nc, names, { replicas: 1, deliveryMaxAgeHours: 1, deliveryMaxBytes: DEFAULT_DELIVERY_MAX_BYTES }),
    (e: Error) => e.message.includes(`stream ${names.deliveryStream} with max_bytes ${DEFAULT_DELIVERY_MAX_BYTES}`),
  );
});
