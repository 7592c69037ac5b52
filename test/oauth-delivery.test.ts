/**
 * OAuth 2 client credentials delivery against a real authorization server (node-oidc-provider, short-lived opaque
 * tokens for one resource) and an LRS that validates every token through the provider's introspection endpoint:
 * deliveries run across several token expiries with no failed attempt; a token the provider forgot is replaced on
 * the LRS's 401 before the attempt counts; a revoked client (its secret rotated at the provider) PAUSES the router
 * with the token endpoint's reason, loses nothing and uses no attempt (max_retries 0 here: a counted attempt would
 * exhaust the statement), and delivery resumes after the router is updated with the new secret; an unreachable
 * token endpoint pauses the router too, which resumes by itself when the endpoint is back. TestRouter's probe
 * authenticates the same way. No secret or token is ever logged or shown in the status.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { startDelivery, type Delivery } from "../src/delivery/delivery.js";
import { probeRouter } from "../src/delivery/http/router-probe.js";
import { natsNames } from "../src/nats/names.js";
import type { OAuth2Auth, RouterConfig } from "../src/routing/router-model.js";
import {
  captureLogger,
  fakeStatement,
  makeRouter,
  MemoryRouterSource,
  publishStatements,
  TEST_DEFAULTS,
} from "./support/delivery-harness.js";
import { waitUntil } from "./support/http-endpoints.js";
import { startJetStream, type TestNatsServer } from "./support/nats-server.js";
import { IntrospectingLrs, startOAuthProvider, type OAuthClient, type OAuthProvider } from "./support/oauth-provider.js";

const names = natsNames("oauth");
const RESOURCE = "https://lrs.school.example/xapi";
const SCOPE = "statements/write";
const DELIVERY_CLIENT: OAuthClient = { clientId: "event-routing-delivery", clientSecret: "delivery-secret-9f8e7d6c5b4a3210" };
const ROTATED: OAuthClient = { clientId: DELIVERY_CLIENT.clientId, clientSecret: "rotated-secret-0a1b2c3d4e5f67890" };
const LRS_CLIENT: OAuthClient = { clientId: "school-lrs", clientSecret: "lrs-introspection-secret-13579bdf" };
const ROUTER = "oauth-lrs";

let nats: TestNatsServer;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let provider: OAuthProvider;
let lrs: IntrospectingLrs;
let routers: MemoryRouterSource;
let delivery: Delivery;
const log = captureLogger();

before(async () => {
  ({ nats, nc, js, jsm } = await startJetStream(names));
  provider = await startOAuthProvider({ clients: [DELIVERY_CLIENT, LRS_CLIENT], resource: RESOURCE, scope: SCOPE, tokenTtlSeconds: 2 });
  lrs = await IntrospectingLrs.start({
    introspectionUrl: provider.introspectionUrl,
    lrsClient: LRS_CLIENT,
    resource: RESOURCE,
    scope: SCOPE,
  });
  routers = new MemoryRouterSource();
  delivery = await startDelivery({
    nc,
    names,
    routers,
    defaults: TEST_DEFAULTS,
    caliperSensorId: "http://localhost:18000",
    logger: log.logger,
  });
});

after(async () => {
  await delivery?.stop();
  await lrs?.close();
  await provider?.close();
  await nc?.close();
  await nats?.stop();
});

function oauthRouter(client: OAuthClient): RouterConfig {
  const auth: OAuth2Auth = { kind: "oauth2", tokenUrl: provider.tokenUrl, ...client, scope: SCOPE, audience: RESOURCE };
  // max_retries 0: any attempt that counted would exhaust its statement, so "nothing failed" proves none did.
  return makeRouter(
    ROUTER,
    lrs.url,
    { auth },
    { batchSize: 5, batchIntervalMs: 50, maxRetries: 0, countdownMs: 1500, httpTimeoutMs: 1000 },
  );
}

async function publish(n: number): Promise<string[]> {
  const st = Array.from({ length: n }, () => fakeStatement());
  await publishStatements(js, names, ROUTER, st);
  return st.map((s) => String(s["id"]));
}

const allStored = (ids: readonly string[]) => ids.every((id) => lrs.stored.has(id));

async function status() {
  const [s] = await delivery.status.status(ROUTER);
  return s!;
}

test("deliveries across several token expiries: every statement stored once, no attempt failed or repeated", async (t) => {
  routers.put(oauthRouter(DELIVERY_CLIENT));
  await delivery.settled();
  const ids: string[] = [];
  // Eight waves 0.9 s apart span about four 2 s token lifetimes.
  for (let wave = 0; wave < 8; wave++) {
    ids.push(...(await publish(5)));
    await waitUntil(() => allStored(ids), 10_000, `wave ${wave} stored`);
    await new Promise((r) => setTimeout(r, 900));
  }
  t.diagnostic(`tokens used: ${lrs.tokensAccepted.size}; 401s (each repeated with a new token): ${lrs.refusals().length}`);
  assert.ok(lrs.tokensAccepted.size >= 3, `tokens used: ${lrs.tokensAccepted.size} (expected one per lifetime crossed)`);
  assert.ok(
    ids.every((id) => lrs.stored.get(id) === 1),
    "each stored exactly once",
  );
  const s = await status();
  assert.equal(s.failed, 0);
  assert.equal(s.state, "active");
  const c = await jsm.consumers.info(names.deliveryStream, names.deliveryConsumer(ROUTER));
  assert.equal(c.num_redelivered, 0);
  assert.equal(c.delivered.consumer_seq, ids.length, "each statement handed out once: no redelivery, no nak");
});

test("a token the provider no longer knows is replaced on the LRS's 401 and the request repeated: no attempt used", async () => {
  // A long lifetime, so the cached token is still in date when the provider forgets it.
  await provider.restart({ tokenTtlSeconds: 120 });
  const first = await publish(5);
  await waitUntil(() => allStored(first), 10_000, "first batch stored with a token of the restarted provider");
  await provider.restart();
  const refusalsBefore = lrs.refusals().length;
  const tokensBefore = lrs.tokensAccepted.size;
  const second = await publish(5);
  await waitUntil(() => allStored(second), 10_000, "second batch stored after one 401");
  assert.equal(lrs.refusals().length - refusalsBefore, 1, "one 401 (the forgotten token), then the new token was accepted");
  assert.equal(lrs.tokensAccepted.size - tokensBefore, 1);
  const s = await status();
  assert.equal(s.failed, 0);
  assert.equal(s.state, "active");
  assert.equal((await jsm.consumers.info(names.deliveryStream, names.deliveryConsumer(ROUTER))).num_redelivered, 0);
});

test("a revoked client pauses the router with the token endpoint's reason; updating the secret resumes delivery", async () => {
  // The provider now knows the client only with another secret: the router's is revoked.
  await provider.restart({ clients: [ROTATED, LRS_CLIENT] });
  const ids = await publish(5);
  await waitUntil(async () => (await status()).state === "paused", 10_000, "router PAUSED");
  const paused = await status();
  assert.match(paused.stateReason ?? "", /OAuth 2 token request failed: token endpoint refused: HTTP 401 invalid_client/);
  assert.equal(paused.failed, 0, "no statement exhausted (max_retries 0)");
  assert.ok(!ids.some((id) => lrs.stored.has(id)));

  routers.put(oauthRouter(ROTATED));
  await waitUntil(() => allStored(ids), 10_000, "delivered after the router got the new secret");
  await waitUntil(async () => (await status()).state === "active", 5000, "ACTIVE again");
  assert.equal((await status()).failed, 0);
});

test("an unreachable token endpoint pauses the router; it resumes by itself when the endpoint is back", async () => {
  await provider.stop();
  const ids = await publish(5);
  await waitUntil(async () => (await status()).state === "paused", 10_000, "router PAUSED");
  assert.match((await status()).stateReason ?? "", /token endpoint unreachable: ECONNREFUSED/);
  await provider.restart();
  // The held batch is probed again after the countdown (1.5 s), then with a growing backoff.
  await waitUntil(() => allStored(ids), 20_000, "delivered once the token endpoint answers");
  await waitUntil(async () => (await status()).state === "active", 5000, "ACTIVE again");
  assert.equal((await status()).failed, 0);
});

test("TestRouter's probe authenticates as delivery does: a token for /about, or the token endpoint's refusal", async () => {
  const good = await probeRouter(oauthRouter(ROTATED), { timeoutMs: 2000, caliperSensorId: "x" });
  assert.deepEqual([good.ok, good.httpStatus, good.xapiVersions], [true, 200, ["1.0.3"]]);
  const revoked = await probeRouter(oauthRouter(DELIVERY_CLIENT), { timeoutMs: 2000, caliperSensorId: "x" });
  assert.deepEqual([revoked.ok, revoked.httpStatus], [false, 0]);
  assert.match(revoked.verdict, /no OAuth 2 access token: delivery would pause the router/);
  assert.match(revoked.detail, /token endpoint refused: HTTP 401 invalid_client/);
  assert.ok(!JSON.stringify(revoked).includes(DELIVERY_CLIENT.clientSecret));
});

test("no client secret or access token is ever logged or shown in the status", async () => {
  const text = JSON.stringify([log.lines, await status()]);
  for (const secret of [DELIVERY_CLIENT.clientSecret, ROTATED.clientSecret, ...lrs.tokensAccepted]) {
    assert.ok(!text.includes(secret), "a secret or token reached the logs or the status");
  }
  assert.ok(
    log.lines.some((l) => String(l["msg"]).includes("router PAUSED")),
    "the pauses were logged",
  );
});
