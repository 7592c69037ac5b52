import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { EventRoutingService } from "../gen/eventrouting/v1/event_routing_service_pb.js";
import { EventInputSchema } from "../gen/eventrouting/v1/event_pb.js";
import { RouterAdminService } from "../gen/eventrouting/v1/router_admin_service_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { authInterceptor, createTokenChecker, generateToken, requiredRole, resolveTokens } from "../src/server/auth.js";
import { HealthRegistry } from "../src/server/health.js";
import { errorMappingInterceptor } from "../src/server/interceptors.js";
import { ADMIN_TOKEN, bearer, EMIT_TOKEN, registerStubs, TOKENS } from "./server-fixtures.js";

function transport() {
  const health = new HealthRegistry();
  return createRouterTransport(
    (router) => {
      registerStubs(router);
      router.service(Health, health.impl);
    },
    { router: { interceptors: [errorMappingInterceptor, authInterceptor(TOKENS)] } },
  );
}

const event = create(EventInputSchema, { event: { case: "json", value: "{}" } });

async function codeOf(p: Promise<unknown>): Promise<[Code, string] | "ok"> {
  try {
    await p;
    return "ok";
  } catch (e) {
    const ce = ConnectError.from(e);
    return [ce.code, ce.rawMessage];
  }
}

describe("auth interceptor", () => {
  const t = transport();
  const events = createClient(EventRoutingService, t);
  const routers = createClient(RouterAdminService, t);

  it("rejects a call without a token as Unauthenticated", async () => {
    assert.deepEqual(await codeOf(events.emit({ event })), [Code.Unauthenticated, "missing bearer token"]);
    assert.deepEqual(await codeOf(events.listFailed({})), [Code.Unauthenticated, "missing bearer token"]);
  });

  it("rejects an unknown token without echoing it", async () => {
    const res = await codeOf(events.emit({ event }, { headers: bearer("not-a-real-token") }));
    assert.deepEqual(res, [Code.Unauthenticated, "invalid token"]);
  });

  it("rejects a malformed Authorization header as missing", async () => {
    assert.deepEqual(await codeOf(events.emit({ event }, { headers: { authorization: `Basic ${EMIT_TOKEN}` } })), [
      Code.Unauthenticated,
      "missing bearer token",
    ]);
  });

  it("lets an emit token call Emit, EmitBatch and Transform", async () => {
    const h = { headers: bearer(EMIT_TOKEN) };
    assert.equal((await events.emit({ event }, h)).result?.name, "emit");
    assert.equal((await events.emitBatch({ events: [event, event] }, h)).results.length, 2);
    assert.equal((await events.transform({ event }, h)).result?.name, "transform");
  });

  it("refuses an emit token on every admin RPC with PermissionDenied", async () => {
    const h = { headers: bearer(EMIT_TOKEN) };
    for (const call of [
      () => events.listFailed({}, h),
      () => events.retryFailed({}, h),
      () => events.purgeFailed({}, h),
      () => routers.listRouters({}, h),
    ]) {
      assert.deepEqual(await codeOf(call()), [Code.PermissionDenied, "admin token required"]);
    }
  });

  it("lets an admin token call emit and admin RPCs", async () => {
    const h = { headers: bearer(ADMIN_TOKEN) };
    assert.equal((await events.emit({ event }, h)).result?.name, "emit");
    assert.equal((await events.retryFailed({}, h)).retried, 1);
    assert.equal(await codeOf(routers.listRouters({}, h)), "ok");
  });

  it("serves health without a token", async () => {
    const res = await createClient(Health, t).check({ service: "" });
    assert.equal(res.status, HealthCheckResponse_ServingStatus.SERVING);
  });
});

describe("requiredRole", () => {
  it("keeps unknown services closed (admin) and health/reflection open", () => {
    assert.equal(requiredRole("eventrouting.v1.EventRoutingService", "Emit"), "emit");
    assert.equal(requiredRole("eventrouting.v1.EventRoutingService", "ListFailed"), "admin");
    assert.equal(requiredRole("eventrouting.v1.DirectoryAdminService", "Anything"), "admin");
    assert.equal(requiredRole("other.v1.Future", "Emit"), "admin");
    assert.equal(requiredRole("grpc.health.v1.Health", "Check"), undefined);
    assert.equal(requiredRole("grpc.reflection.v1.ServerReflection", "ServerReflectionInfo"), undefined);
  });

  it("resolves roles, admin winning when a token is in both sets", () => {
    const check = createTokenChecker({ emit: ["a", "both"], admin: ["b", "both"] });
    assert.equal(check("a")?.role, "emit");
    assert.equal(check("b")?.role, "admin");
    assert.equal(check("both")?.role, "admin");
    assert.equal(check("ab"), undefined);
    assert.equal(check(""), undefined);
  });

  it("names an admin token by ADMIN_TOKEN_NAMES, else by a short hash that does not reveal it", () => {
    const named = createTokenChecker({ emit: ["e"], admin: ["first-token", "second-token"], adminNames: ["ops", "lms-retirement"] });
    assert.equal(named("second-token")?.name, "lms-retirement");
    assert.equal(named("e")?.name, undefined);
    const unnamed = createTokenChecker({ emit: [], admin: ["first-token"] });
    const name = unnamed("first-token")?.name ?? "";
    assert.match(name, /^admin token sha256:[0-9a-f]{8}$/);
    assert.ok(!name.includes("first-token"));
  });
});

describe("resolveTokens and generated tokens", () => {
  it("uses configured tokens", () => {
    const t = resolveTokens({ emitTokens: ["e1", "e2"], adminTokens: ["a1"] });
    assert.deepEqual(t, { emit: ["e1", "e2"], admin: ["a1"] });
    const named = resolveTokens({ emitTokens: ["e1"], adminTokens: ["a1", "a2"], adminTokenNames: ["ops", "lms"] });
    assert.deepEqual(named.adminNames, ["ops", "lms"]);
  });

  it("generates a 32-byte base64url token for an unset set, different each time", () => {
    const t = resolveTokens({ adminTokens: ["a1"] });
    assert.equal(t.emit.length, 1);
    assert.match(t.emit[0]!, /^[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(t.admin, ["a1"]);
    const both = resolveTokens({});
    assert.notEqual(both.emit[0], both.admin[0]);
    assert.notEqual(both.emit[0], t.emit[0]);
  });

  it("a generated token never starts with - or _ (a command line would take `--token -x...` for an option)", () => {
    // Drawn freely, 1 token in 32 would start with one of them: about 60 of these 2000.
    for (let i = 0; i < 2000; i++) assert.match(generateToken(), /^[A-Za-z0-9][A-Za-z0-9_-]{42}$/);
  });
});
