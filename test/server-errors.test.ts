import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport, type Interceptor } from "@connectrpc/connect";
import { EventRoutingService } from "../gen/eventrouting/v1/event_routing_service_pb.js";
import { EventInputSchema } from "../gen/eventrouting/v1/event_pb.js";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { authInterceptor } from "../src/server/auth.js";
import { HealthRegistry } from "../src/server/health.js";
import { errorMappingInterceptor, loggingInterceptor, protocolOf } from "../src/server/interceptors.js";
import { ADMIN_TOKEN, bearer, capturingLogger, EMIT_TOKEN, registerStubs, SECRET_DETAIL, TOKENS } from "./server-fixtures.js";

const input = (json: string) => create(EventInputSchema, { event: { case: "json", value: json } });
const h = { headers: bearer(EMIT_TOKEN) };

async function rejection(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    return ConnectError.from(e);
  }
  assert.fail("expected the call to fail");
}

function setup(interceptors: Interceptor[]) {
  const health = new HealthRegistry();
  const t = createRouterTransport(
    (router) => {
      registerStubs(router);
      router.service(Health, health.impl);
    },
    { router: { interceptors } },
  );
  return { client: createClient(EventRoutingService, t), health: createClient(Health, t), registry: health };
}

describe("error mapping", () => {
  const { client } = setup([errorMappingInterceptor, authInterceptor(TOKENS)]);

  it("maps ValidationError to InvalidArgument naming the field", async () => {
    const e = await rejection(client.emit({ event: input("invalid") }, h));
    assert.equal(e.code, Code.InvalidArgument);
    assert.equal(e.rawMessage, "event.json: is not a JSON object");
  });

  it("maps NotFoundError to NotFound", async () => {
    const e = await rejection(client.transform({ event: input("missing") }, h));
    assert.equal(e.code, Code.NotFound);
  });

  it("maps an unknown Error to Internal 'internal error' without leaking its message", async () => {
    const e = await rejection(client.emit({ event: input("boom") }, h));
    assert.equal(e.code, Code.Internal);
    assert.equal(e.rawMessage, "internal error");
    assert.ok(!JSON.stringify({ m: e.message, meta: [...e.metadata], d: e.details }).includes("hunter2"));
  });

  it("without the mapping step a ValidationError would be Internal (the interceptor does the work)", async () => {
    const bare = setup([authInterceptor(TOKENS)]).client;
    const e = await rejection(bare.emit({ event: input("invalid") }, h));
    assert.equal(e.code, Code.Internal);
  });

  it("maps errors thrown while a stream is iterated", async () => {
    const failing: Interceptor = (next) => async (req) => {
      const res = await next(req);
      if (!res.stream) return res;
      return {
        ...res,
        message: (async function* () {
          yield* [];
          throw new Error(SECRET_DETAIL);
        })(),
      };
    };
    const { health } = setup([errorMappingInterceptor, failing]);
    const e = await rejection(
      (async () => {
        for await (const _ of health.watch({ service: "" }));
      })(),
    );
    assert.equal(e.code, Code.Internal);
    assert.equal(e.rawMessage, "internal error");
  });
});

describe("logging interceptor", () => {
  it("writes one line per RPC with procedure, protocol, code and ms, and no tokens or bodies", async () => {
    const { logger, lines, raw } = capturingLogger();
    const { client } = setup([loggingInterceptor(logger), errorMappingInterceptor, authInterceptor(TOKENS)]);
    await client.emit({ event: input('{"secret_body":1}') }, h);
    await rejection(client.emit({ event: input("boom") }, h));
    await rejection(client.listFailed({}, { headers: bearer("wrong-token-value") }));
    await client.listFailed({}, { headers: bearer(ADMIN_TOKEN) });
    const l = lines();
    assert.equal(l.length, 4);
    assert.deepEqual(
      l.map((x) => [x["procedure"], x["code"]]),
      [
        ["eventrouting.v1.EventRoutingService/Emit", "ok"],
        ["eventrouting.v1.EventRoutingService/Emit", "internal"],
        ["eventrouting.v1.EventRoutingService/ListFailed", "unauthenticated"],
        ["eventrouting.v1.EventRoutingService/ListFailed", "ok"],
      ],
    );
    for (const x of l) {
      assert.equal(typeof x["ms"], "number");
      assert.equal(x["protocol"], "connect");
    }
    // The Internal line keeps the original error for operators, server-side only.
    assert.equal(l[1]!["level"], 50);
    assert.ok(JSON.stringify(l[1]).includes("hunter2"));
    const all = raw();
    for (const secret of [EMIT_TOKEN, ADMIN_TOKEN, "wrong-token-value", "secret_body"]) assert.ok(!all.includes(secret), secret);
  });

  it("logs a stream once, when it ends, with its message count", async () => {
    const { logger, lines } = capturingLogger();
    const { health, registry } = setup([loggingInterceptor(logger), errorMappingInterceptor]);
    const ac = new AbortController();
    const seen: number[] = [];
    const watching = (async () => {
      for await (const m of health.watch({ service: "" }, { signal: ac.signal })) {
        seen.push(m.status);
        if (seen.length === 1) registry.shutdown();
      }
    })();
    const e = await rejection(watching);
    assert.equal(e.code, Code.Unavailable);
    // The in-memory transport may drop the last message before an error; the real-server test checks delivery.
    assert.equal(seen[0], 1);
    const l = lines();
    assert.equal(l.length, 1);
    assert.equal(l[0]!["procedure"], "grpc.health.v1.Health/Watch");
    assert.equal(l[0]!["code"], "unavailable");
    assert.equal(l[0]!["messages"], 2);
  });

  it("names the wire protocol from the content type", () => {
    assert.equal(protocolOf("application/grpc"), "grpc");
    assert.equal(protocolOf("application/grpc+proto"), "grpc");
    assert.equal(protocolOf("application/grpc-web+proto"), "grpc-web");
    assert.equal(protocolOf("application/json"), "connect");
    assert.equal(protocolOf(null), "connect");
  });
});
