import assert from "node:assert/strict";
import { test } from "node:test";
import { deliverBatch, type BatchItem } from "../src/delivery/http/batch-delivery.js";
import { Batcher } from "../src/delivery/worker/batcher.js";
import { ackWaitMs, consumerConfig } from "../src/delivery/worker/consumer-config.js";
import { classifyStatus, MAX_RETRY_AFTER_MS, parseRetryAfter } from "../src/delivery/http/delivery-outcome.js";
import { decodeFailedEntry, encodeFailureHeaders, retryPublication, type FailedEntry } from "../src/delivery/failed/failed-codec.js";
import { decodePageToken, encodePageToken, toSelection } from "../src/delivery/failed/failed-rpc.js";
import { HttpSendError, type HttpAnswer } from "../src/delivery/http/http-send.js";
import { retryDelayMs } from "../src/delivery/worker/router-worker.js";
import { jsonArrayOf, type BatchSender } from "../src/delivery/http/senders.js";
import { ValidationError } from "../src/errors.js";
import { natsNames } from "../src/nats/names.js";
import type { ResolvedDelivery } from "../src/routing/router-model.js";

test("classifyStatus follows the sender rules", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.deepEqual(classifyStatus(200, undefined), { kind: "delivered" });
  assert.deepEqual(classifyStatus(204, undefined), { kind: "delivered" });
  assert.deepEqual(classifyStatus(429, "3"), { kind: "retry", delayMs: 3000 });
  assert.deepEqual(classifyStatus(503, "Thu, 01 Jan 2026 00:00:07 GMT", now), { kind: "retry", delayMs: 7000 });
  assert.deepEqual(classifyStatus(503, undefined), { kind: "retry" });
  assert.deepEqual(classifyStatus(500, undefined), { kind: "retry" });
  assert.deepEqual(classifyStatus(502, "5"), { kind: "retry" });
  assert.deepEqual(classifyStatus(401, undefined), { kind: "pause" });
  assert.deepEqual(classifyStatus(403, undefined), { kind: "pause" });
  assert.deepEqual(classifyStatus(404, undefined), { kind: "pause" });
  assert.deepEqual(classifyStatus(410, undefined), { kind: "pause" });
  assert.deepEqual(classifyStatus(413, undefined), { kind: "halve" });
  assert.deepEqual(classifyStatus(400, undefined), { kind: "isolate" });
  assert.deepEqual(classifyStatus(409, undefined), { kind: "isolate" });
  assert.deepEqual(classifyStatus(415, undefined), { kind: "retry", configProblem: true });
  assert.deepEqual(classifyStatus(302, undefined), { kind: "retry", configProblem: true });
  assert.deepEqual(classifyStatus(408, undefined), { kind: "retry" });
});

test("parseRetryAfter: seconds, HTTP date, past date, garbage, cap", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.equal(parseRetryAfter("0", now), 0);
  assert.equal(parseRetryAfter(" 12 ", now), 12_000);
  assert.equal(parseRetryAfter("Wed, 31 Dec 2025 23:00:00 GMT", now), 0);
  assert.equal(parseRetryAfter("soon", now), undefined);
  assert.equal(parseRetryAfter(undefined, now), undefined);
  assert.equal(parseRetryAfter("999999", now), MAX_RETRY_AFTER_MS);
});

function scripted(answer: (bodies: readonly string[]) => HttpAnswer | Error): BatchSender & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    redact: (t) => t,
    async send(bytes) {
      const bodies = bytes.map((b) => Buffer.from(b).toString("utf8"));
      calls.push(bodies);
      const a = answer(bodies);
      if (a instanceof Error) throw a;
      return a;
    },
  };
}
const ans = (status: number, retryAfter?: string): HttpAnswer => ({ status, retryAfter, bodySnippet: "" });
const items = (...keys: string[]): BatchItem[] => keys.map((key) => ({ key, body: Buffer.from(key) }));

