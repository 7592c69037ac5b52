/**
 * The statement publisher (on the one JetStream writer: plain publishes, one ack subscription, one timer per call;
 * the nats.js internals it relies on are guarded in test/jetstream-writer.test.ts) against a real nats-server:
 * what js.publish used to guarantee per message must still hold — the stored message carries the msg id and
 * delivery headers, duplicates are reported per message and in order, a JetStream error or a missing ack fails
 * the whole call with UnavailableError, and concurrent calls never see each other's acks. Calls of one event-loop
 * turn are written together, so a connection that refuses the write must fail those calls, not the process.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, test } from "node:test";
import { jetstream, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { ensureStreams } from "../src/nats/streams.js";
import { UnavailableError } from "../src/errors.js";
import { natsNames } from "../src/nats/names.js";
import type { RouterConfig } from "../src/routing/router-model.js";
import { StatementPublisher } from "../src/routing/statement-publisher.js";
import { deliveryMessages } from "../src/routing/statement-routing.js";
import { startJetStream, startNatsServer, type TestNatsServer } from "./support/nats-server.js";

const names = natsNames("pubtest");
let nats: TestNatsServer;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;

before(async () => {
  ({ nats, nc, js, jsm } = await startJetStream(names));
});
after(async () => {
  await nc.close();
  await nats.stop();
});

const router = (id: string) => ({ id, enabled: true, backend: "xapi", overrideArgs: {} }) as unknown as RouterConfig;
const event = { body: {}, name: "edx.test.event", rawTimestamp: "t" };
const messages = (routerId: string, ids: readonly string[]) =>
  deliveryMessages(
    names,
    "xapi",
    event,
    ids.map((id) => ({ id, verb: { id: "v" } })),
    [router(routerId)],
  );

test("stores each message with its msg id and delivery headers; a repeated id is reported as a duplicate, in order", async () => {
  const publisher = new StatementPublisher(js, { timeoutMs: 5000, streamName: names.deliveryStream });
  assert.deepEqual(await publisher.publish(messages("pub-a", ["s1", "s2"])), [false, false]);
  assert.deepEqual(await publisher.publish(messages("pub-a", ["s3", "s1", "s4", "s2"])), [false, true, false, true]);
  const stored = await jsm.streams.getMessage(names.deliveryStream, { last_by_subj: names.deliverSubject("pub-a") });
  assert.equal(stored?.header.get("Nats-Msg-Id"), "pub-a:s4");
  assert.equal(stored?.header.get("Er-Statement-Id"), "s4");
  assert.equal(stored?.header.get("Er-Router-Id"), "pub-a");
  assert.deepEqual(stored?.json(), { id: "s4", verb: { id: "v" } });
});

test("concurrent calls each get their own acks", async () => {
  const publisher = new StatementPublisher(js, { timeoutMs: 5000, streamName: names.deliveryStream });
  await publisher.publish(messages("pub-b", ["d1"]));
  const [a, b] = await Promise.all([
    publisher.publish(messages("pub-b", ["d1", "n1", "n2"])),
    publisher.publish(messages("pub-b", ["n3", "d1"])),
  ]);
  assert.deepEqual(a, [true, false, false]);
  assert.deepEqual(b, [false, true]);
});

test("a JetStream error (the subject is in another stream than expected) fails the call with its reason", async () => {
  const publisher = new StatementPublisher(js, { timeoutMs: 5000, streamName: "NOT_THE_STREAM" });
  await assert.rejects(publisher.publish(messages("pub-c", ["x1", "x2"])), (e: unknown) => {
    assert.ok(e instanceof UnavailableError);
    assert.match(e.message, /did not confirm 2 of 2 publishes \(.*stream.*\)/i);
    return true;
  });
});

test("no ack within the timeout (no stream listens on the subject) fails the call; nothing is reported stored", async () => {
  const publisher = new StatementPublisher(js, { timeoutMs: 500, streamName: names.deliveryStream });
  const orphan = messages("pub-d", ["o1"]).map((m) => ({ ...m, subject: "nowhere.at.all" }));
  await assert.rejects(
    publisher.publish(orphan),
    (e: unknown) => e instanceof UnavailableError && /did not confirm 1 of 1/.test(e.message),
  );
});

test("many calls of one turn, written together, each get their own outcome", async () => {
  const publisher = new StatementPublisher(js, { timeoutMs: 5000, streamName: names.deliveryStream });
  await publisher.publish(messages("pub-e", ["e0"]));
  const calls = Array.from({ length: 40 }, (_, i) => publisher.publish(messages("pub-e", [`e${i + 1}`, "e0"])));
  assert.deepEqual(
    await Promise.all(calls),
    Array.from({ length: 40 }, () => [false, true]),
  );
});

test("a closed connection fails the calls queued for the write with UnavailableError; the process carries on", async () => {
  const closing = await connect({ servers: nats.url });
  const publisher = new StatementPublisher(jetstream(closing), { timeoutMs: 5000, streamName: names.deliveryStream });
  await publisher.publish(messages("pub-f", ["f1"]));
  await closing.close();
  const both = [publisher.publish(messages("pub-f", ["f2"])), publisher.publish(messages("pub-f", ["f3", "f4"]))];
  for (const call of both) {
    await assert.rejects(
      call,
      (e: unknown) => e instanceof UnavailableError && /did not confirm \d of \d publishes \(.*closed/i.test(e.message),
    );
  }
});

/** A pino logger into memory. */
function memoryLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const text of chunk.toString("utf8").split("\n").filter(Boolean)) lines.push(JSON.parse(text) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: "info" }, sink), lines };
}

