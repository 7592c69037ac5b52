/**
 * The rejected stream read and purged through the product: ListRejected / PurgeRejected on a real service (its
 * NATS ingest input rejects what real publishes send it) and `rejected list|purge` as an operator runs it (the
 * CLI in a child process). Nothing here reads the stream with NATS directly: what the operator sees is the test.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { IngestAdminService } from "../gen/eventrouting/v1/ingest_admin_service_pb.js";
import { connectNats } from "../src/nats/connection.js";
import { waitUntil } from "./support/http-endpoints.js";
import { ADMIN_TOKEN, adminAuth, emitAuth, startServiceUnderTest, type ServiceUnderTest } from "./support/service-under-test.js";
import { runCli } from "./support/entrypoints.js";

let sut: ServiceUnderTest;
let nc: NatsConnection;
let ingest: Client<typeof IngestAdminService>;
const startedAt = Date.now();

before(async () => {
  sut = await startServiceUnderTest({});
  nc = await connectNats({ servers: sut.nats.url });
  ingest = createClient(IngestAdminService, sut.transports.grpc);
  const js = jetstream(nc);
  // Three malformed inputs: invalid JSON, an event without its required fields, bytes that are not UTF-8.
  await js.publish("eventrouting.ingest.lms", "{nope}");
  await js.publish("eventrouting.ingest.lms", JSON.stringify({ name: "edx.course.enrollment.activated" }));
  await js.publish("eventrouting.ingest.replay", new Uint8Array([0xff, 0xfe, 0x00]));
  await waitUntil(async () => (await ingest.listRejected({}, adminAuth)).rejected.length === 3, 20_000, "three rejected copies");
});

after(async () => {
  await nc?.close();
  await sut?.close();
});

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCli(args, { ...process.env, EVENT_ROUTING_URL: sut.baseUrl, EVENT_ROUTING_TOKEN: ADMIN_TOKEN });
}

test("ListRejected shows each copy's input, reason, source and time, oldest first; binary input stays bytes", async () => {
  const { rejected, nextPageToken } = await ingest.listRejected({}, adminAuth);
  assert.equal(nextPageToken, "");
  assert.deepEqual(
    rejected.map((r) => r.source),
    ["nats", "nats", "nats"],
  );
  assert.ok(rejected[0]!.id < rejected[1]!.id && rejected[1]!.id < rejected[2]!.id, "oldest first");
  assert.deepEqual(rejected[0]!.input, { case: "inputText", value: "{nope}" });
  assert.match(rejected[0]!.reason, /JSON/i);
  assert.equal(rejected[0]!.origin, "eventrouting.ingest.lms");
  assert.match(rejected[0]!.sourceId, /^\d+$/, "the ingest stream sequence");
  assert.match(rejected[1]!.reason, /./);
  assert.equal(rejected[2]!.input.case, "inputBytes");
  assert.deepEqual([...(rejected[2]!.input.value as Uint8Array)], [0xff, 0xfe, 0x00]);
  assert.equal(rejected[2]!.origin, "eventrouting.ingest.replay");
  for (const r of rejected) {
    const t = Number(r.rejectedTime!.seconds) * 1000;
    assert.ok(t >= startedAt - 1000 && t <= Date.now() + 1000, `time ${t} within the test`);
  }
});

test("ListRejected pages with its tokens, filters by source, and names a bad field", async () => {
  const first = await ingest.listRejected({ pageSize: 2 }, adminAuth);
  assert.equal(first.rejected.length, 2);
  assert.notEqual(first.nextPageToken, "");
  const second = await ingest.listRejected({ pageSize: 2, pageToken: first.nextPageToken }, adminAuth);
  assert.equal(second.rejected.length, 1);
  assert.equal(second.nextPageToken, "");
  assert.equal((await ingest.listRejected({ source: "event-bus-redis" }, adminAuth)).rejected.length, 0);
  await assert.rejects(ingest.listRejected({ pageToken: "made-up" }, adminAuth), (e: unknown) => {
    const ce = ConnectError.from(e);
    return ce.code === Code.InvalidArgument && /^page_token: /.test(ce.rawMessage);
  });
  await assert.rejects(ingest.listRejected({ source: "kafka" }, adminAuth), (e: unknown) => {
    const ce = ConnectError.from(e);
    return ce.code === Code.InvalidArgument && /^source: .*event-bus-redis/.test(ce.rawMessage);
  });
  await assert.rejects(ingest.purgeRejected({}, adminAuth), (e: unknown) => ConnectError.from(e).code === Code.InvalidArgument);
});

test("ListRejected and PurgeRejected are admin-only", async () => {
  for (const call of [ingest.listRejected({}, emitAuth), ingest.purgeRejected({ all: true }, emitAuth)]) {
    await assert.rejects(call, (e: unknown) => ConnectError.from(e).code === Code.PermissionDenied);
  }
  assert.equal((await ingest.listRejected({}, adminAuth)).rejected.length, 3, "nothing purged by the refused call");
});

test("rejected list as a table and as JSON; --help lists the flags", async () => {
  const list = await cli(["rejected", "list"]);
  assert.equal(list.code, 0, list.stderr);
  const lines = list.stdout.trimEnd().split("\n");
  assert.match(lines[0]!, /^ID\s+TIME\s+SOURCE\s+SOURCE_ID\s+REASON\s+INPUT$/);
  assert.equal(lines.length, 4);
  assert.match(lines[1]!, /^\d+\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+nats\s+\d+\s+.*\{nope\}$/);
  assert.match(lines[3]!, /base64:\/\/4A$/);
  const json = await cli(["rejected", "list", "--json", "--limit", "2"]);
  assert.equal(json.code, 0, json.stderr);
  const rows = JSON.parse(json.stdout) as Array<{ id: string; inputText?: string; reason: string; rejectedTime: string }>;
  assert.equal(rows.length, 2);
  assert.equal(rows[0]!.inputText, "{nope}");
  assert.match(rows[0]!.rejectedTime, /Z$/);
  const none = await cli(["rejected", "list", "--source", "event-bus-redis"]);
  assert.equal(none.stdout.trimEnd().split("\n").length, 1, "only the header");
  const help = await cli(["rejected", "list", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--source NAME/);
  assert.match(help.stdout, /EVENT_ROUTING_TOKEN/);
  const bad = await cli(["rejected", "list", "--source", "kafka"]);
  assert.equal(bad.code, 5);
  assert.match(bad.stderr, /^refused: source: /);
});

test("rejected purge: refused without --yes, one id, a gone id is not found (exit 2), then --all", async () => {
  const ids = (await ingest.listRejected({}, adminAuth)).rejected.map((r) => String(r.id));
  const noYes = await cli(["rejected", "purge", ids[0]!]);
  assert.equal(noYes.code, 1);
  assert.match(noYes.stderr, /--yes/);
  assert.equal((await ingest.listRejected({}, adminAuth)).rejected.length, 3);
  const one = await cli(["rejected", "purge", ids[0]!, "--yes"]);
  assert.equal(one.code, 0, one.stderr);
  assert.equal(one.stdout, "purged 1\n");
  const again = await cli(["rejected", "purge", ids[0]!, "--yes"]);
  assert.equal(again.code, 2, again.stderr);
  assert.match(again.stdout, /purged 0; not found: /);
  const all = await cli(["rejected", "purge", "--all", "--yes"]);
  assert.equal(all.code, 0, all.stderr);
  assert.equal(all.stdout, "purged 2\n");
  assert.deepEqual((await ingest.listRejected({}, adminAuth)).rejected, []);
});
