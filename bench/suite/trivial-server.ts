/**
 * The single-Emit baseline: the service's own server stack (startServer: HTTP/2 server, Connect handler, the
 * standard interceptors with token auth, the same limits) serving an Emit that answers an empty EmitResponse at
 * once. The gap between it and the service is what the emit path itself costs; what the two share (HTTP/2,
 * Connect, protobuf, auth) bounds both. Prints `{"port":N}` when listening; runs until SIGTERM.
 */
import { create } from "@bufbuild/protobuf";
import { pino } from "pino";
import { EmitResponseSchema, EventRoutingService } from "../../gen/eventrouting/v1/event_routing_service_pb.js";
import { loadConfig } from "../../src/config.js";
import { standardInterceptors, startServer } from "../../src/server/server.js";

const config = loadConfig();
const logger = pino({ level: "silent" });
const server = await startServer({
  host: "127.0.0.1",
  port: 0,
  readMaxBytes: config.readMaxBytes,
  maxTimeoutMs: config.maxTimeoutMs,
  interceptors: standardInterceptors({
    logger,
    logRpcs: false,
    tokens: { emit: config.emitTokens ?? [], admin: config.adminTokens ?? [] },
  }),
  http: {
    maxConcurrentStreams: config.http2MaxConcurrentStreams,
    idleTimeoutMs: config.httpIdleTimeoutMs,
    maxConnections: config.maxConnections,
  },
  register(router) {
    router.service(EventRoutingService, { emit: () => create(EmitResponseSchema, {}) });
  },
});
process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
process.once("SIGTERM", () => void server.shutdown(1000).then(() => process.exit(0)));
