/**
 * Lost or set-aside input made visible, through a real redis-server written to by the Python producer (as an
 * LMS writes) and a real nats-server: entries the LMS trimmed before they were read and entries of another type
 * are Prometheus counters; GetIngestStatus says the backlog is unknown (not "0 pending") while Redis is down; a
 * clean stop takes the instance's consumer out of the group, so rollouts leave no dead consumers behind; the NATS
 * ingest subject refuses invalid UTF-8 as Emit does.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { createClient as createRedisClient } from "@redis/client";
import { IngestAdminService, IngestInputKind, IngestInputState } from "../gen/eventrouting/v1/ingest_admin_service_pb.js";
import { createClient } from "@connectrpc/connect";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { HDR_REJECT_REASON } from "../src/ingest/rejected-store.js";
import { ERB_FIXTURES_DIR } from "./support/erb-fixtures.js";
import { freePort } from "./support/free-port.js";
import { waitUntil } from "./support/http-endpoints.js";
import { TestRedisServer } from "./support/redis-server.js";
import { adminAuth, startServiceUnderTest, type ServiceUnderTest } from "./support/service-under-test.js";

const run = promisify(execFile);
const PRODUCER = join(import.meta.dirname, "clients", "event_bus_producer.py");
const ENROLLMENT = join(ERB_FIXTURES_DIR, "raw", "edx.course.enrollment.activated.json");
const STREAM = "analytics";
const GROUP = "event_routing";

let redis: TestRedisServer;

before(async () => {
  redis = await TestRedisServer.start();
});
after(async () => {
  await redis?.close();
});

/** One command on its own connection (a test restarts Redis; a kept connection would not follow). */
async function redisCommand(args: string[]): Promise<unknown> {
  const client = await createRedisClient({ url: redis.url, RESP: 2 }).connect();
  try {
    return await client.sendCommand(args);
  } finally {
    await client.close();
  }
}

/** The group, created unless it exists (each test can run alone). */
async function ensureGroup(): Promise<void> {
  await redisCommand(["XGROUP", "CREATE", STREAM, GROUP, "$", "MKSTREAM"]).catch((e: Error) => {
    if (!/BUSYGROUP/.test(e.message)) throw e;
  });
}

async function produce(...args: string[]): Promise<void> {
  await run("/usr/bin/python3", [PRODUCER, redis.url, STREAM, ...args]);
}

function startBusInstance(consumer: string, extra: Record<string, string> = {}): Promise<ServiceUnderTest> {
  return startServiceUnderTest({
    EVENT_BUS_REDIS_CONNECTION_URL: redis.url,
    EVENT_BUS_CONSUMER_NAME: consumer,
    EVENT_BUS_CLAIM_IDLE_MS: "300",
    LOG_LEVEL: "warn",
    ...extra,
  });
}

/** Consumer names of the group (XINFO CONSUMERS). */
async function consumers(): Promise<string[]> {
  const reply = (await redisCommand(["XINFO", "CONSUMERS", STREAM, GROUP])) as unknown[][];
  return reply.map((c) => String(c[c.indexOf("name") + 1]));
}

async function busStatus(sut: ServiceUnderTest) {
  const res = await createClient(IngestAdminService, sut.transports.grpc).getIngestStatus({}, adminAuth);
  return res.inputs.find((i) => i.kind === IngestInputKind.EVENT_BUS_REDIS)!;
}

function series(text: string, name: string, input: string): number | undefined {
  const prefix = `event_routing_${name}{input="${input}"} `;
  const line = text.split("\n").find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(prefix.length));
}

