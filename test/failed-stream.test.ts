/**
 * The failed stream's RPCs at their edges, on a real nats-server: NATS down (Unavailable through Connect, never
 * Internal or an empty success), RetryFailed bounded by the last sequence read at the start (a statement that
 * fails again during the call is retried once), cancellation and deadlines between entries (nothing lost,
 * nothing reported that was not done), and the stored error text (bounded, single-line, shown as stored).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  EventRoutingService,
  FailedFilterSchema,
  ListFailedRequestSchema,
  PurgeFailedRequestSchema,
  RetryFailedRequestSchema,
} from "../gen/eventrouting/v1/event_routing_service_pb.js";
import { startDelivery } from "../src/delivery/delivery.js";
import {
  HDR_LAST_ERROR,
  LAST_ERROR_MAX_CHARS,
  storedLastError,
  TRUNCATION_MARK,
  type FailureRecord,
} from "../src/delivery/failed/failed-codec.js";
import { walk, type FailedReader } from "../src/delivery/failed/failed-query.js";
import { createFailedRpc, type CallContext } from "../src/delivery/failed/failed-rpc.js";
import { FailedStore } from "../src/delivery/failed/failed-store.js";
import { CanceledError, DeadlineExceededError, UnavailableError, toConnectError } from "../src/errors.js";
import { natsNames } from "../src/nats/names.js";
import { errorMappingInterceptor } from "../src/server/interceptors.js";
import {
  captureLogger,
  fakeStatement,
  makeRouter,
  MemoryRouterSource,
  publishStatements,
  TEST_DEFAULTS,
} from "./support/delivery-harness.js";
import { FaultEndpoint, waitUntil } from "./support/http-endpoints.js";
import { startJetStream, type TestNatsServer } from "./support/nats-server.js";

const names = natsNames("fstest");
let nats: TestNatsServer;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let store: FailedStore;

before(async () => {
  ({ nats, nc, js, jsm } = await startJetStream(names));
  store = new FailedStore(js, jsm, names);
});

after(async () => {
  await nc.close();
  await nats.stop();
});

let nextDeliverySeq = 1;
function record(routerId: string, extra: Partial<FailureRecord> = {}): FailureRecord {
  const now = new Date();
  return {
    routerId,
    eventName: "edx.course.enrollment.activated",
    statementId: crypto.randomUUID(),
    backend: "xapi",
    attempts: 1,
    lastHttpStatus: 400,
    lastError: "HTTP 400",
    firstAttemptTime: now,
    lastAttemptTime: now,
    deliverySeq: nextDeliverySeq++,
    ...extra,
  };
}

async function storeFailures(routerId: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const rec = record(routerId);
    await store.record(rec, JSON.stringify(fakeStatement({ id: rec.statementId })));
  }
}

/** Messages on a router's delivery subject (RetryFailed copies when no worker runs for it). */
async function deliveryCount(routerId: string): Promise<number> {
  const subject = names.deliverSubject(routerId);
  const info = await jsm.streams.info(names.deliveryStream, { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

/** Aborts `ctx` once `n` messages appeared on the router's delivery subject; as Connect does, a deadline abort
 * also makes timeoutMs() reach 0. */
function abortAfterRepublished(routerId: string, n: number, asDeadline: boolean): CallContext {
  const ctrl = new AbortController();
  let deadline: number | undefined;
  const sub = nc.subscribe(names.deliverSubject(routerId), { max: n });
  void (async () => {
    for await (const _ of sub) {
      if (sub.getProcessed() < n) continue;
      if (asDeadline) deadline = Date.now();
      ctrl.abort();
    }
  })();
  return { signal: ctrl.signal, timeoutMs: () => (deadline === undefined ? (asDeadline ? 60_000 : undefined) : deadline - Date.now()) };
}

test("walk: an entry appended during the walk, after the bound, is not visited", async () => {
  // In memory: the reader appends a new entry each time it is read, like a statement failing again at once.
  const seqs = [1, 2, 3];
  const entry = (id: number) => ({ id }) as never;
  const reader: FailedReader = {
    async nextOnSubject(_subject, seq) {
      const found = seqs.find((s) => s >= seq);
      seqs.push(seqs.at(-1)! + 1);
      return found === undefined ? null : entry(found);
    },
  };
  const seen: number[] = [];
  for await (const e of walk(reader, "s", {}, { lastSeq: 3 })) seen.push(e.id);
  assert.deepEqual(seen, [1, 2, 3]);
});

test("stored error text: single-line, at most LAST_ERROR_MAX_CHARS code points, cut visibly, never a broken character", () => {
  assert.equal(storedLastError("  HTTP 400:\r\n  bad\tfield\u001b[31m \u2028x  "), "HTTP 400: bad field [31m x");
  const long = `${"e".repeat(LAST_ERROR_MAX_CHARS - 2)}😀😀😀`;
  const cut = storedLastError(long);
  assert.equal(Array.from(cut).length, LAST_ERROR_MAX_CHARS);
  assert.ok(cut.endsWith(`😀${TRUNCATION_MARK}`), "the emoji before the mark is whole");
  assert.equal(storedLastError("short"), "short");
});

test("ListFailed shows the error text exactly as stored in the failed stream", async () => {
  const lastError = `HTTP 422: ${"x".repeat(300)}\n  at line 2\t${"é".repeat(300)}`;
  await store.record(record("rtext", { lastError }), "{}");
  const rpc = createFailedRpc(store);
  const [f] = (await rpc.listFailed(create(ListFailedRequestSchema, { filter: create(FailedFilterSchema, { routerId: "rtext" }) }))).failed;
  const raw = await jsm.streams.getMessage(names.failedStream, { seq: Number(f!.id) });
  assert.equal(f!.lastError, raw!.header.get(HDR_LAST_ERROR));
  assert.equal(f!.lastError, storedLastError(lastError));
  assert.ok(Array.from(f!.lastError).length <= LAST_ERROR_MAX_CHARS && !/[\r\n\t]/.test(f!.lastError));
  assert.ok(f!.lastError.endsWith(TRUNCATION_MARK));
});

test("RetryFailed stops at the last sequence read at the start: a statement failing again during the call is retried once", {
  timeout: 60_000,
}, async () => {
  // The endpoint refuses every statement at once, so each retried copy fails again and is appended to the
  // failed stream while the call still walks it. More entries than the old 200-entry read-ahead page.
  const n = 210;
  const endpoint = await FaultEndpoint.start(() => ({ status: 400 }));
  const routers = new MemoryRouterSource();
  const delivery = await startDelivery({
    nc,
    names,
    routers,
    defaults: TEST_DEFAULTS,
    caliperSensorId: "http://localhost:18000",
    logger: captureLogger().logger,
    sweeper: false,
  });
  try {
    routers.put(makeRouter("rpoison", endpoint.url, {}, { maxRetries: 0, batchSize: 1 }));
    await delivery.settled();
    const statements = Array.from({ length: n }, () => fakeStatement());
    await publishStatements(js, names, "rpoison", statements, "edx.course.enrollment.activated");
    await waitUntil(async () => (await delivery.failed.count("rpoison")) === n, 20_000, `${n} failed`);

    const r = await delivery.failedRpc.retryFailed(
      create(RetryFailedRequestSchema, { filter: create(FailedFilterSchema, { routerId: "rpoison" }) }),
    );
    assert.equal(r.retried, n);
    // Settled: every retried copy was answered (consumer empty) and stored again.
    await waitUntil(
      async () => {
        const ci = await jsm.consumers.info(names.deliveryStream, names.deliveryConsumer("rpoison"));
        return ci.num_pending === 0 && ci.num_ack_pending === 0 && (await delivery.failed.count("rpoison")) === n;
      },
      20_000,
      "retried copies failed again",
    );
    const sends = new Map<string, number>();
    for (const req of endpoint.requests) for (const id of req.ids) sends.set(id, (sends.get(id) ?? 0) + 1);
    assert.deepEqual(new Set(sends.values()), new Set([2]), "each statement: the original attempt and exactly one retry");
    assert.equal(sends.size, n);
  } finally {
    await delivery.stop();
    await endpoint.close();
  }
});

test("RetryFailed cancelled between entries: Canceled, and every entry is either re-published and removed or still stored", async () => {
  const n = 60;
  await storeFailures("rcancel", n);
  const ctx = abortAfterRepublished("rcancel", 5, false);
  const rpc = createFailedRpc(store);
  const err = await rpc
    .retryFailed(create(RetryFailedRequestSchema, { filter: create(FailedFilterSchema, { routerId: "rcancel" }) }), ctx)
    .then(
      () => assert.fail("expected the call to stop"),
      (e: unknown) => e,
    );
  assert.ok(err instanceof CanceledError, String(err));
  assert.equal(toConnectError(err).code, Code.Canceled);
  const republished = await deliveryCount("rcancel");
  const left = await store.count("rcancel");
  assert.ok(republished >= 5 && left > 0, `republished ${republished}, left ${left}`);
  assert.equal(republished + left, n, "none lost, none both re-published and kept");
  assert.match(err.message, new RegExp(`after ${republished} re-published for delivery`));
});

test("RetryFailed past its deadline: DeadlineExceeded, saying how many were re-published", async () => {
  const n = 60;
  await storeFailures("rdeadline", n);
  const ctx = abortAfterRepublished("rdeadline", 3, true);
  const rpc = createFailedRpc(store);
  const err = await rpc
    .retryFailed(create(RetryFailedRequestSchema, { filter: create(FailedFilterSchema, { routerId: "rdeadline" }) }), ctx)
    .then(
      () => assert.fail("expected the call to stop"),
      (e: unknown) => e,
    );
  assert.ok(err instanceof DeadlineExceededError, String(err));
  assert.equal(toConnectError(err).code, Code.DeadlineExceeded);
  const republished = await deliveryCount("rdeadline");
  assert.equal(republished + (await store.count("rdeadline")), n);
  assert.match(err.message, new RegExp(`after ${republished} re-published for delivery`));
});

test("PurgeFailed and ListFailed with an already cancelled call change and return nothing", async () => {
  await storeFailures("rpre", 3);
  const ctrl = new AbortController();
  ctrl.abort();
  const ctx: CallContext = { signal: ctrl.signal, timeoutMs: () => undefined };
  const rpc = createFailedRpc(store);
  const filter = create(FailedFilterSchema, { routerId: "rpre", eventName: "edx.course.enrollment.activated" });
  await assert.rejects(rpc.purgeFailed(create(PurgeFailedRequestSchema, { filter }), ctx), CanceledError);
  await assert.rejects(
    rpc.purgeFailed(create(PurgeFailedRequestSchema, { filter: create(FailedFilterSchema, { routerId: "rpre" }) }), ctx),
    CanceledError,
  );
  await assert.rejects(rpc.listFailed(create(ListFailedRequestSchema, { filter }), ctx), CanceledError);
  assert.equal(await store.count("rpre"), 3);
});

test("a whole-router purge leaves entries stored after the call began", async () => {
  await storeFailures("rbound", 2);
  const lastSeq = await store.lastSeq();
  await storeFailures("rbound", 1);
  assert.equal(await store.purgeUpTo(lastSeq, names.failedSubject("rbound")), 2);
  assert.equal(await store.count("rbound"), 1);
});

test("NATS down: every failed-stream RPC answers Unavailable (never Internal, an empty list or not_found), count throws", async () => {
  await storeFailures("rdown", 2);
  const [first] = (await store.list({ routerId: "rdown" }, 1)).entries;
  // Short request timeouts so that each call gives up quickly while the server is away.
  const downStore = new FailedStore(jetstream(nc, { timeout: 500 }), await jetstreamManager(nc, { timeout: 500 }), names);
  const rpc = createFailedRpc(downStore);
  const client = createClient(
    EventRoutingService,
    createRouterTransport(
      (router) =>
        router.service(EventRoutingService, {
          listFailed: (req, ctx) => rpc.listFailed(req, ctx),
          retryFailed: (req, ctx) => rpc.retryFailed(req, ctx),
          purgeFailed: (req, ctx) => rpc.purgeFailed(req, ctx),
        }),
      { router: { interceptors: [errorMappingInterceptor] } },
    ),
  );
  const code = (p: Promise<unknown>) =>
    p.then(
      () => "ok",
      (e: unknown) => Code[ConnectError.from(e).code],
    );
  await nats.server.stop({ crash: true });
  try {
    const id = BigInt(first!.id);
    const filter = { routerId: "rdown" };
    assert.equal(await code(client.listFailed({ filter })), "Unavailable");
    assert.equal(await code(client.retryFailed({ ids: [id] })), "Unavailable");
    assert.equal(await code(client.retryFailed({ filter })), "Unavailable");
    assert.equal(await code(client.purgeFailed({ ids: [id] })), "Unavailable");
    assert.equal(await code(client.purgeFailed({ filter })), "Unavailable");
    assert.equal(await code(client.purgeFailed({ filter: { ...filter, eventName: "edx.course.enrollment.activated" } })), "Unavailable");
    await assert.rejects(downStore.count("rdown"), UnavailableError);
    await assert.rejects(downStore.record(record("rdown"), "{}"), UnavailableError);
  } finally {
    await nats.server.restart();
  }
  await waitUntil(async () => (await store.count("rdown").catch(() => -1)) === 2, 10_000, "back, nothing changed");
});
