/**
 * The HTTP server's limits through the real server (startServer with stub services): HTTP/2 concurrent streams
 * (advertised and enforced, RFC 9113 5.1.2), the idle timeout for HTTP/2 and HTTP/1.1 connections (an open call
 * is never idle), and the connection cap.
 */
import assert from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { EventInputSchema } from "../gen/eventrouting/v1/event_pb.js";
import { EventRoutingService } from "../gen/eventrouting/v1/event_routing_service_pb.js";
import { startServer, standardInterceptors, type RunningServer, type ServerOptions } from "../src/server/server.js";
import { bearer, capturingLogger, deferred, EMIT_TOKEN, registerStubs, type StubControls, TOKENS } from "./server-fixtures.js";

const servers: RunningServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.shutdown(0)));
});

async function start(httpOpts: ServerOptions["http"], controls: StubControls = {}): Promise<RunningServer> {
  const server = await startServer({
    host: "127.0.0.1",
    port: 0,
    readMaxBytes: 4096,
    maxTimeoutMs: 30_000,
    interceptors: standardInterceptors({ logger: capturingLogger().logger, logRpcs: false, tokens: TOKENS }),
    register: (router) => registerStubs(router, controls),
    ...(httpOpts ? { http: httpOpts } : {}),
  });
  servers.push(server);
  return server;
}

const hold = create(EventInputSchema, { event: { case: "json", value: "hold" } });

/** An HTTP/2 frame: 9-byte header (RFC 9113 4.1) and payload. */
function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h.writeUInt8(type, 3);
  h.writeUInt8(flags, 4);
  h.writeUInt32BE(streamId, 5);
  return Buffer.concat([h, payload]);
}

/** HPACK "literal header field without indexing, new name" (RFC 7541 6.2.2), short strings only. */
function hpack(headers: Array<[string, string]>): Buffer {
  return Buffer.concat(
    headers.map(([n, v]) => Buffer.concat([Buffer.from([0, n.length]), Buffer.from(n), Buffer.from([v.length]), Buffer.from(v)])),
  );
}

interface Frame {
  type: number;
  streamId: number;
  payload: Buffer;
}

/** A client that speaks raw HTTP/2 frames, so it can ignore the server's SETTINGS as a misbehaving client would. */
function rawH2(port: number) {
  const socket = net.connect(port, "127.0.0.1");
  const frames: Frame[] = [];
  const waiters: Array<() => void> = [];
  let buf = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
      const len = buf.readUIntBE(0, 3);
      frames.push({ type: buf.readUInt8(3), streamId: buf.readUInt32BE(5) & 0x7fffffff, payload: buf.subarray(9, 9 + len) });
      buf = buf.subarray(9 + len);
    }
    for (const w of waiters.splice(0)) w();
  });
  socket.on("error", () => {});
  const until = async (match: (f: Frame) => boolean): Promise<Frame> => {
    for (;;) {
      const found = frames.find(match);
      if (found) return found;
      if (socket.destroyed) throw new Error("connection closed before the expected frame");
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        socket.once("close", resolve);
      });
    }
  };
  return { socket, frames, until };
}

describe("HTTP/2 concurrent streams", () => {
  test("the server advertises SETTINGS_MAX_CONCURRENT_STREAMS to clients", async () => {
    const server = await start({ maxConcurrentStreams: 3 });
    const session = http2.connect(`http://127.0.0.1:${server.port}`);
    try {
      await new Promise<void>((resolve) => session.once("remoteSettings", () => resolve()));
      assert.equal(session.remoteSettings.maxConcurrentStreams, 3);
    } finally {
      session.destroy();
    }
  });

  test("a client that opens more streams than allowed gets the extra one refused (REFUSED_STREAM or GOAWAY)", {
    timeout: 20_000,
  }, async () => {
    const server = await start({ maxConcurrentStreams: 2 });
    const c = rawH2(server.port);
    await new Promise<void>((resolve) => c.socket.once("connect", () => resolve()));
    const headers = hpack([
      [":method", "POST"],
      [":scheme", "http"],
      [":path", "/eventrouting.v1.EventRoutingService/Transform"],
      [":authority", "127.0.0.1"],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
    ]);
    const END_HEADERS = 0x4;
    // Three requests whose bodies never end, so each stream stays open; the server's SETTINGS are not acknowledged.
    c.socket.write(
      Buffer.concat([
        Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        frame(0x4, 0, 0),
        frame(0x1, END_HEADERS, 1, headers),
        frame(0x1, END_HEADERS, 3, headers),
        frame(0x1, END_HEADERS, 5, headers),
      ]),
    );
    const RST_STREAM = 0x3;
    const GOAWAY = 0x7;
    const refusal = await c.until((f) => (f.type === RST_STREAM && f.streamId === 5) || f.type === GOAWAY);
    if (refusal.type === RST_STREAM) assert.equal(refusal.payload.readUInt32BE(0), 0x7, "RST_STREAM error code REFUSED_STREAM");
    else assert.equal(refusal.payload.readUInt32BE(0) & 0x7fffffff, 3, "GOAWAY keeps streams 1 and 3 (last stream id 3)");
    assert.ok(!c.frames.some((f) => f.type === RST_STREAM && (f.streamId === 1 || f.streamId === 3)), "the allowed streams stay open");
    c.socket.destroy();
  });
});

