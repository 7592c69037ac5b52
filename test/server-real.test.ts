/** The real server on port 0: every protocol, HTTP/1.1, limits, deadlines, health, reflection via buf curl, shutdown. */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type HandlerContext, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { EventRoutingService } from "../gen/eventrouting/v1/event_routing_service_pb.js";
import { EventInputSchema } from "../gen/eventrouting/v1/event_pb.js";
import { Health, HealthCheckResponse_ServingStatus as S } from "../gen/grpc/health/v1/health_pb.js";
import { bindHealthToNats, type ConnectionStatusEvent } from "../src/server/health.js";
import { startHttpServer } from "../src/server/http-server.js";
import { rpcErrorsOnly } from "../src/server/interceptors.js";
import { startServer, standardInterceptors } from "../src/server/server.js";
import {
  bearer,
  capturingLogger,
  deferred,
  EMIT_TOKEN,
  registerStubs,
  SECRET_DETAIL,
  type StubControls,
  TOKENS,
} from "./server-fixtures.js";

const run = promisify(execFile);
const input = (json: string) => create(EventInputSchema, { event: { case: "json", value: json } });
const READ_MAX = 4096;

async function rejection(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    return ConnectError.from(e);
  }
  assert.fail("expected the call to fail");
}

async function start(controls: StubControls) {
  const log = capturingLogger();
  const server = await startServer({
    host: "127.0.0.1",
    port: 0,
    readMaxBytes: READ_MAX,
    maxTimeoutMs: 5000,
    interceptors: standardInterceptors({ logger: log.logger, logRpcs: true, tokens: TOKENS }),
    register: (router) => registerStubs(router, controls),
  });
  const baseUrl = `http://127.0.0.1:${server.port}`;
  const sessions = new Http2SessionManager(baseUrl);
  const transports: Record<string, Transport> = {
    grpc: createGrpcTransport({ baseUrl, sessionManager: sessions }),
    grpcWeb: createGrpcWebTransport({ baseUrl, httpVersion: "2", sessionManager: sessions }),
    connect: createConnectTransport({ baseUrl, httpVersion: "2", sessionManager: sessions }),
  };
  return { server, baseUrl, sessions, transports, log };
}

/** A stand-in for nc.status(): events pushed by the test, ended by end(). */
function statusFeed() {
  const queue: ConnectionStatusEvent[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  const iterable: AsyncIterable<ConnectionStatusEvent> = {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        while (queue.length > 0) yield queue.shift()!;
        if (ended) return;
        await new Promise<void>((r) => (wake = r));
      }
    },
  };
  return {
    iterable,
    push(type: string) {
      queue.push({ type });
      wake?.();
    },
    end() {
      ended = true;
      wake?.();
    },
  };
}

