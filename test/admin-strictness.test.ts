/**
 * Behaviour that surprised a new operator, through a real service: a misspelt JSON field in an admin request is
 * refused (it used to be ignored, silently keeping a default) while Emit's JSON stays lenient; deliveries say who
 * sends them (User-Agent); an xAPI endpoint ending in /statements is refused with the base URL to enter.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ConnectError } from "@connectrpc/connect";
import { Backend } from "../gen/eventrouting/v1/event_pb.js";
import { PACKAGE_VERSION } from "../src/version.js";
import { ERB_FIXTURES_DIR } from "./support/erb-fixtures.js";
import { FaultEndpoint, waitUntil } from "./support/http-endpoints.js";
import { ADMIN_TOKEN, adminAuth, EMIT_TOKEN, startServiceUnderTest, type ServiceUnderTest } from "./support/service-under-test.js";

let sut: ServiceUnderTest;
let endpoint: FaultEndpoint;

before(async () => {
  endpoint = await FaultEndpoint.start();
  sut = await startServiceUnderTest({ DELIVERY_ENABLED: "true", DELIVERY_BATCH_INTERVAL_MS: "50" });
});
after(async () => {
  await sut?.close();
  await endpoint?.close();
});

async function postJson(procedure: string, token: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${sut.baseUrl}/${procedure}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

test("an unknown JSON field in an admin request is InvalidArgument naming it; a known one works", async () => {
  const typo = await postJson("eventrouting.v1.RouterAdminService/CreateRouter", ADMIN_TOKEN, {
    router: { id: "typo", backend: "BACKEND_XAPI", endpointUrl: endpoint.url, enabeld: true },
  });
  assert.equal(typo.status, 400);
  assert.equal(typo.json["code"], "invalid_argument");
  assert.match(String(typo.json["message"]), /enabeld/);
  const good = await postJson("eventrouting.v1.RouterAdminService/CreateRouter", ADMIN_TOKEN, {
    router: { id: "good", backend: "BACKEND_XAPI", endpointUrl: endpoint.url, enabled: false },
  });
  assert.equal(good.status, 200, JSON.stringify(good.json));
  const csvTypo = await postJson("eventrouting.v1.DirectoryAdminService/ImportCourses", ADMIN_TOKEN, { cvs: "course_id,name\n" });
  assert.equal(csvTypo.status, 400);
});

test("Emit's JSON input stays lenient: an unknown field is ignored", async () => {
  const event = readFileSync(join(ERB_FIXTURES_DIR, "raw", "edx.course.enrollment.activated.json"), "utf8");
  const res = await postJson("eventrouting.v1.EventRoutingService/Emit", EMIT_TOKEN, { event: { json: event }, clientExtra: 1 });
  assert.equal(res.status, 200, JSON.stringify(res.json));
});

test("deliveries carry User-Agent: event-routing/<version>", async () => {
  await sut.createRouter({ id: "ua", backend: Backend.XAPI, endpointUrl: endpoint.url, enabled: true });
  await sut.service.delivery!.settled();
  const event = readFileSync(join(ERB_FIXTURES_DIR, "raw", "edx.course.enrollment.deactivated.json"), "utf8");
  await sut.events.emit({ event: { event: { case: "json", value: event } } }, { headers: { authorization: `Bearer ${EMIT_TOKEN}` } });
  await waitUntil(() => endpoint.requests.length > 0, 20_000, "a delivery");
  assert.equal(endpoint.requests[0]!.headers["user-agent"], `event-routing/${PACKAGE_VERSION}`);
});

test("an xAPI endpoint ending in /statements is refused with the base URL to enter; Caliper endpoints are not", async () => {
  const e = await sut.admin
    .createRouter({ router: { id: "stmts", backend: Backend.XAPI, endpointUrl: "https://lrs.example.com/xapi/statements/" } }, adminAuth)
    .then(
      () => assert.fail("accepted"),
      (err: unknown) => ConnectError.from(err),
    );
  assert.match(e.rawMessage, /router\.endpoint_url: .*Enter https:\/\/lrs\.example\.com\/xapi instead/);
  const caliper = await sut.admin.createRouter(
    { router: { id: "cal-stmts", backend: Backend.CALIPER, endpointUrl: "https://c.example.com/statements" } },
    adminAuth,
  );
  assert.deepEqual(caliper.warnings, []);
  const created = await sut.admin.createRouter(
    { router: { id: "base", backend: Backend.XAPI, endpointUrl: "https://lrs.example.com/xapi" } },
    adminAuth,
  );
  const updated = await sut.admin
    .updateRouter(
      { router: { id: "base", endpointUrl: "https://lrs.example.com/xapi/statements" }, updateMask: { paths: ["endpoint_url"] } },
      adminAuth,
    )
    .then(
      () => "accepted",
      (err: unknown) => ConnectError.from(err).rawMessage,
    );
  assert.ok(created.router);
  assert.match(updated, /\/statements is added when sending/);
});
