import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats } from "../src/nats/connection.js";
import { natsNames } from "../src/nats/names.js";
import type { RouterChange } from "../src/routing/router-source.js";
import { RouterStore } from "../src/routing/router-store.js";
import type { ValidRouter } from "../src/routing/router-validation.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";

const names = natsNames("storetest");
// A guard, not the claim: changes arrive by the KV watch (pushed, never polled), normally in milliseconds; the
// budget only bounds a broken watch on a loaded 2-core machine.
const LIVE_RELOAD_MS = 10_000;

function valid(id: string, extra: Partial<ValidRouter> = {}): ValidRouter {
  return {
    id,
    displayName: id,
    backend: "xapi",
    endpointUrl: "http://127.0.0.1:9/lrs",
    auth: { kind: "none" },
    enabled: true,
    matchParams: [{ path: "name", patterns: ["^edx\\.course\\.enrollment"] }],
    overrideArgs: {},
    headers: {},
    delivery: {},
    ...extra,
  };
}

/** Resolves with the first change on `store` that satisfies `pred`, failing after the live-reload budget. */
function nextChange(
  store: RouterStore,
  pred: (c: RouterChange) => boolean,
  budgetMs = LIVE_RELOAD_MS,
): Promise<{ change: RouterChange; elapsedMs: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`no matching change within ${budgetMs} ms`));
    }, budgetMs);
    const unsubscribe = store.subscribe((change) => {
      if (!pred(change)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve({ change, elapsedMs: performance.now() - started });
    });
  });
}

let nats: TestNatsServer;
let ncA: NatsConnection;
let ncB: NatsConnection;
let a: RouterStore;
let b: RouterStore;

before(async () => {
  nats = await startNatsServer();
  ncA = await connectNats({ servers: nats.url, name: "instance-a" });
  ncB = await connectNats({ servers: nats.url, name: "instance-b" });
  a = await RouterStore.open(ncA, names, { replicas: 1 });
  b = await RouterStore.open(ncB, names, { replicas: 1 });
});

after(async () => {
  await a?.close();
  await b?.close();
  await ncA?.close();
  await ncB?.close();
  await nats?.stop();
});

test("create, update and delete on one instance reach the other's list() and subscribers, in order, as they happen", async (t) => {
  const created = nextChange(b, (c) => c.kind === "put" && c.router.id === "live");
  await a.create(valid("live"));
  const c1 = await created;
  assert.equal(c1.change.kind, "put");
  assert.equal(c1.change.kind === "put" && c1.change.previous, undefined);
  assert.equal(b.get("live")?.displayName, "live");
  assert.ok(b.list().some((r) => r.id === "live"));
  assert.ok(
    a.list().some((r) => r.id === "live"),
    "the writer sees its own create at once",
  );
  assert.equal(b.list(), b.list(), "list() allocates nothing while no change arrives");

  const updated = nextChange(b, (c) => c.kind === "put" && c.router.id === "live" && !c.router.enabled);
  const after = await a.update("live", (cur) => ({ ...cur, enabled: false }));
  const c2 = await updated;
  assert.ok(c2.change.kind === "put" && c2.change.previous?.enabled === true, "the change carries the previous version");
  assert.equal(b.get("live")?.revision, after.revision);
  assert.equal(b.get("live")?.enabled, false);

  const deleted = nextChange(b, (c) => c.kind === "delete" && c.id === "live");
  await a.delete("live");
  const c3 = await deleted;
  assert.ok(c3.change.kind === "delete" && c3.change.previous?.id === "live");
  assert.equal(b.get("live"), undefined);
  assert.ok(!b.list().some((r) => r.id === "live"));
  t.diagnostic(`applied after ${[c1, c2, c3].map((c) => c.elapsedMs.toFixed(0)).join(", ")} ms`);
});

test("a router created again under a deleted id is a new incarnation, kept by updates; racing creates over one deletion: one wins", async () => {
  const first = await a.create(valid("again"));
  assert.equal(first.incarnation, undefined, "the first router under an id keeps the plain NATS names");
  await a.delete("again");
  const second = await a.create(valid("again"));
  assert.ok(second.incarnation !== undefined && second.incarnation > first.revision, "named by the deletion's revision");
  const updated = await a.update("again", (cur) => ({ ...cur, enabled: false }));
  assert.equal(updated.incarnation, second.incarnation, "an update is the same incarnation");
  assert.equal((await b.fetch("again")).incarnation, second.incarnation);
  await a.delete("again");
  const raced = await Promise.allSettled([a.create(valid("again")), b.create(valid("again"))]);
  const won = raced.filter((r) => r.status === "fulfilled");
  assert.equal(won.length, 1, "only one create over the same deletion succeeds");
  assert.match(String((raced.find((r) => r.status === "rejected") as PromiseRejectedResult).reason), /already exists/);
  const third = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<RouterStore["create"]>>>).value;
  assert.ok(third.incarnation! > second.incarnation!);
});