test("trimmed and other-type entries are Prometheus counters per input, present from 0", async () => {
  // A consumer of the group read 5 entries and died; the LMS then trimmed the stream (MAXLEN too small for the
  // backlog): those 5 are lost before any instance could store them.
  await ensureGroup();
  await produce("bulk", ENROLLMENT, "20", "0", "100000");
  await redisCommand(["XREADGROUP", "GROUP", GROUP, "crashed-pod", "COUNT", "5", "STREAMS", STREAM, ">"]);
  await redisCommand(["XTRIM", STREAM, "MAXLEN", "0"]);
  // One entry of another CloudEvent type among malformed and good ones.
  await produce("malformed", ENROLLMENT);

  const sut = await startBusInstance("visible-1", { METRICS_PORT: String(await freePort()) });
  try {
    let text = "";
    await waitUntil(
      async () => {
        text = await (await fetch(sut.service.metricsUrl!)).text();
        return series(text, "ingest_trimmed_total", "event-bus-redis") === 5;
      },
      20_000,
      "the trimmed entries counted",
    );
    await waitUntil(async () => (await busStatus(sut)).entriesRead >= 8n, 20_000, "the malformed set read");
    text = await (await fetch(sut.service.metricsUrl!)).text();
    assert.equal(series(text, "ingest_skipped_other_type_total", "event-bus-redis"), 1);
    // The NATS input lost nothing: its series exist at 0, so increase() sees its first loss too.
    assert.equal(series(text, "ingest_trimmed_total", "nats"), 0);
    assert.equal(series(text, "ingest_skipped_other_type_total", "nats"), 0);
    assert.match(text, /^# TYPE event_routing_ingest_trimmed_total counter$/m);
    const status = await busStatus(sut);
    assert.equal(status.trimmed, 5n, "the same number GetIngestStatus reports");
    assert.equal(status.skippedOtherType, 1n);
  } finally {
    await sut.close();
  }
});

test("GetIngestStatus: the backlog is unknown while Redis is down, never 0 pending", async () => {
  const sut = await startBusInstance("visible-2");
  try {
    await waitUntil(async () => (await busStatus(sut)).state === IngestInputState.SERVING, 20_000, "serving");
    assert.equal((await busStatus(sut)).backlogUnknown, false);
    await redis.stop();
    await waitUntil(async () => (await busStatus(sut)).state === IngestInputState.NOT_SERVING, 20_000, "NOT_SERVING");
    const down = await busStatus(sut);
    assert.equal(down.backlogUnknown, true, "pending 0 would read as nothing waiting");
    await redis.restart();
    await waitUntil(async () => (await busStatus(sut)).state === IngestInputState.SERVING, 30_000, "serving again");
    assert.equal((await busStatus(sut)).backlogUnknown, false);
  } finally {
    await sut.close();
  }
});

test("a clean stop removes the instance's consumer from the group; one with pending entries stays", async () => {
  // Another consumer holding an entry: not this instance's to remove.
  await ensureGroup();
  await produce("bulk", ENROLLMENT, "1", "100", "100000");
  await redisCommand(["XREADGROUP", "GROUP", GROUP, "holder", "COUNT", "1", "STREAMS", STREAM, ">"]);
  // Three rollouts, each pod under a new name (the default name is the host name).
  const pods = ["pod-a", "pod-b", "pod-c"];
  for (const [i, name] of pods.entries()) {
    const sut = await startBusInstance(name, { EVENT_BUS_CLAIM_IDLE_MS: "3600000" });
    await produce("bulk", ENROLLMENT, "3", String(200 + 10 * i), "100000");
    await waitUntil(async () => (await busStatus(sut)).entriesRead >= 3n, 20_000, `${name} read its entries`);
    assert.ok((await consumers()).includes(name), `${name} is in the group while it runs`);
    await sut.close();
  }
  const left = await consumers();
  for (const name of pods) assert.ok(!left.includes(name), `${name} removed on its clean stop (${left})`);
  assert.ok(left.includes("holder"), "a consumer with pending entries is kept");
});

test("NATS ingest refuses invalid UTF-8 as Emit does: rejected with the reason, not stored with U+FFFD", async () => {
  const sut = await startServiceUnderTest({ LOG_LEVEL: "warn" });
  try {
    const event = { ...(JSON.parse(readFileSync(ENROLLMENT, "utf8")) as object), timestamp: "2033-03-03T00:00:00.000001+00:00" };
    const text = JSON.stringify({ ...event, note: "a?b" });
    // The "?" replaced by a byte that is never valid UTF-8: the JSON is otherwise fine.
    const bad = Buffer.from(text, "utf8");
    bad[bad.indexOf("a?b") + 1] = 0xff;
    const js = jetstream(sut.service.nc);
    await js.publish("eventrouting.ingest.lms", bad);
    await js.publish("eventrouting.ingest.lms", JSON.stringify(event));
    const natsInput = async () =>
      (await createClient(IngestAdminService, sut.transports.grpc).getIngestStatus({}, adminAuth)).inputs.find(
        (i) => i.kind === IngestInputKind.NATS,
      )!;
    await waitUntil(async () => (await natsInput()).entriesRead === 2n && (await natsInput()).pending === 0n, 20_000, "both read");
    const s = await natsInput();
    assert.equal(s.rejected, 1n, "the invalid message is rejected");
    const jsm = await jetstreamManager(sut.service.nc);
    const copy = await jsm.streams.getMessage("EVENTROUTING_REJECTED", { last_by_subj: "eventrouting.rejected.nats" });
    assert.match(copy!.header.get(HDR_REJECT_REASON), /^message\.json: not valid UTF-8/);
    assert.deepEqual(Buffer.from(copy!.data).subarray(0, bad.length), bad, "the copy keeps the bytes as sent");
  } finally {
    await sut.close();
  }
});
