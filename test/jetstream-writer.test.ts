/**
 * The one JetStream writer against a real nats-server. Its opening comment names the nats.js version it is pinned
 * to and the internals it relies on; these tests guard both, so an upgrade of @nats-io/* fails here first:
 * - the installed packages are the pinned version;
 * - a header block encoded by the caller reaches the stream as it is (publish only calls encode() on headers);
 * - jetStreamWriter(js) finds the client's connection and timeout;
 * - PubAcks are read right: sequence, duplicate, JetStream's error (as the refusal behind UnavailableError), no
 *   responders, and a missing ack;
 * and the writer's own rules: key/value headers get the msg id and expected stream without the caller's headers
 * changing, per-message outcomes, and a bounded retry that sends only what was not confirmed and never repeats a
 * refusal.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { jetstream, JetStreamApiError, type JetStreamManager } from "@nats-io/jetstream";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { Backoff } from "../src/backoff.js";
import { UnavailableError } from "../src/errors.js";
import { isPermanentJetStreamError } from "../src/nats/jetstream-errors.js";
import { JetStreamWriter, jetStreamWriter, type JetStreamMessage } from "../src/nats/jetstream-writer.js";
import { natsNames } from "../src/nats/names.js";
import { startJetStream, type TestNatsServer } from "./support/nats-server.js";

const STREAM = "WRITERTEST";
let nats: TestNatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;

before(async () => {
  ({ nats, nc, jsm } = await startJetStream(natsNames("writertest")));
  await jsm.streams.add({ name: STREAM, subjects: ["writer.>"] });
});
after(async () => {
  await nc.close();
  await nats.stop();
});

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Counts the messages published on `subject`; `reply` answers the n-th (1-based) one, if it returns a body. */
function listen(subject: string, reply: (n: number) => string | undefined = () => undefined): { count(): number } {
  let n = 0;
  nc.subscribe(subject, {
    callback: (_err, m) => {
      const body = reply(++n);
      if (body !== undefined) m.respond(bytes(body));
    },
  });
  return { count: () => n };
}

test("the installed nats.js is the version the writer is pinned to (its opening comment)", () => {
  const source = readFileSync(new URL("../src/nats/jetstream-writer.ts", import.meta.url), "utf8");
  const pinned = /Pinned to nats\.js (\d+\.\d+\.\d+)/.exec(source)?.[1];
  assert.ok(pinned, "the writer's opening comment names the pinned nats.js version");
  const require = createRequire(import.meta.url);
  /** The directory of package `name` as `from` loads it: the nearest ancestor of its entry with that package.json. */
  const packageDir = (name: string, from = require) => {
    for (let dir = dirname(from.resolve(name)); dir !== dirname(dir); dir = dirname(dir)) {
      const file = join(dir, "package.json");
      if (existsSync(file) && (JSON.parse(readFileSync(file, "utf8")) as { name?: string }).name === name) return dir;
    }
    throw new Error(`no package.json of ${name}`);
  };
  const version = (dir: string) => (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string }).version;
  const jetstreamDir = packageDir("@nats-io/jetstream");
  const transportDir = packageDir("@nats-io/transport-node");
  // nats-core as each of the two packages loads it: its protocol.js is where publish() encodes the headers.
  const coreFromJetStream = packageDir("@nats-io/nats-core", createRequire(join(jetstreamDir, "package.json")));
  const coreFromTransport = packageDir("@nats-io/nats-core", createRequire(join(transportDir, "package.json")));
  for (const dir of [jetstreamDir, transportDir, coreFromJetStream, coreFromTransport])
    assert.equal(version(dir), pinned, `${dir}: re-check the internals the writer names, then update its comment`);
});

test("a header block encoded by the caller is stored as it is, with the PubAck's sequence; a repeated msg id is a duplicate", async () => {
  const writer = new JetStreamWriter(nc, { timeoutMs: 5000 });
  const block = (m: { id: string }) =>
    bytes(`NATS/1.0\r\nEr-Test: ${m.id}\r\nEr-Test: second\r\nNats-Msg-Id: enc-${m.id}\r\nNats-Expected-Stream: ${STREAM}\r\n\r\n`);
  const messages = [
    { id: "a", subject: "writer.enc", body: bytes("one") },
    { id: "b", subject: "writer.enc", body: bytes("two") },
  ];
  const acks = await writer.publishEncoded(messages, block, { stream: STREAM, what: "things" });
  assert.deepEqual(
    acks.map((a) => a.duplicate),
    [false, false],
  );
  const stored = await jsm.streams.getMessage(STREAM, { seq: acks[1]!.seq });
  assert.equal(text(stored!.data), "two");
  assert.deepEqual(stored!.header.values("Er-Test"), ["b", "second"]);
  assert.equal(stored!.header.get("Nats-Msg-Id"), "enc-b");
  const again = await writer.publishEncoded([messages[0]!], block, { stream: STREAM, what: "things" });
  assert.deepEqual(again, [{ seq: acks[0]!.seq, duplicate: true }]);
});

test("key/value headers are sent with the msg id and expected stream added; the caller's headers stay as they were", async () => {
  const writer = new JetStreamWriter(nc, { timeoutMs: 5000 });
  const h = natsHeaders();
  h.append("Er-Test", "x");
  h.append("Er-Test", "y");
  const [ack] = await writer.publish([{ subject: "writer.kv", body: bytes("{}"), msgId: "kv-1", headers: h }], {
    stream: STREAM,
    what: "things",
  });
  const stored = await jsm.streams.getMessage(STREAM, { seq: ack!.seq });
  assert.deepEqual(stored!.header.values("Er-Test"), ["x", "y"]);
  assert.equal(stored!.header.get("Nats-Msg-Id"), "kv-1");
  assert.equal(stored!.header.get("Nats-Expected-Stream"), STREAM);
  assert.equal(h.has("Nats-Msg-Id"), false);
  assert.deepEqual(await writer.publish([{ subject: "writer.kv", body: "{}", msgId: "kv-1" }], { stream: STREAM, what: "things" }), [
    { seq: ack!.seq, duplicate: true },
  ]);
});