describe("real server", () => {
  const controls: StubControls = {};
  let s: Awaited<ReturnType<typeof start>>;
  before(async () => {
    s = await start(controls);
  });
  after(async () => {
    s.sessions.abort();
    await s.server.shutdown(1000);
  });

  for (const protocol of ["grpc", "grpcWeb", "connect"]) {
    it(`answers and maps errors over ${protocol} (h2c)`, async () => {
      const client = createClient(EventRoutingService, s.transports[protocol]!);
      const res = await client.emit({ event: input("{}") }, { headers: bearer(EMIT_TOKEN) });
      assert.equal(res.result?.name, "emit");
      const bad = await rejection(client.emit({ event: input("invalid") }, { headers: bearer(EMIT_TOKEN) }));
      assert.equal(bad.code, Code.InvalidArgument);
      assert.equal(bad.rawMessage, "event.json: is not a JSON object");
      const boom = await rejection(client.emit({ event: input("boom") }, { headers: bearer(EMIT_TOKEN) }));
      assert.deepEqual([boom.code, boom.rawMessage], [Code.Internal, "internal error"]);
      const anon = await rejection(client.listFailed({}));
      assert.equal(anon.code, Code.Unauthenticated);
    });
  }

  it("serves Connect JSON over plain HTTP/1.1 on the same port", async () => {
    const url = `${s.baseUrl}/eventrouting.v1.EventRoutingService/Emit`;
    const ok = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...bearer(EMIT_TOKEN) },
      body: JSON.stringify({ event: { json: "{}" } }),
    });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { result: { name: "emit" } });
    const anon = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(anon.status, 401);
    assert.deepEqual(await anon.json(), { code: "unauthenticated", message: "missing bearer token" });
  });

  it("rejects a request over readMaxBytes with ResourceExhausted", async () => {
    const client = createClient(EventRoutingService, s.transports["grpc"]!);
    const e = await rejection(client.emit({ event: input("x".repeat(READ_MAX * 2)) }, { headers: bearer(EMIT_TOKEN) }));
    assert.equal(e.code, Code.ResourceExhausted);
  });

  it("propagates the client deadline to ctx.signal, and refuses deadlines over maxTimeoutMs", async () => {
    const calls: Array<{ remainingMs: number | undefined; reason: Promise<unknown> }> = [];
    controls.hold = (ctx: HandlerContext) => {
      const reason = deferred<unknown>();
      calls.push({ remainingMs: ctx.timeoutMs(), reason: reason.promise });
      return new Promise<void>((_, reject) => {
        ctx.signal.addEventListener("abort", () => {
          reason.resolve(ctx.signal.reason);
          reject(ctx.signal.reason);
        });
      });
    };
    try {
      // A TS client enforces its deadline itself (and resets the stream), so the handler sees the time left.
      const client = createClient(EventRoutingService, s.transports["grpc"]!);
      // 1 s, not less: on a loaded machine a shorter deadline can pass before the call reaches the handler at all.
      const e = await rejection(client.transform({ event: input("hold") }, { headers: bearer(EMIT_TOKEN), timeoutMs: 1000 }));
      assert.equal(e.code, Code.DeadlineExceeded);
      assert.ok(calls[0]!.remainingMs! > 0 && calls[0]!.remainingMs! <= 1000, String(calls[0]!.remainingMs));
      await calls[0]!.reason;

      // A client that only sends the header leaves the deadline to the server: ctx.signal fires with DeadlineExceeded.
      const res = await fetch(`${s.baseUrl}/eventrouting.v1.EventRoutingService/Transform`, {
        method: "POST",
        headers: { "content-type": "application/json", "connect-timeout-ms": "150", ...bearer(EMIT_TOKEN) },
        body: JSON.stringify({ event: { json: "hold" } }),
      });
      assert.equal(((await res.json()) as { code: string }).code, "deadline_exceeded");
      assert.equal(ConnectError.from(await calls[1]!.reason).code, Code.DeadlineExceeded);

      const tooLong = await rejection(client.emit({ event: input("{}") }, { headers: bearer(EMIT_TOKEN), timeoutMs: 60_000 }));
      assert.equal(tooLong.code, Code.InvalidArgument);
    } finally {
      delete controls.hold;
    }
  });

  it("reports health by Check, List and Watch, NOT_SERVING while NATS is disconnected", async () => {
    const health = createClient(Health, s.transports["grpc"]!);
    assert.equal((await health.check({ service: "" })).status, S.SERVING);
    assert.equal((await health.check({ service: "eventrouting.v1.EventRoutingService" })).status, S.SERVING);
    assert.equal((await rejection(health.check({ service: "nope.v1.Nope" }))).code, Code.NotFound);
    const listed = Object.keys((await health.list({})).statuses).sort();
    assert.deepEqual(listed, ["", "eventrouting.v1.EventRoutingService", "eventrouting.v1.RouterAdminService"]);

    const feed = statusFeed();
    const bound = bindHealthToNats(feed.iterable, s.server.health);
    const ac = new AbortController();
    const watch = health.watch({ service: "" }, { signal: ac.signal })[Symbol.asyncIterator]();
    const next = async () => (await watch.next()).value?.status;
    assert.equal(await next(), S.SERVING);
    feed.push("disconnect");
    assert.equal(await next(), S.NOT_SERVING);
    assert.equal((await health.check({ service: "eventrouting.v1.EventRoutingService" })).status, S.NOT_SERVING);
    feed.push("reconnecting");
    feed.push("reconnect");
    assert.equal(await next(), S.SERVING);
    assert.equal((await health.check({ service: "" })).status, S.SERVING);
    ac.abort();
    await watch.return?.();
    // A closed connection (status stream ended) leaves the service NOT_SERVING.
    feed.end();
    await bound;
    assert.equal((await health.check({ service: "" })).status, S.NOT_SERVING);
    s.server.health.setDependency("nats", true);
  });

  it("lists every service through reflection and serves buf curl without a schema", async () => {
    const buf = "node_modules/.bin/buf";
    const list = await run(buf, ["curl", "--list-services", s.baseUrl], { timeout: 20_000 });
    assert.deepEqual(list.stdout.trim().split("\n").sort(), [
      "eventrouting.v1.EventRoutingService",
      "eventrouting.v1.RouterAdminService",
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
    ]);
    const call = await run(
      buf,
      [
        "curl",
        "--protocol",
        "grpc",
        "-H",
        `Authorization: Bearer ${EMIT_TOKEN}`,
        "-d",
        '{"event":{"json":"{}"}}',
        `${s.baseUrl}/eventrouting.v1.EventRoutingService/Emit`,
      ],
      { timeout: 20_000 },
    );
    assert.deepEqual(JSON.parse(call.stdout), { result: { name: "emit" } });
  });

  it("logs RPCs without tokens", () => {
    const raw = s.log.raw();
    assert.ok(raw.includes('"procedure":"eventrouting.v1.EventRoutingService/Emit"'));
    assert.ok(raw.includes('"protocol":"grpc-web"'));
    assert.ok(!raw.includes(EMIT_TOKEN));
  });
});

function connectRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", (e: NodeJS.ErrnoException) => resolve(e.code === "ECONNREFUSED"));
  });
}

describe("graceful shutdown", () => {
  it("goes NOT_SERVING, refuses new connections and lets an in-flight call finish", async () => {
    const entered = deferred();
    const gate = deferred();
    const s = await start({
      hold: async () => {
        entered.resolve();
        await gate.promise;
      },
    });
    try {
      const client = createClient(EventRoutingService, s.transports["grpc"]!);
      const inFlight = client.transform({ event: input("hold") }, { headers: bearer(EMIT_TOKEN) });
      inFlight.catch(() => {});
      await entered.promise;
      const statuses: S[] = [];
      const watchFirst = deferred();
      const watching = rejection(
        (async () => {
          for await (const m of createClient(Health, s.transports["grpc"]!).watch({ service: "" })) {
            statuses.push(m.status);
            watchFirst.resolve();
          }
        })(),
      );
      await watchFirst.promise;
      const closed = s.server.shutdown(10_000);
      assert.equal(s.server.health.status(""), S.NOT_SERVING);
      // Watchers hear NOT_SERVING, then the stream ends so it does not hold the drain open.
      const watchEnd = await watching;
      assert.deepEqual(statuses, [S.SERVING, S.NOT_SERVING]);
      assert.deepEqual([watchEnd.code, watchEnd.rawMessage], [Code.Unavailable, "server shutting down"]);
      assert.equal(await connectRefused(s.server.port), true);
      gate.resolve();
      assert.equal((await inFlight).result?.name, "transform");
      await closed;
    } finally {
      s.sessions.abort();
      await s.server.shutdown(0);
    }
  });

  it("drains an HTTP/1.1 call too, closing its keep-alive connection afterwards", async () => {
    const entered = deferred();
    const gate = deferred();
    const s = await start({
      hold: async () => {
        entered.resolve();
        await gate.promise;
      },
    });
    try {
      const inFlight = fetch(`${s.baseUrl}/eventrouting.v1.EventRoutingService/Transform`, {
        method: "POST",
        headers: { "content-type": "application/json", ...bearer(EMIT_TOKEN) },
        body: JSON.stringify({ event: { json: "hold" } }),
      });
      inFlight.catch(() => {});
      await entered.promise;
      const closed = s.server.shutdown(10_000);
      assert.equal(await connectRefused(s.server.port), true);
      gate.resolve();
      const res = await inFlight;
      assert.equal(res.headers.get("connection"), "close");
      assert.deepEqual(await res.json(), { result: { name: "transform" } });
      // Resolves only once the HTTP/1.1 connection is gone, well before the 10 s grace period.
      await closed;
    } finally {
      s.sessions.abort();
      await s.server.shutdown(0);
    }
  });

  it("aborts calls still running when the grace period ends with Unavailable", async () => {
    const entered = deferred();
    const s = await start({
      hold: (ctx) => {
        entered.resolve();
        // As a real handler does: give up with the abort reason when the signal fires.
        return new Promise<void>((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)));
      },
    });
    try {
      const client = createClient(EventRoutingService, s.transports["connect"]!);
      const straggler = rejection(client.transform({ event: input("hold") }, { headers: bearer(EMIT_TOKEN) }));
      await entered.promise;
      const started = performance.now();
      await s.server.shutdown(100);
      const e = await straggler;
      assert.deepEqual([e.code, e.rawMessage], [Code.Unavailable, "server shutting down"]);
      assert.ok(performance.now() - started < 5000);
    } finally {
      s.sessions.abort();
    }
  });
});