test("deliverBatch isolates poison statements by bisection and delivers the rest", async () => {
  const sender = scripted((b) => (b.includes("bad1") || b.includes("bad2") ? ans(400) : ans(200)));
  const r = await deliverBatch(items("a", "bad1", "c", "d", "e", "bad2", "g"), sender);
  const kinds = Object.fromEntries([...r.outcomes].map(([k, o]) => [k, o.kind]));
  assert.deepEqual(kinds, {
    a: "delivered",
    bad1: "failed",
    c: "delivered",
    d: "delivered",
    e: "delivered",
    bad2: "failed",
    g: "delivered",
  });
  // Bisection costs at most 2n - 1 requests.
  assert.ok(sender.calls.length <= 13, `requests: ${sender.calls.length}`);
});

test("deliverBatch halves on 413 until it fits; a single 413 fails; single 409 is delivered", async () => {
  const sender = scripted((b) => (b.length > 2 ? ans(413) : b.includes("conflict") ? ans(409) : ans(200)));
  const r = await deliverBatch(items("a", "b", "c", "d", "conflict"), sender);
  assert.ok([...r.outcomes.values()].every((o) => o.kind === "delivered"));
  assert.ok(sender.calls.every((c, i) => i === 0 || c.length <= 3));
  const single = await deliverBatch(
    items("x"),
    scripted(() => ans(413)),
  );
  assert.equal(single.outcomes.get("x")?.kind, "failed");
});

test("deliverBatch: network errors and 429 are retries with the endpoint's delay", async () => {
  const r1 = await deliverBatch(
    items("a", "b"),
    scripted(() => new HttpSendError("ECONNREFUSED: refused", false)),
  );
  assert.deepEqual(r1.outcomes.get("a"), { kind: "retry", status: 0, error: "ECONNREFUSED: refused" });
  const r2 = await deliverBatch(
    items("a"),
    scripted(() => ans(429, "2")),
  );
  assert.equal(r2.outcomes.get("a")?.kind, "retry");
  assert.equal((r2.outcomes.get("a") as { delayMs?: number }).delayMs, 2000);
  const r3 = await deliverBatch(
    items("a"),
    scripted(() => ans(401)),
  );
  assert.equal(r3.paused?.status, 401);
  assert.equal(r3.outcomes.get("a")?.kind, "paused");
  const r4 = await deliverBatch(
    items("a"),
    scripted(() => ans(415)),
  );
  assert.equal(r4.configProblem?.status, 415);
});

test("Batcher releases on size and on timer", async () => {
  const out: number[][] = [];
  const b = new Batcher<number>(3, 40, (x) => out.push(x));
  b.add(1);
  b.add(2);
  b.add(3);
  assert.deepEqual(out, [[1, 2, 3]]);
  b.add(4);
  await new Promise<void>((resolve) => {
    const t = setInterval(() => {
      if (out.length === 2) {
        clearInterval(t);
        resolve();
      }
    }, 5);
  });
  assert.deepEqual(out[1], [4]);
  const one = new Batcher<number>(1, 10_000, (x) => out.push(x));
  one.add(9);
  assert.deepEqual(out[2], [9]);
  assert.deepEqual(one.take(), []);
});

const delivery = (p: Partial<ResolvedDelivery> = {}): ResolvedDelivery => ({
  batchSize: 100,
  batchIntervalMs: 5000,
  maxRetries: 3,
  countdownMs: 30_000,
  backoffMs: [],
  httpTimeoutMs: 10_000,
  criticalEvents: new Set(),
  exhausted: "all",
  ...p,
});

test("consumer config: ack wait above the HTTP timeout, max_deliver = retries + 1, no backoff", () => {
  const cfg = consumerConfig(natsNames("x"), { id: "r1" }, delivery());
  assert.equal(cfg.durable_name, "deliver-r1");
  assert.equal(cfg.filter_subject, "x.deliver.r1");
  assert.equal(cfg.max_deliver, 4);
  assert.equal(cfg.ack_wait, 30_000 * 1_000_000);
  assert.equal(cfg.backoff, undefined);
  assert.equal(ackWaitMs(delivery({ countdownMs: 5000, httpTimeoutMs: 10_000 })), 15_000);
  assert.equal(retryDelayMs(delivery(), 2), 30_000);
  assert.equal(retryDelayMs(delivery({ backoffMs: [1000, 5000] }), 1), 1000);
  assert.equal(retryDelayMs(delivery({ backoffMs: [1000, 5000] }), 3), 5000);
});

