/**
 * Router secrets and input limits through the real service (startService, a real nats-server, a Connect client
 * over HTTP): header values are write-only, an endpoint change never carries stored secrets to the new host,
 * an OAuth 2 client secret is bound to the endpoint and the token URL, rate limits are validated,
 * headers that break HTTP framing and malformed endpoint URLs are refused, and an oversized router is the
 * caller's error (InvalidArgument), not NATS being down (Unavailable).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Kvm } from "@nats-io/kv";
import { pino } from "pino";
import { Backend } from "../gen/eventrouting/v1/event_pb.js";
import { RouterAdminService, RouterSchema, type Router } from "../gen/eventrouting/v1/router_admin_service_pb.js";
import { loadConfig } from "../src/config.js";
import { natsNames } from "../src/nats/names.js";
import { startService, type RunningService } from "../src/service.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";

const ADMIN_TOKEN = "admin-token-for-router-secrets";
const PASSWORD = "pw-Secrets-3c9d-never-echo";
const TOKEN = "tok-Secrets-77aa-never-echo";
const API_KEY = "key-Secrets-5e1f-never-echo";
const CLIENT_SECRET = "client-Secrets-a1b2-never-echo";
const call = { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } };

type RouterInit = MessageInitShape<typeof RouterSchema>;

function router(id: string, extra: RouterInit = {}): Router {
  return create(RouterSchema, {
    id,
    backend: Backend.XAPI,
    endpointUrl: "https://lrs.school.example/xapi",
    auth: { kind: { case: "basic", value: { username: "school", password: PASSWORD } } },
    enabled: true,
    headers: { "X-Api-Key": API_KEY, "X-Tenant": "school-1" },
    ...extra,
  } as RouterInit);
}

const basic = (password: string) => ({ kind: { case: "basic" as const, value: { username: "school", password } } });

async function startAgainst(nats: TestNatsServer): Promise<{ service: RunningService; admin: Client<typeof RouterAdminService> }> {
  const config = loadConfig({
    NATS_URL: nats.url,
    PORT: "0",
    ADMIN_TOKENS: ADMIN_TOKEN,
    EMIT_TOKENS: "emit-token-unused-0123456789",
    DELIVERY_ENABLED: "false",
    SHUTDOWN_GRACE_MS: "1000",
  });
  const service = await startService({ ...config, natsUrl: nats.url }, pino({ level: "silent" }));
  const admin = createClient(
    RouterAdminService,
    createConnectTransport({ baseUrl: `http://127.0.0.1:${service.port}`, httpVersion: "1.1" }),
  );
  return { service, admin };
}

async function rejects(p: Promise<unknown>, code: Code, messagePart: string): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    const err = ConnectError.from(e);
    assert.equal(err.code, code, `code of "${err.rawMessage}"`);
    assert.ok(err.rawMessage.includes(messagePart), `"${err.rawMessage}" should mention ${messagePart}`);
    for (const secret of [PASSWORD, TOKEN, API_KEY, CLIENT_SECRET]) assert.ok(!err.rawMessage.includes(secret), "error echoes a secret");
    return err;
  }
  assert.fail(`expected ${Code[code]}`);
}

function assertNoSecrets(value: unknown): void {
  const json = JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
  for (const secret of [PASSWORD, TOKEN, API_KEY, CLIENT_SECRET]) assert.ok(!json.includes(secret), "response carries a secret");
}

let nats: TestNatsServer;
let service: RunningService;
let admin: Client<typeof RouterAdminService>;

before(async () => {
  nats = await startNatsServer();
  ({ service, admin } = await startAgainst(nats));
});
after(async () => {
  await service?.close();
  await nats?.stop();
});

describe("header values are write-only", () => {
  test("Create, Get and List return header names with empty values; the values are stored", async () => {
    const created = (await admin.createRouter({ router: router("hdr-read") }, call)).router!;
    const got = (await admin.getRouter({ id: "hdr-read" }, call)).router!;
    const listed = (await admin.listRouters({}, call)).routers.find((r) => r.id === "hdr-read")!;
    for (const r of [created, got, listed]) {
      assert.deepEqual(r.headers, { "X-Api-Key": "", "X-Tenant": "" });
      assertNoSecrets(r);
    }
    assert.deepEqual(service.routers.get("hdr-read")?.headers, { "X-Api-Key": API_KEY, "X-Tenant": "school-1" });
  });

  test("an update that sends back what Get returned keeps every stored value", async () => {
    await admin.createRouter({ router: router("hdr-keep") }, call);
    const got = (await admin.getRouter({ id: "hdr-keep" }, call)).router!;
    const edited = create(RouterSchema, { ...got, displayName: "edited", headers: { ...got.headers, "X-New": "v" } });
    const updated = (await admin.updateRouter({ router: edited }, call)).router!;
    assert.equal(updated.displayName, "edited");
    assert.deepEqual(service.routers.get("hdr-keep")?.headers, { "X-Api-Key": API_KEY, "X-Tenant": "school-1", "X-New": "v" });
    assert.deepEqual(service.routers.get("hdr-keep")?.auth, { kind: "basic", username: "school", password: PASSWORD });
  });

  test("an empty value for a header that has no stored value is refused", async () => {
    const r = router("hdr-empty", { headers: { "X-Api-Key": "" } });
    await rejects(admin.createRouter({ router: r }, call), Code.InvalidArgument, 'router.headers["X-Api-Key"]: expected a value');
  });
});

describe("an endpoint change needs the secrets again", () => {
  const moved = "https://attacker.example/collect";

  test("update_mask [endpoint_url] alone is refused while credentials are stored, and nothing changes", async () => {
    const before = (await admin.createRouter({ router: router("mv-mask") }, call)).router!;
    const patch = create(RouterSchema, { id: "mv-mask", endpointUrl: moved });
    await rejects(
      admin.updateRouter({ router: patch, updateMask: { paths: ["endpoint_url"] } }, call),
      Code.InvalidArgument,
      "router.auth:",
    );
    const after = (await admin.getRouter({ id: "mv-mask" }, call)).router!;
    assert.equal(after.endpointUrl, "https://lrs.school.example/xapi");
    assert.equal(after.revision, before.revision);
  });

  test("update_mask [endpoint_url, auth] with new credentials is still refused while header values are stored", async () => {
    await admin.createRouter({ router: router("mv-hdr-kept") }, call);
    const patch = create(RouterSchema, { id: "mv-hdr-kept", endpointUrl: moved, auth: basic("new-password") });
    const update = admin.updateRouter({ router: patch, updateMask: { paths: ["endpoint_url", "auth"] } }, call);
    await rejects(update, Code.InvalidArgument, "router.headers:");
  });

  test("a full update with the password left empty is refused, naming the password", async () => {
    await admin.createRouter({ router: router("mv-empty-pw") }, call);
    const patch = router("mv-empty-pw", { endpointUrl: moved, auth: basic("") });
    await rejects(admin.updateRouter({ router: patch }, call), Code.InvalidArgument, "router.auth.basic.password:");
    assert.equal(service.routers.get("mv-empty-pw")?.endpointUrl, "https://lrs.school.example/xapi");
  });

  test("a bearer token left empty is refused the same way", async () => {
    await admin.createRouter(
      { router: router("mv-bearer", { auth: { kind: { case: "bearer", value: { token: TOKEN } } }, headers: {} }) },
      call,
    );
    const patch = create(RouterSchema, { id: "mv-bearer", endpointUrl: moved, auth: { kind: { case: "bearer", value: { token: "" } } } });
    const update = admin.updateRouter({ router: patch, updateMask: { paths: ["endpoint_url", "auth"] } }, call);
    await rejects(update, Code.InvalidArgument, "router.auth.bearer.token:");
  });

  test("a header value left empty is refused, naming the header", async () => {
    await admin.createRouter({ router: router("mv-empty-hdr") }, call);
    const patch = router("mv-empty-hdr", {
      endpointUrl: moved,
      auth: basic("new-password"),
      headers: { "X-Api-Key": "", "X-Tenant": "school-1" },
    });
    await rejects(admin.updateRouter({ router: patch }, call), Code.InvalidArgument, 'router.headers["X-Api-Key"]:');
  });

  test("with the credentials and header values supplied again the endpoint moves, with exactly the new secrets", async () => {
    await admin.createRouter({ router: router("mv-ok") }, call);
    const patch = create(RouterSchema, {
      id: "mv-ok",
      endpointUrl: "https://new-lrs.school.example/xapi",
      auth: basic("new-password"),
      headers: { "X-Api-Key": "new-key" },
    });
    const updated = (await admin.updateRouter({ router: patch, updateMask: { paths: ["endpoint_url", "auth", "headers"] } }, call)).router!;
    assert.equal(updated.endpointUrl, "https://new-lrs.school.example/xapi");
    const stored = service.routers.get("mv-ok")!;
    assert.deepEqual(stored.auth, { kind: "basic", username: "school", password: "new-password" });
    assert.deepEqual(stored.headers, { "X-Api-Key": "new-key" }, "a header not supplied again is dropped, not carried over");
  });

  test("clearing the credentials and headers in the same update moves the endpoint", async () => {
    await admin.createRouter({ router: router("mv-clear") }, call);
    const patch = create(RouterSchema, { id: "mv-clear", endpointUrl: "https://other.school.example/xapi" });
    await admin.updateRouter({ router: patch, updateMask: { paths: ["endpoint_url", "auth", "headers"] } }, call);
    const stored = service.routers.get("mv-clear")!;
    assert.deepEqual(stored.auth, { kind: "none" });
    assert.deepEqual(stored.headers, {});
  });

  test("without an endpoint change, an empty password and mask [auth] still keep the stored password", async () => {
    await admin.createRouter({ router: router("mv-same") }, call);
    const patch = create(RouterSchema, {
      id: "mv-same",
      endpointUrl: "https://lrs.school.example/xapi",
      auth: { kind: { case: "basic", value: { username: "renamed", password: "" } } },
    });
    await admin.updateRouter({ router: patch, updateMask: { paths: ["endpoint_url", "auth"] } }, call);
    assert.deepEqual(service.routers.get("mv-same")?.auth, { kind: "basic", username: "renamed", password: PASSWORD });
  });
});

describe("an OAuth 2 client secret is write-only and bound to the endpoint and the token URL", () => {
  const oauth2 = (clientSecret: string, tokenUrl = "https://idp.school.example/token") => ({
    kind: {
      case: "oauth2" as const,
      value: { tokenUrl, clientId: "event-routing", clientSecret, scope: "statements/write", audience: "https://lrs.school.example/xapi" },
    },
  });
  const oauthRouter = (id: string, clientSecret = CLIENT_SECRET) => router(id, { auth: oauth2(clientSecret), headers: {} });

  test("Create and Get return every setting but the secret (has_secret); the secret is stored", async () => {
    const created = (await admin.createRouter({ router: oauthRouter("oa-read") }, call)).router!;
    const got = (await admin.getRouter({ id: "oa-read" }, call)).router!;
    for (const r of [created, got]) {
      assert.equal(r.auth?.kind.case, "oauth2");
      assert.deepEqual(r.auth?.kind.value, { ...oauth2("").kind.value, $typeName: "eventrouting.v1.OAuth2ClientCredentials" });
      assert.equal(r.auth?.hasSecret, true);
      assertNoSecrets(r);
    }
    const stored = service.routers.get("oa-read")?.auth;
    assert.equal(stored?.kind === "oauth2" ? stored.clientSecret : undefined, CLIENT_SECRET);
  });

  test("an empty secret keeps the stored one while both URLs stay", async () => {
    await admin.createRouter({ router: oauthRouter("oa-keep") }, call);
    const patch = create(RouterSchema, {
      id: "oa-keep",
      auth: { ...oauth2(""), kind: { ...oauth2("").kind, value: { ...oauth2("").kind.value, scope: "statements/read statements/write" } } },
    });
    await admin.updateRouter({ router: patch, updateMask: { paths: ["auth"] } }, call);
    const stored = service.routers.get("oa-keep")?.auth;
    assert.deepEqual(stored?.kind === "oauth2" && [stored.clientSecret, stored.scope], [CLIENT_SECRET, "statements/read statements/write"]);
  });

  test("a new token_url with the secret left empty is refused, naming the secret and why", async () => {
    await admin.createRouter({ router: oauthRouter("oa-token-url") }, call);
    const patch = create(RouterSchema, { id: "oa-token-url", auth: oauth2("", "https://attacker.example/token") });
    const update = admin.updateRouter({ router: patch, updateMask: { paths: ["auth"] } }, call);
    await rejects(update, Code.InvalidArgument, "router.auth.oauth2.client_secret: is required again because token_url changes");
    const stored = service.routers.get("oa-token-url")?.auth;
    assert.equal(stored?.kind === "oauth2" ? stored.tokenUrl : undefined, "https://idp.school.example/token");
  });

  test("a new endpoint_url needs the secret again, with or without auth in the mask", async () => {
    await admin.createRouter({ router: oauthRouter("oa-endpoint") }, call);
    const moved = "https://attacker.example/collect";
    await rejects(
      admin.updateRouter(
        { router: create(RouterSchema, { id: "oa-endpoint", endpointUrl: moved }), updateMask: { paths: ["endpoint_url"] } },
        call,
      ),
      Code.InvalidArgument,
      "router.auth:",
    );
    const patch = create(RouterSchema, { id: "oa-endpoint", endpointUrl: moved, auth: oauth2("") });
    await rejects(
      admin.updateRouter({ router: patch, updateMask: { paths: ["endpoint_url", "auth"] } }, call),
      Code.InvalidArgument,
      "router.auth.oauth2.client_secret: is required again because endpoint_url changes",
    );
    const resupplied = create(RouterSchema, { id: "oa-endpoint", endpointUrl: moved, auth: oauth2("a-new-client-secret-0123") });
    await admin.updateRouter({ router: resupplied, updateMask: { paths: ["endpoint_url", "auth"] } }, call);
    assert.equal(service.routers.get("oa-endpoint")?.endpointUrl, moved);
  });

  test("bad OAuth 2 settings are refused with the field named", async () => {
    const bad = (id: string, value: Record<string, string>) =>
      router(id, { auth: { kind: { case: "oauth2", value: { ...oauth2(CLIENT_SECRET).kind.value, ...value } } }, headers: {} });
    await rejects(
      admin.createRouter({ router: bad("oa-bad1", { tokenUrl: "ftp://idp.example/token" }) }, call),
      Code.InvalidArgument,
      "router.auth.oauth2.token_url: expected an http or https URL",
    );
    await rejects(
      admin.createRouter({ router: bad("oa-bad2", { tokenUrl: "https://u:p@idp.example/token" }) }, call),
      Code.InvalidArgument,
      "router.auth.oauth2.token_url: must not contain credentials",
    );
    await rejects(
      admin.createRouter({ router: bad("oa-bad3", { clientId: "" }) }, call),
      Code.InvalidArgument,
      "router.auth.oauth2.client_id: a client id is required",
    );
    await rejects(
      admin.createRouter({ router: bad("oa-bad4", { clientSecret: "" }) }, call),
      Code.InvalidArgument,
      "router.auth.oauth2.client_secret: a client secret is required",
    );
    await rejects(
      admin.createRouter({ router: bad("oa-bad5", { scope: 'a "quoted" scope' }) }, call),
      Code.InvalidArgument,
      "router.auth.oauth2.scope: expected space-separated scope tokens",
    );
  });
});

describe("delivery.rate_limit", () => {
  test("stored and returned; a missing period or zero requests is refused with the field named", async () => {
    const limited = router("rl-ok", { delivery: { rateLimit: { requests: 3000, period: { seconds: 60n } } } });
    const created = (await admin.createRouter({ router: limited }, call)).router!;
    assert.equal(created.delivery?.rateLimit?.requests, 3000);
    assert.equal(created.delivery?.rateLimit?.period?.seconds, 60n);
    assert.deepEqual(service.routers.get("rl-ok")?.delivery.rateLimit, { requests: 3000, periodMs: 60_000 });
    await rejects(
      admin.createRouter({ router: router("rl-noperiod", { delivery: { rateLimit: { requests: 10 } } }) }, call),
      Code.InvalidArgument,
      "router.delivery.rate_limit.period: expected 1s to 1h",
    );
    await rejects(
      admin.createRouter({ router: router("rl-zero", { delivery: { rateLimit: { requests: 0, period: { seconds: 1n } } } }) }, call),
      Code.InvalidArgument,
      "router.delivery.rate_limit.requests: expected 1 to 1000000",
    );
    // Removed with the mask path and no value.
    await admin.updateRouter({ router: create(RouterSchema, { id: "rl-ok" }), updateMask: { paths: ["delivery.rate_limit"] } }, call);
    assert.equal(service.routers.get("rl-ok")?.delivery.rateLimit, undefined);
  });
});

describe("deleting a router removes its secrets from the bucket", () => {
  test("no earlier value (with its password or header values) stays in the routers bucket's history", async () => {
    await admin.createRouter({ router: router("del-history") }, call);
    await admin.updateRouter(
      { router: create(RouterSchema, { id: "del-history", enabled: false }), updateMask: { paths: ["enabled"] } },
      call,
    );
    await admin.deleteRouter({ id: "del-history" }, call);
    const kv = await new Kvm(service.nc).open(natsNames("eventrouting").routersBucket);
    const entries: Array<{ operation: string; value: string }> = [];
    for await (const e of await kv.history({ key: "del-history" })) entries.push({ operation: e.operation, value: e.string() });
    assert.ok(entries.length > 0, "the key's marker is there");
    assert.deepEqual(
      entries.map((e) => e.operation),
      ["PURGE"],
    );
    for (const e of entries) assertNoSecrets(e.value);
    await rejects(admin.getRouter({ id: "del-history" }, call), Code.NotFound, "del-history");
    const again = (await admin.createRouter({ router: router("del-history") }, call)).router!;
    assert.equal(again.id, "del-history");
  });
});

describe("headers that break HTTP are refused", () => {
  const framing = ["Transfer-Encoding", "Content-Length", "Connection", "Expect", "Host", "Cookie"];
  framing.push("Keep-Alive", "Upgrade", "TE", "Trailer", "Proxy-Connection", "Content-Encoding");
  for (const name of framing) {
    test(name, async () => {
      const r = router("hdr-bad", { headers: { [name]: "x" } });
      await rejects(admin.createRouter({ router: r }, call), Code.InvalidArgument, `router.headers[${JSON.stringify(name)}]`);
    });
  }

  test("the same name twice in different case", async () => {
    const r = router("hdr-dup", { headers: { "X-Key": "a", "x-key": "b" } });
    await rejects(admin.createRouter({ router: r }, call), Code.InvalidArgument, 'router.headers["x-key"]');
  });

  test("more than 32 headers", async () => {
    const headers = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`X-H${i}`, "v"]));
    await rejects(
      admin.createRouter({ router: router("hdr-many", { headers }) }, call),
      Code.InvalidArgument,
      "router.headers: has 33 headers",
    );
    const ok = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`X-H${i}`, "v"]));
    await admin.createRouter({ router: router("hdr-32", { headers: ok }) }, call);
  });

  test("more than 8 KiB of headers in total", async () => {
    const headers = { "X-A": "a".repeat(5000), "X-B": "b".repeat(5000) };
    await rejects(
      admin.createRouter({ router: router("hdr-big", { headers }) }, call),
      Code.InvalidArgument,
      "router.headers: are 10006 bytes",
    );
  });

  test("nothing refused was stored", () => {
    for (const id of ["hdr-bad", "hdr-dup", "hdr-many", "hdr-big", "hdr-empty"]) assert.equal(service.routers.get(id), undefined, id);
  });
});

describe("malformed endpoint URLs are refused", () => {
  const bad: Array<[string, string, string]> = [
    ["a NUL byte", "https://lrs.school.example/x\u0000y", "control characters"],
    ["a tab in the host", "https://lrs.sch\tool.example/x", "control characters"],
    ["a newline", "https://lrs.school.example/x\r\nHost: evil", "control characters"],
    ["DEL", "https://lrs.school.example/\u007f", "control characters"],
    ["an empty host", "http:///lrs.school.example/x", "expected a host"],
    ["empty credentials", "http://:@lrs.school.example/x", "credentials"],
    ["an empty user", "http://@lrs.school.example/x", "credentials"],
    ["credentials", "https://u:p@lrs.school.example/x", "credentials"],
    ["a backslash authority", "http:\\\\evil.example\\x", "expected an http or https URL"],
    ["no slashes", "http:lrs.school.example", "expected an http or https URL"],
    ["a port only", "http://:8080/x", "expected an http or https URL"],
  ];
  for (const [name, url, message] of bad) {
    test(name, async () => {
      const err = await rejects(
        admin.createRouter({ router: router("url-bad", { endpointUrl: url }) }, call),
        Code.InvalidArgument,
        message,
      );
      assert.ok(err.rawMessage.startsWith("router.endpoint_url"), err.rawMessage);
    });
  }

  test("ordinary URLs, IPv6 and ports are accepted", async () => {
    for (const [i, url] of ["https://lrs.school.example/xapi/", "http://127.0.0.1:8080/x?tenant=1", "http://[::1]:9000/xapi"].entries()) {
      await admin.createRouter({ router: router(`url-ok-${i}`, { endpointUrl: url }) }, call);
    }
  });
});

describe("an oversized router is InvalidArgument, not Unavailable", () => {
  test("a router above the service's size limit is refused by validation", async () => {
    // 1.5 MiB: within READ_MAX_BYTES (4 MiB) but above NATS's default max_payload (1 MiB).
    const big = create(RouterSchema, { ...router("big-1"), overrideArgs: { blob: "x".repeat(1_536 * 1024) } });
    await rejects(admin.createRouter({ router: big }, call), Code.InvalidArgument, "router: is ");
  });

  test("a router within the service's limit but above the NATS server's max_payload is refused by the store", async () => {
    const dir = mkdtempSync(join(tmpdir(), "er-small-payload-"));
    const conf = join(dir, "nats.conf");
    writeFileSync(conf, "max_payload: 65536\n");
    const small = await startNatsServer({ extraArgs: ["-c", conf] });
    const other = await startAgainst(small);
    try {
      const big = create(RouterSchema, { ...router("big-2"), overrideArgs: { blob: "x".repeat(100 * 1024) } });
      await rejects(other.admin.createRouter({ router: big }, call), Code.InvalidArgument, "the NATS server accepts at most");
      await other.admin.createRouter({ router: router("small-ok") }, call);
      const patch = create(RouterSchema, { id: "small-ok", overrideArgs: { blob: "x".repeat(100 * 1024) } });
      const update = other.admin.updateRouter({ router: patch, updateMask: { paths: ["override_args"] } }, call);
      await rejects(update, Code.InvalidArgument, "the NATS server accepts at most");
    } finally {
      await other.service.close();
      await small.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
