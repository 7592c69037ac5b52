/**
 * One real service instance (startService) on its own nats-server, with clients for every protocol and the log
 * lines it wrote: for tests that must go through the real server (request parsing, interceptors, publishing).
 */
import http2 from "node:http2";
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { EventRoutingService } from "../../gen/eventrouting/v1/event_routing_service_pb.js";
import { RouterAdminService } from "../../gen/eventrouting/v1/router_admin_service_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { loadConfig } from "../../src/config.js";
import { startService, type RunningService } from "../../src/service.js";
import { capturingLogger } from "../server-fixtures.js";
import { startNatsServer, type TestNatsServer } from "./nats-server.js";

export const EMIT_TOKEN = "emit-token-for-hostile-tests";
export const ADMIN_TOKEN = "admin-token-for-hostile-tests";
export const emitAuth = { headers: { authorization: `Bearer ${EMIT_TOKEN}` } };
export const adminAuth = { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } };

export interface ServiceUnderTest {
  readonly nats: TestNatsServer;
  readonly service: RunningService;
  readonly baseUrl: string;
  readonly transports: Record<"grpc" | "grpc-web" | "connect", Transport>;
  readonly events: Client<typeof EventRoutingService>;
  readonly admin: Client<typeof RouterAdminService>;
  readonly health: Client<typeof Health>;
  /** The service's JSON log lines so far. */
  logLines(): Array<Record<string, unknown>>;
  /** Creates a router through the admin API and waits until this instance routes with it. */
  createRouter(router: Parameters<Client<typeof RouterAdminService>["createRouter"]>[0]["router"]): Promise<void>;
  close(): Promise<void>;
}

export async function startServiceUnderTest(env: Record<string, string> = {}): Promise<ServiceUnderTest> {
  const nats = await startNatsServer();
  const log = capturingLogger();
  const config = loadConfig({
    NATS_URL: nats.url,
    PORT: "0",
    EMIT_TOKENS: EMIT_TOKEN,
    ADMIN_TOKENS: ADMIN_TOKEN,
    CALIPER_ENABLED: "true",
    // Routers point nowhere: these tests stop at the stream.
    DELIVERY_ENABLED: "false",
    SHUTDOWN_GRACE_MS: "1000",
    IDENTITY_HMAC_SECRET: "hostile-input-test-secret-0123456789",
    ...env,
  });
  const service = await startService({ ...config, natsUrl: nats.url }, log.logger);
  const baseUrl = `http://127.0.0.1:${service.port}`;
  const transports = {
    grpc: createGrpcTransport({ baseUrl }),
    "grpc-web": createGrpcWebTransport({ baseUrl, httpVersion: "2" }),
    connect: createConnectTransport({ baseUrl, httpVersion: "1.1" }),
  };
  const admin = createClient(RouterAdminService, transports.grpc);
  return {
    nats,
    service,
    baseUrl,
    transports,
    events: createClient(EventRoutingService, transports.grpc),
    admin,
    health: createClient(Health, transports.grpc),
    logLines: log.lines,
    async createRouter(router) {
      const id = router?.id ?? "";
      const seen = new Promise<void>((resolve) => {
        const off = service.routers.subscribe((c) => {
          if (c.kind === "put" && c.router.id === id) {
            off();
            resolve();
          }
        });
      });
      await admin.createRouter({ router }, adminAuth);
      if (service.routers.get(id) === undefined) await seen;
    },
    async close() {
      await service.close();
      await nats.stop();
    },
  };
}

/** One unary call with hand-made request bytes, as a buggy or hostile client would send them. */
export async function rawCall(
  baseUrl: string,
  protocol: "grpc" | "grpc-web" | "connect",
  path: string,
  message: Uint8Array,
): Promise<{ code: string; message: string }> {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  Buffer.from(message).copy(frame, 5);
  const contentType = { grpc: "application/grpc", "grpc-web": "application/grpc-web+proto", connect: "application/proto" }[protocol];
  const session = http2.connect(baseUrl);
  try {
    const req = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": contentType,
      te: "trailers",
      authorization: `Bearer ${EMIT_TOKEN}`,
    });
    req.end(protocol === "connect" ? Buffer.from(message) : frame);
    const headers: Record<string, unknown> = {};
    const chunks: Buffer[] = [];
    req.on("response", (h) => Object.assign(headers, h));
    req.on("trailers", (t) => Object.assign(headers, t));
    req.on("data", (c: Buffer) => chunks.push(c));
    await new Promise<void>((resolve, reject) => req.on("end", resolve).on("error", reject));
    const body = Buffer.concat(chunks);
    if (protocol === "connect") {
      const err = JSON.parse(body.toString("utf8")) as { code: string; message: string };
      return { code: err.code, message: err.message };
    }
    if (protocol === "grpc-web") {
      const trailer = body.subarray(5).toString("utf8");
      for (const line of trailer.split("\r\n")) {
        const [k, v] = line.split(": ");
        if (k !== undefined && v !== undefined) headers[k] = v;
      }
    }
    return { code: String(headers["grpc-status"]), message: decodeURIComponent(String(headers["grpc-message"] ?? "")) };
  } finally {
    session.close();
  }
}
