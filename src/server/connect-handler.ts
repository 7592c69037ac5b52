/**
 * The one request handler for every protocol (gRPC, gRPC-Web, Connect): the caller's services plus health and
 * reflection, with reflection listing everything registered.
 *
 * Built from connect-node's universal pieces rather than connectNodeAdapter so that every method handler can be
 * wrapped (early-errors.ts: calls that fail while the request is parsed are re-coded and logged), and JSON request
 * bodies are decoded strictly: invalid UTF-8 is refused with InvalidArgument instead of silently becoming U+FFFD.
 */
import { setMaxListeners } from "node:events";
import type * as http from "node:http";
import type * as http2 from "node:http2";
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createConnectRouter, createContextValues, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { reachedInterceptor, withEarlyErrors, type EarlyFailure } from "./early-errors.js";
import { HealthRegistry } from "./health.js";
import { reflectionService } from "./reflection.js";

export type NodeHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

export interface ConnectHandlerOptions {
  /** Registers the application services. */
  register(router: ConnectRouter): void;
  /** First is outermost. */
  interceptors: Interceptor[];
  /** Largest request message; larger ones fail with ResourceExhausted. */
  readMaxBytes: number;
  /** Largest client deadline accepted; longer ones fail with InvalidArgument. */
  maxTimeoutMs: number;
  /** Aborting it aborts every in-flight call's ctx.signal (used when the shutdown grace period ends). */
  shutdownSignal: AbortSignal;
  /** Receives every registered application service as SERVING unless already set; a fresh one if omitted. */
  health?: HealthRegistry;
  /** A call that failed before reaching the interceptors (so the logging interceptor never saw it). */
  onEarlyFailure?: (failure: EarlyFailure) => void;
  /** A handler that threw instead of answering (a bug in connect or here); the response is already broken. */
  onHandlerCrash?: (procedure: string, err: unknown) => void;
}

/**
 * Request JSON decoding that refuses invalid UTF-8 (connect-es's default TextDecoder replaces it with U+FFFD).
 * connect-es reads `textDecoder` from the JSON options (its JsonSerializationOptions), which the router's option
 * type does not list, hence the widening below.
 */
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const strictJsonOptions = {
  textDecoder: {
    decode(input?: Uint8Array): string {
      try {
        return strictUtf8.decode(input);
      } catch {
        throw new ConnectError("request body is not valid UTF-8", Code.InvalidArgument);
      }
    },
  },
} as Record<string, unknown>;

/**
 * Options for the admin services (router.service(..., ADMIN_SERVICE_OPTIONS)): unknown JSON fields are refused
 * (InvalidArgument naming the field), since a misspelt field would otherwise silently keep its default. Scoped
 * to the admin services: Emit's input stays as lenient as clients expect (its event JSON is a string anyway).
 */
export const ADMIN_SERVICE_OPTIONS = { jsonOptions: { ...strictJsonOptions, ignoreUnknownFields: false } };

export function createConnectHandler(opts: ConnectHandlerOptions): NodeHandler {
  // Connect adds one abort listener per in-flight call; the default limit of 10 warns about a leak that is not one.
  setMaxListeners(0, opts.shutdownSignal);
  const health = opts.health ?? new HealthRegistry();
  const services: DescService[] = [];
  const router = createConnectRouter({
    grpc: true,
    grpcWeb: true,
    connect: true,
    interceptors: [reachedInterceptor, ...opts.interceptors],
    readMaxBytes: opts.readMaxBytes,
    maxTimeoutMs: opts.maxTimeoutMs,
    shutdownSignal: opts.shutdownSignal,
    acceptCompression: [compressionGzip, compressionBrotli],
    jsonOptions: strictJsonOptions,
  });
  opts.register(recording(router, services));
  for (const s of services) health.add(s.typeName);
  const record = recording(router, services);
  record.service(Health, health.impl);
  record.service(ServerReflection, reflectionService(services));

  const onEarlyFailure = opts.onEarlyFailure ?? (() => {});
  const paths = new Map<string, UniversalHandler>(router.handlers.map((h) => [h.requestPath, withEarlyErrors(h, onEarlyFailure)]));
  return (req, res) => {
    // Strip the query string when matching paths (Connect GET requests carry the message there).
    const handler = paths.get(req.url?.split("?", 2)[0] ?? "");
    if (!handler) {
      res.writeHead(404);
      res.end();
      return;
    }
    // Context values of our own: the handler context uses them, so early-errors.ts can tell whether the
    // interceptors saw the call (without them each call would get a fresh set the wrapper cannot see).
    handler(universalRequestFromNodeRequest(req, res, undefined, createContextValues()))
      .then((uRes) => universalResponseToNodeResponse(uRes, res))
      .catch((reason: unknown) => {
        // The client went away mid-response: nothing to report.
        if (ConnectError.from(reason).code === Code.Aborted) return;
        opts.onHandlerCrash?.(`${handler.service.typeName}/${handler.method.name}`, reason);
      });
  };
}

/** A router that notes each service registered through it, for reflection and health. */
function recording(router: ConnectRouter, into: DescService[]): ConnectRouter {
  const note = (desc: DescService): void => {
    if (!into.includes(desc)) into.push(desc);
  };
  const wrapper: ConnectRouter = {
    get handlers() {
      return router.handlers;
    },
    service(desc, impl, options) {
      note(desc);
      router.service(desc, impl, options);
      return wrapper;
    },
    rpc(desc, impl, options) {
      // A single method still belongs to a service that reflection must describe.
      note(desc.parent);
      router.rpc(desc, impl, options);
      return wrapper;
    },
  };
  return wrapper;
}