test("JetStream's refusal (the subject is in another stream) is UnavailableError with the API error as its cause", async () => {
  const writer = new JetStreamWriter(nc, { timeoutMs: 5000 });
  const m: JetStreamMessage = { subject: "writer.refused", body: bytes("x"), msgId: "refused-1" };
  await assert.rejects(
    writer.publish([m, { ...m, msgId: "refused-2" }], { stream: "NOT_THIS_ONE", what: "things", advice: "do this" }),
    (e: unknown) => {
      assert.ok(e instanceof UnavailableError);
      assert.match(e.message, /^JetStream did not confirm 2 of 2 things \(.*stream.*\(code \d+\)\); do this$/i);
      assert.ok(e.cause instanceof JetStreamApiError);
      assert.ok(isPermanentJetStreamError(e.cause), "a refusal that repeating will not change");
      return true;
    },
  );
});

test("no stream for the subject: no responders; no answer at all: no PubAck within the timeout", async () => {
  const writer = new JetStreamWriter(nc, { timeoutMs: 300 });
  await assert.rejects(
    writer.publish([{ subject: "nowhere.writer", body: bytes("x"), msgId: "n-1" }], { what: "things" }),
    (e: unknown) => e instanceof UnavailableError && /did not confirm 1 of 1 things \(no responders/.test(e.message),
  );
  listen("silent.timeout");
  await assert.rejects(
    writer.publish([{ subject: "silent.timeout", body: bytes("x"), msgId: "t-1" }], { what: "things" }),
    (e: unknown) => e instanceof UnavailableError && /\(no PubAck within the timeout\)/.test(e.message) && e.cause === undefined,
  );
});

test("jetStreamWriter(js) writes on the client's connection and waits as long as the client does", async () => {
  listen("silent.client-timeout");
  const writer = jetStreamWriter(jetstream(nc, { timeout: 300 }));
  const start = Date.now();
  await assert.rejects(
    writer.publish([{ subject: "silent.client-timeout", body: bytes("x"), msgId: "c-1" }], { what: "things" }),
    UnavailableError,
  );
  assert.ok(Date.now() - start < 3000, "the client's 300 ms, not the 5 s default");
  const [ack] = await writer.publish([{ subject: "writer.client", body: bytes("x"), msgId: "c-2" }], { stream: STREAM, what: "things" });
  assert.equal(ack!.duplicate, false);
});

test("publishEach: each message's own outcome, undefined for one that was not confirmed", async () => {
  const writer = new JetStreamWriter(nc, { timeoutMs: 2000 });
  const out = await writer.publishEach(
    [
      { subject: "writer.each", body: bytes("x"), msgId: "each-1" },
      { subject: "nowhere.each", body: bytes("x"), msgId: "each-2" },
      { subject: "writer.each", body: bytes("x"), msgId: "each-1" },
    ],
    { what: "things" },
  );
  assert.equal(out[0]?.duplicate, false);
  assert.equal(out[1], undefined);
  assert.deepEqual(out[2], { seq: out[0]!.seq, duplicate: true });
});

test("bounded retry: only the unconfirmed messages are sent again, up to the attempts; success on a later try counts", async () => {
  const writer = new JetStreamWriter(nc, { timeoutMs: 200 });
  const retry = { attempts: 3, backoff: () => new Backoff(5, 10) };
  const stored = listen("writer.retry");
  const silent = listen("silent.retry");
  await assert.rejects(
    writer.publish(
      [
        { subject: "writer.retry", body: bytes("x"), msgId: "r-1" },
        { subject: "silent.retry", body: bytes("x"), msgId: "r-2" },
      ],
      { stream: STREAM, what: "things", retry },
    ),
    (e: unknown) => e instanceof UnavailableError && /did not confirm 1 of 2 things \(no PubAck within the timeout\)/.test(e.message),
  );
  assert.equal(stored.count(), 1, "the confirmed message is not sent again");
  assert.equal(silent.count(), 3, "the unconfirmed one is sent until the attempts run out");

  // Answers the second try (as a stream would after coming back).
  const late = listen("late.retry", (n) => (n === 2 ? JSON.stringify({ stream: STREAM, seq: 42 }) : undefined));
  const acks = await writer.publish(
    [
      { subject: "writer.retry", body: bytes("x"), msgId: "r-3" },
      { subject: "late.retry", body: bytes("x"), msgId: "r-4" },
    ],
    { stream: STREAM, what: "things", retry },
  );
  assert.equal(acks[1]!.seq, 42);
  assert.equal(late.count(), 2);
});

test("bounded retry never repeats a refusal", async () => {
  const writer = new JetStreamWriter(nc, { timeoutMs: 2000 });
  const sent = listen("writer.refused-retry");
  await assert.rejects(
    writer.publish([{ subject: "writer.refused-retry", body: bytes("x"), msgId: "rr-1" }], {
      stream: "NOT_THIS_ONE",
      what: "things",
      retry: { attempts: 3, backoff: () => new Backoff(5, 10) },
    }),
    (e: unknown) => e instanceof UnavailableError && e.cause instanceof JetStreamApiError,
  );
  assert.equal(sent.count(), 1);
});
