/**
 * The one request handler for every protocol (gRPC, gRPC-Web, Connect): the caller's services plus health and
 * reflection, with reflection listing everything registered.
 */
import { setMaxListeners } from "node:events";
import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { HealthRegistry } from "./health.js";
import { reflectionService } from "./reflection.js";

export type NodeHandler = ReturnType<typeof connectNodeAdapter>;

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
}

export function createConnectHandler(opts: ConnectHandlerOptions): NodeHandler {
  // Connect adds one abort listener per in-flight call; the default limit of 10 warns about a leak that is not one.
  setMaxListeners(0, opts.shutdownSignal);
  const health = opts.health ?? new HealthRegistry();
  const services: DescService[] = [];
  return connectNodeAdapter({
    grpc: true,
    grpcWeb: true,
    connect: true,
    interceptors: opts.interceptors,
    readMaxBytes: opts.readMaxBytes,
    maxTimeoutMs: opts.maxTimeoutMs,
    shutdownSignal: opts.shutdownSignal,
    routes(router) {
      opts.register(recording(router, services));
      for (const s of services) health.add(s.typeName);
      const record = recording(router, services);
      record.service(Health, health.impl);
      record.service(ServerReflection, reflectionService(services));
    },
  });
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
