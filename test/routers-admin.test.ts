import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, createRouterTransport, type Client } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/transport-node";
import { Backend } from "../gen/eventrouting/v1/event_pb.js";
import { ExhaustedStatements, RouterAdminService, RouterSchema, type Router } from "../gen/eventrouting/v1/router_admin_service_pb.js";
import { createRouterAdminService } from "../src/admin/router-admin-service.js";
import { connectNats } from "../src/nats/connection.js";
import { natsNames } from "../src/nats/names.js";
import type { RouterStatusProvider } from "../src/routing/router-status-contract.js";
import { RouterStore } from "../src/routing/router-store.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";
import { errorMappingInterceptor } from "../src/server/interceptors.js";

const SECRET = "pw-Zq8s3cr3t-never-echo";
const TOKEN = "tok-Xy7-never-echo";

type RouterInit = MessageInitShape<typeof RouterSchema>;

function router(id: string, extra: RouterInit = {}): Router {
  const init: RouterInit = {
    id,
    displayName: `Router ${id}`,
    backend: Backend.XAPI,
    endpointUrl: "https://lrs.example.com/xapi",
    auth: { kind: { case: "basic", value: { username: "lrs-user", password: SECRET } } },
    enabled: true,
    matchParams: [{ path: "context.org_id", patterns: ["^edX$", "Demo"] }],
    overrideArgs: { version: "1.0.3" },
    headers: { "X-Tenant": "t1" },
    delivery: { batchSize: 10, maxRetries: 3, countdown: durationFromMs(30_000), httpTimeout: durationFromMs(5_000) },
  };
  return create(RouterSchema, { ...init, ...extra } as RouterInit);
}

async function rejects(p: Promise<unknown>, code: Code, messagePart?: string): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ConnectError, `expected a ConnectError, got ${String(e)}`);
    assert.equal(e.code, code, `code of "${e.rawMessage}"`);
    if (messagePart !== undefined) assert.ok(e.rawMessage.includes(messagePart), `"${e.rawMessage}" should mention ${messagePart}`);
    assert.ok(!e.rawMessage.includes(SECRET) && !e.rawMessage.includes(TOKEN), "error leaks a secret");
    return e;
  }
  assert.fail(`expected ${Code[code]}`);
}

