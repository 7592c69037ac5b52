/**
 * The pure parts of OAuth 2 delivery (src/delivery/http/oauth-token.ts, authorizer.ts, redact.ts): the token
 * request as RFC 6749 section 4.4 and 2.3.1 want it, every kind of token endpoint answer, the 401 retry with a new
 * token (against a token source that counts its fetches), and the redaction of the client secret and issued tokens.
 * The end-to-end path against a real provider is test/oauth-delivery.test.ts.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { createAuthorizer } from "../src/delivery/http/authorizer.js";
import { HttpClient, RequestNotSentError } from "../src/delivery/http/http-send.js";
import { DEFAULT_TOKEN_LIFETIME_MS, readTokenAnswer, tokenRequest } from "../src/delivery/http/oauth-token.js";
import { createRedactor, REDACTED } from "../src/delivery/http/redact.js";
import type { OAuth2Auth } from "../src/routing/router-model.js";

const AUTH: OAuth2Auth = {
  kind: "oauth2",
  tokenUrl: "https://idp.example/oauth/token",
  clientId: "event:routing",
  clientSecret: "s3cret/with+form chars",
  scope: "statements/write",
  audience: "https://lrs.example/xapi",
};

test("the token request: client_credentials, Basic with form-encoded id and secret, scope, audience and resource", () => {
  const r = tokenRequest(AUTH, "event-routing/test");
  assert.equal(r.url.href, AUTH.tokenUrl);
  const [id, secret] = Buffer.from(r.headers["Authorization"]!.replace(/^Basic /, ""), "base64")
    .toString("utf8")
    .split(":");
  // RFC 6749 section 2.3.1: application/x-www-form-urlencoded before Basic, so ":" in an id stays unambiguous.
  assert.deepEqual([id, secret], ["event%3Arouting", "s3cret%2Fwith%2Bform+chars"]);
  assert.equal(r.headers["Content-Type"], "application/x-www-form-urlencoded");
  const body = new URLSearchParams(r.body);
  assert.deepEqual(Object.fromEntries(body), {
    grant_type: "client_credentials",
    scope: "statements/write",
    audience: "https://lrs.example/xapi",
    resource: "https://lrs.example/xapi",
  });
  // An audience that is not a URI is not a resource indicator (RFC 8707 wants an absolute URI); empty ones are left out.
  const plain = new URLSearchParams(tokenRequest({ ...AUTH, scope: "", audience: "lrs-api" }, "x").body);
  assert.deepEqual(Object.fromEntries(plain), { grant_type: "client_credentials", audience: "lrs-api" });
});

test("token answers: a Bearer token used until shortly before it expires; refusals and odd answers say why", () => {
  const ok = readTokenAnswer(200, JSON.stringify({ access_token: "abc", token_type: "Bearer", expires_in: 300 }), 1_000_000);
  assert.deepEqual(ok, { value: "abc", useUntil: 1_000_000 + 300_000 - 30_000 });
  // The margin is a tenth of the lifetime, at most a minute.
  assert.deepEqual(readTokenAnswer(200, '{"access_token":"a","token_type":"bearer","expires_in":3600}', 0), {
    value: "a",
    useUntil: 3_600_000 - 60_000,
  });
  assert.deepEqual(readTokenAnswer(200, '{"access_token":"a","token_type":"bearer","expires_in":"2"}', 0), { value: "a", useUntil: 1800 });
  assert.deepEqual(readTokenAnswer(200, '{"access_token":"a"}', 0), {
    value: "a",
    useUntil: DEFAULT_TOKEN_LIFETIME_MS - 60_000,
  });
  const problem = (status: number, body: string) => (readTokenAnswer(status, body, 0) as { problem: string }).problem;
  assert.equal(
    problem(401, '{"error":"invalid_client","error_description":"client authentication failed"}'),
    "token endpoint refused: HTTP 401 invalid_client: client authentication failed",
  );
  assert.equal(problem(400, '{"error":"invalid_scope"}'), "token endpoint refused: HTTP 400 invalid_scope");
  assert.equal(problem(503, "<html>down</html>"), "token endpoint unavailable: HTTP 503 <html>down</html>");
  assert.equal(problem(302, ""), "token endpoint redirected: HTTP 302");
  assert.equal(problem(200, "{}"), "token endpoint answered 200 without an access_token");
  assert.equal(problem(200, "not json"), "token endpoint answered 200 without an access_token");
  assert.match(problem(200, '{"access_token":"a","token_type":"DPoP"}'), /issued a "DPoP" token; only Bearer tokens can be sent/);
});

test("redaction: the client secret (raw, form-encoded), the client's Basic credential and every token issued", () => {
  const basic = tokenRequest(AUTH, "x").headers["Authorization"]!;
  const issued = ["tok-first-1234567890", "tok-second-0987654321"];
  const redact = createRedactor({ auth: AUTH, headers: {} }, 10_000, () => issued);
  const text =
    `secret=${AUTH.clientSecret} form=${new URLSearchParams({ s: AUTH.clientSecret }).toString().slice(2)} ` +
    `hdr=${basic} t1=Bearer ${issued[0]} t2=${issued[1]}`;
  const out = redact(text);
  for (const s of [AUTH.clientSecret, "s3cret%2Fwith%2Bform+chars", basic.slice(6), ...issued])
    assert.ok(!out.includes(s), `${s} in ${out}`);
  assert.equal(out.split(REDACTED).length - 1, 5);
});

/** A real token endpoint that counts requests and issues token-1, token-2, ... (or refuses, when told). */
let tokenServer: http.Server;
let issuedCount = 0;
let refuse = false;
before(async () => {
  tokenServer = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      if (refuse) {
        res.writeHead(401, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ error: "invalid_client", error_description: `bad secret ${AUTH.clientSecret}` }));
        return;
      }
      issuedCount++;
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ access_token: `token-${issuedCount}`, token_type: "Bearer", expires_in: 3600 }));
    });
  });
  await new Promise<void>((r) => tokenServer.listen(0, "127.0.0.1", r));
});
after(() => new Promise<void>((r) => tokenServer.close(() => r())));