test("a newly opened instance loads every stored router before open() resolves", async () => {
  await a.create(valid("preload-1"));
  await a.create(valid("preload-2", { enabled: false }));
  await a.delete("preload-1");
  const nc = await connectNats({ servers: nats.url });
  const c = await RouterStore.open(nc, names);
  try {
    assert.equal(c.get("preload-1"), undefined, "deleted routers are not loaded");
    assert.equal(c.get("preload-2")?.enabled, false);
  } finally {
    await c.close();
    await nc.close();
  }
});

test("match params are compiled once per router revision", async () => {
  const r1 = await a.create(valid("compiled", { matchParams: [{ path: "context.org_id", patterns: ["^edX$"] }] }));
  const first = a.compiledMatch(a.get("compiled")!);
  assert.equal(a.compiledMatch(a.get("compiled")!), first, "same revision → same compiled objects");
  assert.equal(a.get("compiled")?.revision, r1.revision);
  assert.ok(first[0]!.patterns[0]!.test("edX"));

  const changed = nextChange(b, (c) => c.kind === "put" && c.router.id === "compiled" && c.router.revision > r1.revision);
  await a.update("compiled", (cur) => ({ ...cur, matchParams: [{ path: "context.org_id", patterns: ["^MITx$"] }] }));
  await changed;
  const second = a.compiledMatch(a.get("compiled")!);
  assert.notEqual(second, first);
  assert.ok(second[0]!.patterns[0]!.test("MITx") && !second[0]!.patterns[0]!.test("edX"));
  assert.ok(b.compiledMatch(b.get("compiled")!)[0]!.patterns[0]!.test("MITx"), "the other instance recompiled too");
});

test("a value that cannot be used is reported and treated as absent, not applied", async () => {
  const invalid: string[] = [];
  const nc = await connectNats({ servers: nats.url });
  const c = await RouterStore.open(nc, names, { onInvalid: (id) => invalid.push(id) });
  try {
    await a.create(valid("bad-later"));
    const gone = nextChange(c, (ch) => ch.kind === "delete" && ch.id === "bad-later");
    const kv = await new Kvm(ncA).open(names.routersBucket);
    await kv.put("bad-later", JSON.stringify({ ...valid("bad-later"), matchParams: [{ path: "name", patterns: ["("] }] }));
    await gone;
    assert.deepEqual(invalid, ["bad-later"]);
    assert.equal(c.get("bad-later"), undefined);
  } finally {
    await c.close();
    await nc.close();
  }
});

test("a listener that throws is reported with the change; the other listeners still get it", async () => {
  const failures: Array<{ change: RouterChange; error: unknown }> = [];
  const nc = await connectNats({ servers: nats.url });
  const c = await RouterStore.open(nc, names, { onListenerError: (change, error) => failures.push({ change, error }) });
  try {
    c.subscribe(() => {
      throw new TypeError("listener bug");
    });
    const seen = nextChange(c, (ch) => ch.kind === "put" && ch.router.id === "listener-bug");
    await a.create(valid("listener-bug"));
    await seen;
    assert.equal(failures.length, 1);
    assert.ok(failures[0]!.change.kind === "put" && failures[0]!.change.router.id === "listener-bug");
    assert.match(String(failures[0]!.error), /listener bug/);
  } finally {
    await c.close();
    await nc.close();
  }
});

test("the watch survives a server crash: changes after the restart still arrive", async () => {
  await a.create(valid("after-crash"));
  const reconnected = Promise.all(
    [ncA, ncB].map(async (nc) => {
      for await (const s of nc.status()) if (s.type === "reconnect") return;
    }),
  );
  await nats.restart({ crash: true });
  await reconnected;
  const seen = nextChange(b, (c) => c.kind === "put" && c.router.id === "after-crash" && c.router.displayName === "renamed", 10_000);
  // The first JetStream call after a restart can race the server's recovery; the store maps that to Unavailable.
  for (let attempt = 0; ; attempt++) {
    try {
      await a.update("after-crash", (cur) => ({ ...cur, displayName: "renamed" }));
      break;
    } catch (e) {
      if (attempt >= 20 || (e as Error).name !== "UnavailableError") throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await seen;
  assert.equal(b.get("after-crash")?.displayName, "renamed");
});