function assertNoSecrets(r: Router | undefined): void {
  const json = JSON.stringify(r, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
  assert.ok(!json.includes(SECRET) && !json.includes(TOKEN), "response carries a secret");
}

let nats: TestNatsServer;
let nc: NatsConnection;
let store: RouterStore;
let client: Client<typeof RouterAdminService>;

before(async () => {
  nats = await startNatsServer();
  nc = await connectNats({ servers: nats.url });
  store = await RouterStore.open(nc, natsNames("admintest"), { replicas: 1 });
  const transport = createRouterTransport(({ service }) => service(RouterAdminService, createRouterAdminService({ store })), {
    router: { interceptors: [errorMappingInterceptor] },
  });
  client = createClient(RouterAdminService, transport);
});

after(async () => {
  await store?.close();
  await nc?.close();
  await nats?.stop();
});

describe("router CRUD", () => {
  test("create, get and list return the router without its secret", async () => {
    const created = (await client.createRouter({ router: router("crud-a") })).router!;
    assert.equal(created.id, "crud-a");
    assert.ok(created.revision > 0n);
    assert.equal(created.auth?.kind.case, "basic");
    assert.equal(created.auth?.kind.case === "basic" && created.auth.kind.value.username, "lrs-user");
    assert.equal(created.auth?.hasSecret, true);
    assertNoSecrets(created);

    const got = (await client.getRouter({ id: "crud-a" })).router!;
    assertNoSecrets(got);
    assert.equal(got.revision, created.revision);
    assert.deepEqual(
      got.matchParams.map((m) => [m.path, m.patterns]),
      [["context.org_id", ["^edX$", "Demo"]]],
    );
    assert.deepEqual(got.overrideArgs, { version: "1.0.3" });
    assert.equal(got.delivery?.batchSize, 10);
    assert.equal(got.delivery?.maxRetries, 3);
    assert.equal(got.delivery?.httpTimeout?.seconds, 5n);

    const listed = (await client.listRouters({})).routers;
    assert.ok(listed.some((r) => r.id === "crud-a"));
    for (const r of listed) assertNoSecrets(r);

    // The secret is stored, just never returned.
    const stored = store.get("crud-a");
    assert.deepEqual(stored?.auth, { kind: "basic", username: "lrs-user", password: SECRET });
  });

  test("bearer routers report has_secret without the token", async () => {
    const r = (
      await client.createRouter({ router: router("crud-bearer", { auth: { kind: { case: "bearer", value: { token: TOKEN } } } }) })
    ).router!;
    assert.equal(r.auth?.kind.case, "bearer");
    assert.equal(r.auth?.hasSecret, true);
    assertNoSecrets(r);
    assertNoSecrets((await client.getRouter({ id: "crud-bearer" })).router);
  });

  test("create of an existing id is AlreadyExists", async () => {
    await client.createRouter({ router: router("crud-dup") });
    await rejects(client.createRouter({ router: router("crud-dup") }), Code.AlreadyExists, "crud-dup");
  });

  test("get, update and delete of an unknown id are NotFound", async () => {
    await rejects(client.getRouter({ id: "nope" }), Code.NotFound);
    await rejects(client.deleteRouter({ id: "nope" }), Code.NotFound);
    await rejects(client.updateRouter({ router: router("nope") }), Code.NotFound);
  });

  test("delete removes the router; the id can be created again", async () => {
    await client.createRouter({ router: router("crud-del") });
    await client.deleteRouter({ id: "crud-del" });
    assert.equal(store.get("crud-del"), undefined, "the deleting instance sees its own delete");
    await rejects(client.getRouter({ id: "crud-del" }), Code.NotFound);
    const again = (await client.createRouter({ router: router("crud-del") })).router!;
    assert.equal(again.id, "crud-del");
    assert.ok(again.incarnation > 0n, "a router created again under a deleted id is a new incarnation");
    await rejects(
      client.updateRouter({ router: create(RouterSchema, { id: "crud-del", incarnation: 1n }), updateMask: { paths: ["incarnation"] } }),
      Code.InvalidArgument,
      "output only",
    );
  });

  test("delivery.exhausted: unset reads as unspecified (every exhausted statement kept); KEEP_CRITICAL is stored and updatable", async () => {
    const plain = (await client.createRouter({ router: router("exh-a") })).router!;
    assert.equal(plain.delivery?.exhausted, ExhaustedStatements.UNSPECIFIED);
    assert.equal(plain.incarnation, 0n);
    assert.equal(store.get("exh-a")?.delivery.exhausted, undefined);
    const patch = create(RouterSchema, { id: "exh-a", delivery: { exhausted: ExhaustedStatements.KEEP_CRITICAL } });
    const after = (await client.updateRouter({ router: patch, updateMask: { paths: ["delivery.exhausted"] } })).router!;
    assert.equal(after.delivery?.exhausted, ExhaustedStatements.KEEP_CRITICAL);
    assert.equal(store.get("exh-a")?.delivery.exhausted, "critical");
    await rejects(
      client.createRouter({ router: router("exh-b", { delivery: { exhausted: 7 as ExhaustedStatements } }) }),
      Code.InvalidArgument,
      "exhausted",
    );
  });
});

describe("UpdateRouter", () => {
  test("a mask changes only the named fields and keeps the stored secret", async () => {
    const before = (await client.createRouter({ router: router("upd-mask") })).router!;
    const patch = create(RouterSchema, { id: "upd-mask", enabled: false, displayName: "ignored", delivery: { batchSize: 500 } });
    const after = (await client.updateRouter({ router: patch, updateMask: { paths: ["enabled", "delivery.batch_size"] } })).router!;
    assert.equal(after.enabled, false);
    assert.equal(after.delivery?.batchSize, 500);
    assert.equal(after.displayName, "Router upd-mask", "fields outside the mask are kept");
    assert.equal(after.delivery?.maxRetries, 3, "delivery fields outside the mask are kept");
    assert.ok(after.revision > before.revision);
    assert.equal(after.createTime?.seconds, before.createTime?.seconds);
    assert.deepEqual(store.get("upd-mask")?.auth, { kind: "basic", username: "lrs-user", password: SECRET });
  });

  test("an empty password with the same auth kind keeps the stored one", async () => {
    await client.createRouter({ router: router("upd-secret") });
    const patch = create(RouterSchema, {
      id: "upd-secret",
      auth: { kind: { case: "basic", value: { username: "other-user", password: "" } } },
    });
    const r = (await client.updateRouter({ router: patch, updateMask: { paths: ["auth"] } })).router!;
    assert.equal(r.auth?.kind.case === "basic" && r.auth.kind.value.username, "other-user");
    assert.deepEqual(store.get("upd-secret")?.auth, { kind: "basic", username: "other-user", password: SECRET });
  });

  test("switching auth kind requires the new secret", async () => {
    await client.createRouter({ router: router("upd-kind") });
    const patch = create(RouterSchema, { id: "upd-kind", auth: { kind: { case: "bearer", value: { token: "" } } } });
    await rejects(
      client.updateRouter({ router: patch, updateMask: { paths: ["auth"] } }),
      Code.InvalidArgument,
      "router.auth.bearer.token",
    );
  });

  test("an empty mask replaces every writable field", async () => {
    await client.createRouter({ router: router("upd-all") });
    const replacement = router("upd-all", {
      displayName: "Replaced",
      headers: {},
      matchParams: [],
      auth: { kind: { case: "basic", value: { username: "lrs-user", password: "" } } },
    });
    const r = (await client.updateRouter({ router: replacement })).router!;
    assert.equal(r.displayName, "Replaced");
    assert.deepEqual(r.headers, {});
    assert.deepEqual(r.matchParams, []);
    assert.equal(store.get("upd-all")?.auth.kind, "basic");
  });

  test("unknown and output-only mask paths are InvalidArgument", async () => {
    await client.createRouter({ router: router("upd-paths") });
    const patch = create(RouterSchema, { id: "upd-paths" });
    await rejects(client.updateRouter({ router: patch, updateMask: { paths: ["colour"] } }), Code.InvalidArgument, "update_mask.paths[0]");
    await rejects(
      client.updateRouter({ router: patch, updateMask: { paths: ["enabled", "revision"] } }),
      Code.InvalidArgument,
      "update_mask.paths[1]",
    );
  });

  test("an update validates the merged router", async () => {
    await client.createRouter({ router: router("upd-invalid") });
    const patch = create(RouterSchema, { id: "upd-invalid", endpointUrl: "ftp://x" });
    await rejects(
      client.updateRouter({ router: patch, updateMask: { paths: ["endpoint_url"] } }),
      Code.InvalidArgument,
      "router.endpoint_url",
    );
  });

  test("a stale revision is Aborted and nothing is written", async () => {
    const created = (await client.createRouter({ router: router("upd-race") })).router!;
    await client.updateRouter({ router: create(RouterSchema, { id: "upd-race", enabled: false }), updateMask: { paths: ["enabled"] } });
    const stale = create(RouterSchema, { id: "upd-race", displayName: "lost", revision: created.revision });
    await rejects(client.updateRouter({ router: stale, updateMask: { paths: ["display_name"] } }), Code.Aborted);
    assert.equal((await client.getRouter({ id: "upd-race" })).router?.displayName, "Router upd-race");
  });

  test("concurrent updates of one router: every call either lands or is Aborted, none is lost silently", async () => {
    await client.createRouter({ router: router("upd-concurrent") });
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        client.updateRouter({
          router: create(RouterSchema, { id: "upd-concurrent", displayName: `v${i}` }),
          updateMask: { paths: ["display_name"] },
        }),
      ),
    );
    const ok = results.filter((r) => r.status === "fulfilled");
    for (const r of results) if (r.status === "rejected") assert.equal((r.reason as ConnectError).code, Code.Aborted);
    assert.ok(ok.length >= 1);
    // All eight read the same revision before any write lands, so the optimistic check must reject some.
    assert.ok(ok.length < results.length, "no update was Aborted: the revision check is not applied");
    const final = (await client.getRouter({ id: "upd-concurrent" })).router!;
    const last = ok.map((r) => r.value.router!).sort((a, b) => Number(b.revision - a.revision))[0]!;
    assert.equal(final.displayName, last.displayName, "the highest successful revision is what is stored");
  });
});