test("page tokens and selections are validated", () => {
  assert.equal(decodePageToken(encodePageToken(42)), 42);
  assert.equal(decodePageToken(""), 1);
  assert.throws(() => decodePageToken("garbage!"), ValidationError);
  assert.throws(() => toSelection({ ids: [], all: false }), ValidationError);
  assert.throws(() => toSelection({ ids: [], all: false, filter: { routerId: "a.b>" } as never }), ValidationError);
  assert.deepEqual(toSelection({ ids: [3n], all: false }), { ids: [3] });
  assert.deepEqual(toSelection({ ids: [], all: true }), { query: {} });
});

test("an xAPI request body is the stored statements' bytes joined into one JSON array, multi-byte text intact", () => {
  const bodies = [{ id: "a", name: "café ☕" }, { id: "b" }, { id: "c", s: "𝄞" }].map((s) => Buffer.from(JSON.stringify(s)));
  assert.deepEqual(JSON.parse(jsonArrayOf(bodies).toString("utf8")), [{ id: "a", name: "café ☕" }, { id: "b" }, { id: "c", s: "𝄞" }]);
  assert.equal(jsonArrayOf(bodies.slice(0, 1)).toString(), '[{"id":"a","name":"café ☕"}]');
  assert.equal(jsonArrayOf([]).toString(), "[]");
});

test("incarnation names: the first router under an id keeps the plain names; a re-created one gets its own subject, consumer and msg ids", () => {
  const n = natsNames("x");
  assert.equal(n.deliverSubject("r1"), "x.deliver.r1");
  assert.equal(n.deliveryConsumer("r1"), "deliver-r1");
  assert.equal(n.deliveryMsgId("r1", "s"), "r1:s");
  assert.equal(n.deliverSubject("r1", 7), "x.deliver.r1.7");
  assert.equal(n.deliveryConsumer("r1", 7), "deliver-r1-R7");
  assert.equal(n.deliveryMsgId("r1", "s", 7), "r1#7:s");
  // Router ids are lower case: an incarnation's consumer name cannot be another router's plain one.
  assert.notEqual(n.deliveryConsumer("r1", 7), n.deliveryConsumer("r1-r7"));
  const cfg = consumerConfig(n, { id: "r1", incarnation: 7 }, delivery());
  assert.equal(cfg.durable_name, "deliver-r1-R7");
  assert.equal(cfg.filter_subject, "x.deliver.r1.7");
  const entry = { id: 5, routerId: "r1", statementId: "s", eventName: "e", backend: "xapi" } as FailedEntry;
  assert.equal(retryPublication(n, entry).subject, "x.deliver.r1");
  assert.equal(retryPublication(n, entry, 7).subject, "x.deliver.r1.7", "RetryFailed goes to the current incarnation");
  assert.equal(retryPublication(n, entry, 7).msgId, "r1#7:s:retry:5");
});

test("failed entries: Er-Discardable marks non-critical ones; entries without it (all older ones) read as never discardable", () => {
  const rec = {
    routerId: "r1",
    eventName: "e",
    statementId: "s",
    backend: "xapi",
    attempts: 1,
    lastHttpStatus: 0,
    lastError: "x",
    firstAttemptTime: new Date(0),
    lastAttemptTime: new Date(0),
    deliverySeq: 1,
  };
  const read = (h: ReturnType<typeof encodeFailureHeaders>) =>
    decodeFailedEntry({ seq: 1, subject: "x.failed.r1", header: h, time: new Date(0), string: () => "{}" } as never);
  assert.equal(read(encodeFailureHeaders({ ...rec, discardable: true })).discardable, true);
  assert.equal(read(encodeFailureHeaders(rec)).discardable, false);
  assert.equal(encodeFailureHeaders(rec).get("Er-Discardable"), "");
});
