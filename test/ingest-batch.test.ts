/**
 * The batch step both inputs share, on a real nats-server: good events stored with one publish, malformed
 * ones (and one the emit path throws on) copied to the rejected stream, and a storage failure surfacing as
 * UnavailableError so the caller acknowledges nothing.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Outcome } from "../gen/eventrouting/v1/event_pb.js";
import { UnavailableError } from "../src/errors.js";
import type { PipelineDeps } from "../src/ingest/emit-pipeline.js";
import { ingestBatchOnce, type IngestDeps, type IngestItem } from "../src/ingest/ingest-batch.js";
import { HDR_INGEST_ID, HDR_REJECT_REASON, RejectedStore } from "../src/ingest/rejected-store.js";
import { ingestNames, natsNames } from "../src/nats/names.js";
import { ensureIngestStreams } from "../src/nats/streams.js";
import { StatementPublisher } from "../src/routing/statement-publisher.js";
import { eventFromObject } from "../src/transform/edx-event.js";
import { TransformerRegistry } from "../src/transform/registry.js";
import { makeRouter, MemoryRouterSource } from "./support/delivery-harness.js";
import { startJetStream, type TestNatsServer } from "./support/nats-server.js";

const names = natsNames("batchtest");
const ingest = ingestNames("batchtest");
let nats: TestNatsServer;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;

before(async () => {
  ({ nats, nc, js, jsm } = await startJetStream(names));
  await ensureIngestStreams(jsm, ingest, { replicas: 1, ingest: false });
});
after(async () => {
  await nc.close();
  await nats.stop();
});

const mapping = { verb: "v", objectType: "o", objectId: "i", result: "" };
const registry = new TransformerRegistry("xapi")
  .register(["ok.event"], "test", mapping, (e) => [{ id: `id-${e.rawTimestamp}`, object: { id: "http://x/1" } }])
  .register(["boom.event"], "test", mapping, () => {
    throw new TypeError("Cannot read properties of undefined (reading 'x')");
  });

function deps(streamName = names.deliveryStream): IngestDeps {
  const routers = new MemoryRouterSource();
  routers.put(makeRouter("r1", "http://127.0.0.1:9/lrs"));
  const pipeline: PipelineDeps = {
    settings: { lmsRootUrl: "http://lms", transformerVersion: "t", agentIfiType: "external_id" },
    backends: [{ backend: "xapi", enabled: true, filter: { kind: "all" }, registry }],
    directories: { identities: { resolve: async () => undefined }, courses: { courseName: async () => undefined } },
    routers,
    names,
  };
  return {
    source: "nats",
    pipeline,
    publisher: new StatementPublisher(js, { timeoutMs: 1000, streamName }),
    rejected: new RejectedStore(js, ingest, { timeoutMs: 1000 }),
  };
}

const ref = (id: string) => ({ origin: "batchtest.ingest.t", sourceId: id, raw: Buffer.from(`raw ${id}`) });
const event = (id: string, name: string, timestamp: string): IngestItem => ({
  kind: "event",
  ref: ref(id),
  event: eventFromObject({ name, timestamp }),
});

async function count(stream: string, subject: string): Promise<number> {
  const info = await jsm.streams.info(stream, { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

test("one batch: good events stored, a malformed one and one the emit path throws on are rejected with reasons", async () => {
  const items: IngestItem[] = [
    event("1", "ok.event", "2024-01-01T00:00:00.000001+00:00"),
    event("2", "boom.event", "2024-01-01T00:00:00.000002+00:00"),
    { kind: "reject", ref: ref("3"), reason: "invalid JSON" },
    event("4", "ok.event", "2024-01-01T00:00:00.000004+00:00"),
  ];
  const tally = await ingestBatchOnce(items, deps());
  // The event a transformer throws on is isolated (SKIPPED) and its input kept in the rejected stream.
  assert.deepEqual(
    [...tally.outcomes],
    [
      [Outcome.PUBLISHED, 2],
      [Outcome.SKIPPED, 1],
    ],
  );
  assert.equal(tally.statements, 2);
  assert.equal(tally.rejected, 2);
  assert.equal(await count(names.deliveryStream, names.deliverSubject("r1")), 2);
  assert.equal(await count(ingest.rejectedStream, ingest.rejectedSubject("nats")), 2);
  const copies = await Promise.all([1, 2].map((seq) => jsm.streams.getMessage(ingest.rejectedStream, { seq })));
  const boom = copies.find((m) => m?.header.get(HDR_INGEST_ID) === "2");
  assert.match(
    boom!.header.get(HDR_REJECT_REASON),
    /the xapi transformer for "boom\.event" failed on this event.*: Cannot read properties/,
  );
  assert.equal(boom!.string(), "raw 2", "the copy is the input as received");

  assert.equal(tally.duplicates, 0);
  // Processed again (a crash before the ack): nothing is stored twice, and the tally says so.
  const again = await ingestBatchOnce(items, deps());
  assert.equal(again.statements, 0, "statements already held are not reported as stored");
  assert.equal(again.duplicates, 2);
  assert.equal(await count(names.deliveryStream, names.deliverSubject("r1")), 2);
  assert.equal(await count(ingest.rejectedStream, ingest.rejectedSubject("nats")), 2);
});

test("when JetStream does not confirm, the batch fails as a whole (the caller acknowledges nothing)", async () => {
  const items = [
    event("9", "ok.event", "2024-01-01T00:00:00.000009+00:00"),
    { kind: "reject", ref: ref("10"), reason: "bad" } as IngestItem,
  ];
  await assert.rejects(ingestBatchOnce(items, deps("NO_SUCH_STREAM")), UnavailableError);
  assert.equal(await count(ingest.rejectedStream, ingest.rejectedSubject("nats")), 2, "no rejected copy stored either");
});