describe("validation names the proto field", () => {
  const bad: Array<[string, RouterInitFn, string]> = [
    ["id pattern", () => ({ id: "Bad Id!" }), "router.id"],
    ["empty id", () => ({ id: "" }), "router.id"],
    ["backend unspecified", () => ({ backend: Backend.UNSPECIFIED }), "router.backend"],
    ["endpoint scheme", () => ({ endpointUrl: "ftp://lrs.example.com" }), "router.endpoint_url: expected an http or https URL"],
    ["endpoint not a URL", () => ({ endpointUrl: "not a url" }), "router.endpoint_url"],
    ["endpoint with credentials", () => ({ endpointUrl: "https://u:p@lrs.example.com" }), "router.endpoint_url"],
    [
      "basic without username",
      () => ({ auth: { kind: { case: "basic", value: { username: "", password: SECRET } } } }),
      "router.auth.basic.username",
    ],
    [
      "basic without password",
      () => ({ auth: { kind: { case: "basic", value: { username: "u", password: "" } } } }),
      "router.auth.basic.password",
    ],
    ["bearer without token", () => ({ auth: { kind: { case: "bearer", value: { token: "" } } } }), "router.auth.bearer.token"],
    [
      "match param without pattern",
      () => ({
        matchParams: [
          { path: "name", patterns: ["x"] },
          { path: "context.org_id", patterns: [] },
        ],
      }),
      "router.match_params[1].patterns",
    ],
    ["match param bad path", () => ({ matchParams: [{ path: "a..b", patterns: ["x"] }] }), "router.match_params[0].path"],
    [
      "match param bad regex",
      () => ({ matchParams: [{ path: "name", patterns: ["ok", "(unclosed"] }] }),
      "router.match_params[0].patterns[1]",
    ],
    ["header name not a token", () => ({ headers: { "Bad Header": "v" } }), 'router.headers["Bad Header"]'],
    ["header value with CRLF", () => ({ headers: { "X-Ok": "a\r\nInjected: 1" } }), 'router.headers["X-Ok"]'],
    ["reserved Authorization", () => ({ headers: { authorization: "Basic x" } }), 'router.headers["authorization"]'],
    ["reserved xAPI version", () => ({ headers: { "X-Experience-API-Version": "1.0.0" } }), 'router.headers["X-Experience-API-Version"]'],
    ["reserved Content-Type", () => ({ headers: { "Content-Type": "text/plain" } }), "Content-Type"],
    ["batch size too big", () => ({ delivery: { batchSize: 10_001 } }), "router.delivery.batch_size"],
    ["max retries too big", () => ({ delivery: { maxRetries: 101 } }), "router.delivery.max_retries"],
    [
      "http timeout not below countdown",
      () => ({ delivery: { countdown: durationFromMs(5_000), httpTimeout: durationFromMs(5_000) } }),
      "router.delivery.http_timeout",
    ],
    ["countdown below default http timeout", () => ({ delivery: { countdown: durationFromMs(2_000) } }), "router.delivery.countdown"],
    [
      "backoff not above http timeout",
      () => ({ delivery: { maxRetries: 3, httpTimeout: durationFromMs(5_000), backoff: [durationFromMs(6_000), durationFromMs(5_000)] } }),
      "router.delivery.backoff[1]",
    ],
    [
      "backoff longer than retries (nats 2.9)",
      () => ({ delivery: { maxRetries: 2, httpTimeout: durationFromMs(1_000), backoff: [2_000, 4_000, 8_000].map(durationFromMs) } }),
      "router.delivery.backoff",
    ],
    ["negative duration", () => ({ delivery: { batchInterval: durationFromMs(-5) } }), "router.delivery.batch_interval"],
  ];
  for (const [name, extra, field] of bad) {
    test(name, async () => {
      const base = router("valid-id");
      const r = router(base.id, extra());
      await rejects(client.createRouter({ router: r }), Code.InvalidArgument, field);
    });
  }

  test("a missing router is InvalidArgument", async () => {
    await rejects(client.createRouter({}), Code.InvalidArgument, "router");
  });

  test("backoff of exactly max_retries entries is accepted", async () => {
    const r = router("backoff-ok", {
      delivery: { maxRetries: 3, httpTimeout: durationFromMs(1_000), backoff: [2_000, 4_000, 8_000].map(durationFromMs) },
    });
    const created = (await client.createRouter({ router: r })).router!;
    assert.deepEqual(
      created.delivery?.backoff.map((d) => Number(d.seconds)),
      [2, 4, 8],
    );
  });

  test("nothing invalid was stored", () => {
    assert.equal(store.get("valid-id"), undefined);
  });
});