test("authorizer: one token shared by concurrent requests; a 401 fetches a new one once and repeats the request", async () => {
  const client = new HttpClient();
  const tokenUrl = `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}/token`;
  const auth = createAuthorizer({ ...AUTH, tokenUrl }, { client, timeoutMs: 2000, userAgent: "x" });
  const seen: string[] = [];
  const answer = (status: number) => async (h: Record<string, string>) => {
    seen.push(h["Authorization"]!);
    return { status };
  };
  const results = await Promise.all([auth.send(answer(200)), auth.send(answer(200)), auth.send(answer(200))]);
  assert.deepEqual(
    results.map((r) => r.status),
    [200, 200, 200],
  );
  assert.equal(issuedCount, 1, "one fetch in flight for three requests");
  assert.deepEqual(seen, ["Bearer token-1", "Bearer token-1", "Bearer token-1"]);

  // The endpoint refuses the token once: a new one, the request repeated, its answer is the result.
  let calls = 0;
  const second = await auth.send(async (h) => {
    seen.push(h["Authorization"]!);
    return { status: ++calls === 1 ? 401 : 200 };
  });
  assert.equal(second.status, 200);
  assert.deepEqual(seen.slice(-2), ["Bearer token-1", "Bearer token-2"]);
  // Refused again with the new token: that 401 is the answer (the worker pauses), no third try.
  const third = await auth.send(answer(401));
  assert.equal(third.status, 401);
  assert.equal(issuedCount, 3);

  refuse = true;
  await assert.rejects(
    auth.send(answer(401)),
    (e: unknown) =>
      e instanceof RequestNotSentError &&
      e.pause &&
      e.message.startsWith("OAuth 2 token request failed: token endpoint refused: HTTP 401 invalid_client"),
  );
  assert.deepEqual(auth.changingSecrets(), ["token-3", "token-2"]);
  client.close();
});
