/**
 * The pure parts of the inputs: entry decoding (Avro, CloudEvent fields, JSON texts, the raw timestamp), the
 * stream key rule, the rejected copy's body, the ingest stream limits and the NATS message parsing.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { JsMsg } from "@nats-io/jetstream";
import { decodeEntry, type EntryFields } from "../src/ingest/event-bus/entry-decoding.js";
import { classifyEntries } from "../src/ingest/event-bus/entry-batch.js";
import { eventBusStreamKey } from "../src/ingest/event-bus/redis-consumer.js";
import {
  encodeTrackingLog,
  TRACKING_EVENT_TYPE,
  TRACKING_EVENT_TYPE_LEGACY,
  decodeTrackingLog,
  type TrackingLogData,
} from "../src/ingest/event-bus/tracking-log-schema.js";
import { itemsFromMessages } from "../src/ingest/nats-ingest.js";
import { redisEntryCopy } from "../src/ingest/rejected-store.js";
import { ingestNames } from "../src/nats/names.js";
import { ingestStreamConfigs } from "../src/nats/streams.js";

const LOG: TrackingLogData = {
  name: "edx.course.enrollment.activated",
  timestamp: "2023-07-10T09:23:10.354202+00:00",
  data: JSON.stringify({ course_id: "course-v1:edX+DemoX+Demo_Course", user_id: 3, mode: "audit" }),
  context: JSON.stringify({ user_id: 3, org_id: "edX", course_id: "course-v1:edX+DemoX+Demo_Course" }),
};

function fields(over: Partial<Record<string, Buffer | undefined>> = {}, log: TrackingLogData = LOG): EntryFields {
  const base: Record<string, Buffer | undefined> = {
    type: Buffer.from(TRACKING_EVENT_TYPE),
    id: Buffer.from("3f8a1c8e-5b3b-11ef-9c8a-0242ac120002"),
    source: Buffer.from("openedx/lms/web"),
    time: Buffer.from("2023-07-10T09:23:10.400000+00:00"),
    minorversion: Buffer.from("0"),
    sourcehost: Buffer.from("lms-1"),
    sourcelib: Buffer.from("9.15.0"),
    event_data: encodeTrackingLog(log),
    ...over,
  };
  return Object.fromEntries(Object.entries(base).filter(([, v]) => v !== undefined)) as EntryFields;
}

test("a tracking-log entry becomes ERB's bus event: {name, timestamp, data, context}, raw timestamp = the Avro string", () => {
  const v = decodeEntry(fields());
  assert.equal(v.kind, "event");
  if (v.kind !== "event") return;
  assert.deepEqual(Object.keys(v.event.body), ["name", "timestamp", "data", "context"]);
  assert.equal(v.event.name, LOG.name);
  assert.equal(v.event.rawTimestamp, "2023-07-10T09:23:10.354202+00:00", "hashed into statement ids exactly as sent");
  assert.deepEqual(v.event.body["data"], JSON.parse(LOG.data));
  assert.equal(v.cloudEventId, "3f8a1c8e-5b3b-11ef-9c8a-0242ac120002");
});

test("the pre-rename event type decodes the same; null data or context is left out", () => {
  const v = decodeEntry(fields({ type: Buffer.from(TRACKING_EVENT_TYPE_LEGACY) }, { ...LOG, data: "null" }));
  assert.equal(v.kind, "event");
  if (v.kind === "event") assert.deepEqual(Object.keys(v.event.body), ["name", "timestamp", "context"]);
});

test("another signal on the stream is skipped, not rejected", () => {
  assert.deepEqual(decodeEntry(fields({ type: Buffer.from("org.openedx.learning.course.enrollment.created.v1") })), {
    kind: "other_type",
    type: "org.openedx.learning.course.enrollment.created.v1",
  });
});

test("malformed entries are rejected with a reason naming what is wrong", () => {
  const reasons = [
    decodeEntry(fields({ type: undefined })),
    decodeEntry(fields({ id: undefined })),
    decodeEntry(fields({ event_data: undefined })),
    decodeEntry(fields({ event_data: Buffer.from([0x02, 0xff, 0x00]) })),
    decodeEntry(fields({ event_data: Buffer.concat([encodeTrackingLog(LOG), Buffer.from([0x00])]) })),
    decodeEntry(fields({}, { ...LOG, data: "{not json" })),
    decodeEntry(fields({}, { ...LOG, context: "[1," })),
    decodeEntry(fields({}, { ...LOG, timestamp: "" })),
    decodeEntry(fields({}, { ...LOG, name: "" })),
  ].map((v) => (v.kind === "reject" ? v.reason : `not rejected: ${v.kind}`));
  assert.match(reasons[0]!, /missing "type"/);
  assert.match(reasons[1]!, /missing "id"/);
  assert.match(reasons[2]!, /missing "event_data"/);
  assert.match(reasons[3]!, /not a TrackingLogData Avro record/);
  assert.match(
    reasons[4]!,
    /not a TrackingLogData Avro record: trailing data/,
    "a record written with another schema is refused, not half-read",
  );
  assert.match(reasons[5]!, /tracking_log\.data is not JSON/);
  assert.match(reasons[6]!, /tracking_log\.context is not JSON/);
  assert.match(reasons[7]!, /tracking_log\.timestamp: /);
  assert.match(reasons[8]!, /tracking_log\.name: /);
});

test("absurdly nested JSON is rejected instead of stopping the stream", () => {
  // No top-level timestamp, so the depth-first search for one walks the whole depth.
  const n = 100_000;
  const v = decodeEntry(fields({}, { ...LOG, timestamp: "", data: `${'{"a":'.repeat(n)}1${"}".repeat(n)}` }));
  assert.equal(v.kind, "reject");
});

test("Avro round trip: the encoder and decoder agree on openedx-events' field order", () => {
  assert.deepEqual(decodeTrackingLog(encodeTrackingLog(LOG)), LOG);
  // Schemaless: the record is the four strings, length-prefixed (zigzag varint), in schema order.
  const bytes = encodeTrackingLog({ name: "a", timestamp: "b", data: "c", context: "d" });
  assert.deepEqual([...bytes], [2, 97, 2, 98, 2, 99, 2, 100]);
});

test("stream key: <prefix>-<topic>, or the topic alone (event-bus-redis get_full_topic)", () => {
  assert.equal(eventBusStreamKey(undefined, "analytics"), "analytics");
  assert.equal(eventBusStreamKey("", "analytics"), "analytics");
  assert.equal(eventBusStreamKey("prod", "analytics"), "prod-analytics");
});

test("classifying a batch: events, rejects (with a decodable copy), other types and trimmed entries", () => {
  const classified = classifyEntries(
    [
      { id: "1-0", fields: fields() },
      { id: "2-0", fields: fields({ event_data: Buffer.from([0xff]) }) },
      { id: "3-0", fields: fields({ type: Buffer.from("x.y") }) },
      { id: "4-0", fields: undefined },
    ],
    "analytics",
  );
  assert.deepEqual(
    classified.items.map((i) => [i.kind, i.ref.sourceId]),
    [
      ["event", "1-0"],
      ["reject", "2-0"],
    ],
  );
  assert.equal(classified.otherType, 1);
  assert.deepEqual(classified.trimmed, ["4-0"]);
  const copy = JSON.parse(Buffer.from(classified.items[1]!.ref.raw).toString("utf8"));
  assert.equal(copy.fields.type, TRACKING_EVENT_TYPE);
  assert.deepEqual(Buffer.from(copy.base64_fields.event_data, "base64"), Buffer.from([0xff]));
});

test("the rejected copy keeps text fields as text and binary ones in base64", () => {
  const copy = JSON.parse(Buffer.from(redisEntryCopy({ type: Buffer.from("t"), odd: Buffer.from([0xc3, 0x28]) })).toString("utf8"));
  assert.deepEqual(copy, { fields: { type: "t" }, base64_fields: { odd: "wyg=" } });
});

test("ingest streams have byte and age limits; the ingest stream refuses new messages when full", () => {
  const [rejected, ingest] = ingestStreamConfigs(ingestNames("eventrouting"), { replicas: 1, ingest: true });
  assert.equal(rejected!.name, "EVENTROUTING_REJECTED");
  assert.deepEqual(rejected!.subjects, ["eventrouting.rejected.event-bus-redis", "eventrouting.rejected.nats"]);
  assert.ok(rejected!.max_bytes! > 0 && rejected!.max_age! > 0);
  assert.equal(ingest!.name, "EVENTROUTING_INGEST");
  assert.deepEqual(ingest!.subjects, ["eventrouting.ingest.>"]);
  assert.equal(ingest!.retention, "workqueue");
  assert.equal(ingest!.discard, "new");
  assert.ok(ingest!.max_bytes! > 0 && ingest!.max_age! > 0);
  assert.equal(ingestStreamConfigs(ingestNames("x"), { replicas: 1, ingest: false }).length, 1, "no ingest stream when the input is off");
});

test("NATS ingest messages are parsed exactly like Emit's json: either ERB shape, log prefix tolerated", () => {
  const msg = (text: string, seq: number) =>
    ({ subject: "eventrouting.ingest.lms", seq, data: Buffer.from(text), string: () => text }) as unknown as JsMsg;
  const items = itemsFromMessages([
    msg(`2023-05-23 13:53:13,461 INFO 20 [tracking] - {"name": "a", "time": "2023-05-23T13:53:13.461+00:00", "event": "{}"}`, 1),
    msg("{nope}", 2),
    msg(`{"name": "b"}`, 3),
  ]);
  assert.deepEqual(
    items.map((i) => i.kind),
    ["event", "reject", "reject"],
  );
  assert.match((items[1] as { reason: string }).reason, /invalid JSON/);
  assert.match((items[2] as { reason: string }).reason, /timestamp/);
  assert.equal(items[1]!.ref.sourceId, "2");
});