type RouterInitFn = () => RouterInit;

describe("GetRouterStatus", () => {
  test("without delivery in this instance it is FailedPrecondition", async () => {
    await rejects(client.getRouterStatus({}), Code.FailedPrecondition, "delivery is not running");
  });

  test("delegates to the status provider", async () => {
    const seen: Array<string | undefined> = [];
    const provider: RouterStatusProvider = {
      async status(id) {
        seen.push(id);
        return [
          {
            routerId: id ?? "all",
            pending: 4,
            inFlight: 1,
            redelivered: 2,
            delivered: 10,
            failed: 1,
            failedStored: 1,
            lastError: "HTTP 503",
            lastErrorTime: new Date(1_700_000_000_000),
          },
        ];
      },
    };
    const transport = createRouterTransport(
      ({ service }) => service(RouterAdminService, createRouterAdminService({ store, status: provider })),
      {
        router: { interceptors: [errorMappingInterceptor] },
      },
    );
    const c = createClient(RouterAdminService, transport);
    const one = await c.getRouterStatus({ id: "crud-a" });
    const all = await c.getRouterStatus({});
    assert.deepEqual(seen, ["crud-a", undefined]);
    assert.equal(one.statuses[0]?.pending, 4n);
    assert.equal(one.statuses[0]?.lastError, "HTTP 503");
    assert.equal(one.statuses[0]?.lastErrorTime?.seconds, 1_700_000_000n);
    assert.equal(all.statuses[0]?.routerId, "all");
    await rejects(c.getRouterStatus({ id: "Bad Id" }), Code.InvalidArgument, "id");
  });
});