test("a server that ends the ack subscription (permissions): logged at error, calls fail at once with the reason, every call subscribes again", async () => {
  // nats-server 2.9 cannot reload permissions while JetStream's store dir comes from the command line, so the
  // subscription is refused from the start; each call then shows that the publisher tried again.
  const dir = mkdtempSync(join(tmpdir(), "er-pub-perm-"));
  const conf = join(dir, "nats.conf");
  writeFileSync(
    conf,
    `authorization { users = [
      { user: admin, password: admin-password-0123456789 }
      { user: pub, password: pub-password-0123456789, permissions: { subscribe: { deny: "_INBOX.>" } } }
    ] }\n`,
  );
  const server = await startNatsServer({ extraArgs: ["-c", conf] });
  const admin = await connect({ servers: server.url, user: "admin", pass: "admin-password-0123456789" });
  const pubNc = await connect({ servers: server.url, user: "pub", pass: "pub-password-0123456789" });
  const log = memoryLogger();
  try {
    await ensureStreams(admin, names, { replicas: 1, deliveryMaxAgeHours: 1 });
    // A long ack timeout: before, each call waited all of it and said only "no PubAck within the timeout".
    const publisher = new StatementPublisher(jetstream(pubNc), { timeoutMs: 30_000, streamName: names.deliveryStream, logger: log.logger });
    for (const id of ["h1", "h2"]) {
      const start = Date.now();
      await assert.rejects(publisher.publish(messages("pub-h", [id])), (e: unknown) => {
        assert.ok(e instanceof UnavailableError);
        assert.match(e.message, /PubAck subscription failed: .*Permissions Violation for Subscription/i);
        return true;
      });
      assert.ok(Date.now() - start < 15_000, "the call failed when the subscription did, not at its timeout");
    }
    const errors = log.lines.filter((l) => l["level"] === 50 && /PubAck subscription failed/.test(String(l["msg"])));
    assert.ok(errors.length >= 1, "the failure is logged at error");
    assert.match(JSON.stringify(errors[0]!["err"]), /Permissions Violation/i);
  } finally {
    await pubNc.close();
    await admin.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