describe("LOG_RPCS off", () => {
  it("still logs Internal answers at error, with the cause, and nothing for the other calls", async () => {
    const log = capturingLogger();
    const server = await startServer({
      host: "127.0.0.1",
      port: 0,
      readMaxBytes: READ_MAX,
      maxTimeoutMs: 5000,
      interceptors: standardInterceptors({ logger: log.logger, logRpcs: false, tokens: TOKENS }),
      rpcLog: rpcErrorsOnly(log.logger),
      register: (router) => registerStubs(router),
    });
    const sessions = new Http2SessionManager(`http://127.0.0.1:${server.port}`);
    try {
      const client = createClient(
        EventRoutingService,
        createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}`, sessionManager: sessions }),
      );
      await client.emit({ event: input("{}") }, { headers: bearer(EMIT_TOKEN) });
      await rejection(client.emit({ event: input("invalid") }, { headers: bearer(EMIT_TOKEN) }));
      await rejection(client.listFailed({}));
      const boom = await rejection(client.emit({ event: input("boom") }, { headers: bearer(EMIT_TOKEN) }));
      assert.equal(boom.code, Code.Internal);
      const lines = log.lines();
      assert.equal(lines.length, 1, JSON.stringify(lines));
      assert.equal(lines[0]!["level"], 50);
      assert.equal(lines[0]!["code"], "internal");
      assert.equal(lines[0]!["procedure"], "eventrouting.v1.EventRoutingService/Emit");
      assert.ok(JSON.stringify(lines[0]).includes(SECRET_DETAIL), "the cause is in the server's log");
    } finally {
      sessions.abort();
      await server.shutdown(1000);
    }
  });
});

describe("connection sniffing", () => {
  // Fails by timing out if the server never drops the silent connection.
  it("drops a connection that sends nothing within the sniff timeout", { timeout: 5000 }, async () => {
    const http = await startHttpServer({
      handler: () => assert.fail("no request expected"),
      host: "127.0.0.1",
      port: 0,
      sniffTimeoutMs: 50,
    });
    try {
      const socket = net.connect(http.port, "127.0.0.1");
      const started = performance.now();
      await new Promise<void>((resolve) => socket.once("close", () => resolve()));
      assert.ok(performance.now() - started >= 40);
    } finally {
      await http.close(0);
    }
  });
});
