/**
 * TestRouter's pure parts (src/delivery/http/router-probe.ts): the probe request each backend gets, with delivery's
 * credentials and headers, and each kind of answer told in delivery's terms. The HTTP path runs through a real
 * service and receiver in test/cli-operator.test.ts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { judgeProbe, probeRequest } from "../src/delivery/http/router-probe.js";
import type { RouterConfig } from "../src/routing/router-model.js";

const router = (over: Partial<RouterConfig>): RouterConfig =>
  ({
    id: "r",
    displayName: "",
    backend: "xapi",
    endpointUrl: "https://lrs.example.org/xapi/",
    auth: { kind: "bearer", token: "tok-123" },
    enabled: true,
    matchParams: [],
    overrideArgs: {},
    headers: { "X-Tenant": "t1" },
    delivery: {},
    createTime: "",
    updateTime: "",
    revision: 1,
    ...over,
  }) as RouterConfig;

test("xAPI: GET <base>/about with the router's headers and the xAPI version header (credentials: the authorizer's)", () => {
  const req = probeRequest(router({}), "sensor");
  assert.equal(req.method, "GET");
  assert.equal(req.url.href, "https://lrs.example.org/xapi/about");
  // Added per request by delivery's authorizer (authorizer.ts), so a probe authenticates as delivery does.
  assert.equal(req.headers["Authorization"], undefined);
  assert.equal(req.headers["X-Tenant"], "t1");
  assert.equal(req.headers["X-Experience-API-Version"], "1.0.3");
  assert.equal(req.body, undefined);
});

test("Caliper: POST an envelope with no events to the endpoint itself, with override_args applied", () => {
  const req = probeRequest(router({ backend: "caliper", endpointUrl: "https://c.example.org/e", overrideArgs: { sensor: "s2" } }), "s1");
  assert.equal(req.method, "POST");
  assert.equal(req.url.href, "https://c.example.org/e");
  const envelope = JSON.parse(req.body!) as { sensor: string; data: unknown[] };
  assert.deepEqual([envelope.sensor, envelope.data], ["s2", []]);
});

test("answers in delivery's terms: an LRS's /about, a page that is not one, credentials, not found, redirect, unavailable", () => {
  assert.deepEqual(judgeProbe("xapi", 200, '{"version":["1.0.3"]}', undefined), {
    ok: true,
    verdict: "an xAPI LRS answered: delivery can send here",
    xapiVersions: ["1.0.3"],
  });
  assert.equal(judgeProbe("xapi", 200, "<html>login</html>", undefined).ok, false);
  assert.match(judgeProbe("xapi", 200, "<html>", undefined).verdict, /not as an LRS's \/about/);
  assert.equal(judgeProbe("caliper", 204, "", undefined).ok, true);
  assert.match(judgeProbe("xapi", 401, "", undefined).verdict, /^credentials refused/);
  assert.match(judgeProbe("caliper", 403, "", undefined).verdict, /^credentials refused/);
  assert.match(judgeProbe("xapi", 404, "", undefined).verdict, /^not found: check endpoint_url/);
  assert.match(
    judgeProbe("xapi", 302, "", "https://sso.example.org/").verdict,
    /^redirected to https:\/\/sso\.example\.org\/: delivery does not follow/,
  );
  assert.match(judgeProbe("xapi", 503, "", undefined).verdict, /^not available now/);
  assert.match(judgeProbe("caliper", 415, "", undefined).verdict, /^refused the request/);
});