describe("idle timeout", () => {
  test("an HTTP/2 connection with no open call is closed with GOAWAY", { timeout: 20_000 }, async () => {
    const server = await start({ idleTimeoutMs: 100 });
    const session = http2.connect(`http://127.0.0.1:${server.port}`);
    session.on("error", () => {});
    const goaway = new Promise<number>((resolve) => session.once("goaway", (code: number) => resolve(code)));
    assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR);
    await new Promise<void>((resolve) => (session.closed ? resolve() : session.once("close", () => resolve())));
  });

  test("a call open longer than the idle timeout is not cut", { timeout: 20_000 }, async () => {
    const arrived = deferred();
    const release = deferred();
    const server = await start(
      { idleTimeoutMs: 150 },
      {
        async hold() {
          arrived.resolve();
          await release.promise;
        },
      },
    );
    const baseUrl = `http://127.0.0.1:${server.port}`;
    const sessions = new Http2SessionManager(baseUrl, { idleConnectionTimeoutMs: 60_000 });
    const client = createClient(EventRoutingService, createGrpcTransport({ baseUrl, sessionManager: sessions }));
    const call = client.transform({ event: hold }, { headers: bearer(EMIT_TOKEN) });
    await arrived.promise;
    // Several idle periods pass with the call open (the passing of time is what is tested here).
    await sleep(600);
    release.resolve();
    const res = await call;
    assert.equal(res.result?.name, "transform");
    sessions.abort();
  });

  test("an HTTP/1.1 keep-alive connection is closed after the idle timeout", { timeout: 20_000 }, async () => {
    const server = await start({ idleTimeoutMs: 2000 });
    const socket = net.connect(server.port, "127.0.0.1");
    socket.on("error", () => {});
    const answer = new Promise<string>((resolve) => socket.once("data", (d: Buffer) => resolve(d.toString("latin1"))));
    socket.write("POST /grpc.health.v1.Health/Check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
    const head = await answer;
    assert.match(head, /^HTTP\/1\.1 200/);
    assert.match(head, /\r\nKeep-Alive: timeout=2\r\n/i, "the response keeps the connection and announces the idle timeout");
    await new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once("close", () => resolve())));
  });
});

describe("connection cap", () => {
  test("connections above MAX_CONNECTIONS are closed on accept; the others are served", { timeout: 20_000 }, async () => {
    let refused = 0;
    const server = await start({ maxConnections: 2, onConnectionRefused: () => refused++ });
    const open = async (): Promise<net.Socket> => {
      const s = net.connect(server.port, "127.0.0.1");
      s.on("error", () => {});
      await new Promise<void>((resolve) => s.once("connect", () => resolve()));
      return s;
    };
    const a = await open();
    const b = await open();
    const c = await open();
    let cData = "";
    c.on("data", (d: Buffer) => (cData += d.toString()));
    c.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await new Promise<void>((resolve) => (c.destroyed ? resolve() : c.once("close", () => resolve())));
    assert.equal(cData, "", "the refused connection got no answer");
    assert.equal(refused, 1);
    // The two accepted connections still get answers.
    for (const s of [a, b]) {
      const answer = new Promise<string>((resolve) => s.once("data", (d: Buffer) => resolve(d.toString("latin1"))));
      s.write("POST /grpc.health.v1.Health/Check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
      assert.match(await answer, /^HTTP\/1\.1 200/);
      s.destroy();
    }
  });
});
