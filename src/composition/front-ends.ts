/**
 * The front ends that accept calls: the Connect RPC server (Emit and the admin services) and the admin console,
 * which shares its handler and auth. Started last but for the metrics, once everything they call is running.
 * On close they are drained first of all (health NOT_SERVING, the drain delay, then SHUTDOWN_GRACE_MS for calls in
 * flight) by `drain()`, before the stack unwinds; when a later start fails, the stack closes them at once instead,
 * so a failed start leaves no port open for its caller.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { DirectoryAdminService } from "../../gen/eventrouting/v1/directory_admin_service_pb.js";
import { EventRoutingService } from "../../gen/eventrouting/v1/event_routing_service_pb.js";
import { IngestAdminService } from "../../gen/eventrouting/v1/ingest_admin_service_pb.js";
import { LearnerAdminService } from "../../gen/eventrouting/v1/learner_admin_service_pb.js";
import { MappingAdminService } from "../../gen/eventrouting/v1/mapping_admin_service_pb.js";
import { RouterAdminService } from "../../gen/eventrouting/v1/router_admin_service_pb.js";
import { createDirectoryAdminService } from "../admin/directory-admin-service.js";
import { createIngestAdminService } from "../admin/ingest-admin-service.js";
import { createLearnerAdminService } from "../admin/learner-admin-service.js";
import { createMappingAdminService } from "../admin/mapping-admin-service.js";
import { startWorkerValidator, type StatementValidator } from "../admin/statement-validator.js";
import { createRouterAdminService } from "../admin/router-admin-service.js";
import type { Config } from "../config.js";
import { startConsoleServer } from "../console/console-server.js";
import { defaultAssetsDir } from "../console/static-files.js";
import type { Delivery } from "../delivery/delivery.js";
import type { Erasure } from "../erasure/erasure.js";
import { createFailedRpc } from "../delivery/failed/failed-rpc.js";
import type { ReconcileReport } from "../delivery/reconcile/reconcile.js";
import { FailedStore } from "../delivery/failed/failed-store.js";
import { createEventRoutingService } from "../ingest/event-routing-service.js";
import type { IngestInputs } from "../ingest/ingest-inputs.js";
import { RejectedStream } from "../ingest/rejected-stream.js";
import type { ServiceMetrics } from "../metrics/metrics.js";
import { metricsInterceptor } from "../metrics/rpc-metrics.js";
import { jetStreamWriter } from "../nats/jetstream-writer.js";
import { ingestNames } from "../nats/names.js";
import type { Tokens } from "../server/auth.js";
import { ADMIN_SERVICE_OPTIONS } from "../server/connect-handler.js";
import { bindHealthToDelivery, bindHealthToNats, type HealthRegistry } from "../server/health.js";
import type { RunningHttpServer } from "../server/http-server.js";
import { rpcErrorsOnly } from "../server/interceptors.js";
import { type RunningServer, type ServerOptions, standardInterceptors, startServer } from "../server/server.js";
import type { BackendSettings } from "../transform/transform-event.js";
import { caliperSensorId } from "../transform/caliper/envelope.js";
import { createCaliperRegistry } from "../transform/caliper/index.js";
import { createXapiRegistry } from "../transform/xapi/index.js";
import { deliveryDefaults } from "./delivery.js";
import type { EmitPath } from "./inputs.js";
import type { LifecycleStack } from "./lifecycle-stack.js";
import type { NatsLayer } from "./nats.js";
import type { Stores } from "./stores.js";

export type HttpOptions = NonNullable<ServerOptions["http"]>;

/** How long reconcile waits for JetStream to confirm one batch of resent statements. */
const RESEND_TIMEOUT_MS = 10_000;

/**
 * TLS files are read here, before NATS is connected, so a missing certificate fails start-up before anything is
 * opened; connections over MAX_CONNECTIONS are logged at most every 10 s.
 */
export function httpOptions(config: Config, logger: Logger): HttpOptions {
  let refused = 0;
  let lastLog = 0;
  return {
    ...(config.tlsCertFile && config.tlsKeyFile
      ? { tls: { cert: readFileSync(config.tlsCertFile), key: readFileSync(config.tlsKeyFile) } }
      : {}),
    maxConcurrentStreams: config.http2MaxConcurrentStreams,
    idleTimeoutMs: config.httpIdleTimeoutMs,
    maxConnections: config.maxConnections,
    onConnectionRefused() {
      refused++;
      if (Date.now() - lastLog < 10_000) return;
      logger.warn({ refused, maxConnections: config.maxConnections }, "connections refused: MAX_CONNECTIONS reached");
      lastLog = Date.now();
      refused = 0;
    },
  };
}

export interface FrontEndDeps {
  readonly nats: NatsLayer;
  readonly stores: Stores;
  readonly emit: EmitPath;
  readonly backends: BackendSettings[];
  readonly delivery: Delivery | undefined;
  readonly ingest: IngestInputs;
  readonly erasure: Erasure;
  readonly health: HealthRegistry;
  readonly tokens: Tokens;
  readonly metrics: ServiceMetrics | undefined;
  readonly http: HttpOptions;
  readonly config: Config;
  readonly logger: Logger;
}

export interface FrontEnds {
  readonly server: RunningServer;
  readonly consoleServer: RunningHttpServer | undefined;
  /** Health NOT_SERVING, then (after `drainDelayMs`, the ports still accepting calls) finish the calls in flight. */
  drain(drainDelayMs: number | undefined): Promise<void>;
}

export async function startFrontEnds(stack: LifecycleStack, deps: FrontEndDeps): Promise<FrontEnds> {
  const { config, http, metrics, logger, tokens, health } = deps;
  // Set once drain() has begun: the stack's steps below are then already done, with the grace period.
  let drained = false;
  // Statement validation for the mapping RPCs, in a worker thread started on first use (statement-validator.ts).
  const validator = startWorkerValidator();
  stack.defer(() => validator.close());
  const server = await startServer({
    host: config.host,
    port: config.port,
    readMaxBytes: config.readMaxBytes,
    maxTimeoutMs: config.maxTimeoutMs,
    interceptors: [
      ...(metrics ? [metricsInterceptor(metrics.recorder)] : []),
      ...standardInterceptors({ logger, logRpcs: config.logRpcs, tokens }),
    ],
    health,
    rpcLog: config.logRpcs ? logger : rpcErrorsOnly(logger),
    http,
    register: await rpcServices(deps, validator.validate),
  });
  stack.defer(() => drained || server.shutdown(0));
  // The console shares the RPC handler (same auth); closed with the main port so no call outlives shutdown.
  const consoleServer =
    config.consolePort === undefined
      ? undefined
      : await startConsoleServer({
          host: config.host,
          port: config.consolePort,
          rpcHandler: server.handler,
          assetsDir: defaultAssetsDir(),
          settings: { natsPrefix: config.natsPrefix },
          http,
        });
  if (consoleServer) stack.defer(() => drained || consoleServer.close(0));
  void bindHealthToNats(deps.nats.nc.status(), server.health);
  if (deps.delivery) stack.defer(bindHealthToDelivery(deps.delivery.health, server.health));
  return {
    server,
    consoleServer,
    async drain(drainDelayMs) {
      drained = true;
      // Load balancers follow health: they stop sending new calls before the listeners refuse them.
      server.health.shutdown();
      if (drainDelayMs) await sleep(drainDelayMs);
      await Promise.all([server.shutdown(config.shutdownGraceMs), consoleServer?.close(config.shutdownGraceMs)]);
    },
  };
}

/** The Connect services the RPC server (and so the console) serves. */
async function rpcServices(deps: FrontEndDeps, validate: StatementValidator): Promise<ServerOptions["register"]> {
  const { nats, stores, emit, backends, delivery, ingest, erasure, config, logger } = deps;
  const { nc, names } = nats;
  const { routers, directories } = stores;
  const eventRouting = createEventRoutingService({
    pipeline: emit.pipeline,
    publisher: emit.publisher,
    emitBatchMax: config.emitBatchMax,
    // The failed stream needs only JetStream, so every instance answers these RPCs, delivering or not.
    failed:
      delivery?.failedRpc ??
      createFailedRpc(new FailedStore(jetstream(nc), await jetstreamManager(nc), names, (id) => routers.get(id)), { logger }),
  });
  const rejectedStream = new RejectedStream(await jetstreamManager(nc), ingestNames(config.natsPrefix));
  const enabledBackends = new Set(backends.filter((b) => b.enabled).map((b) => b.backend));
  const mappingAdmin = createMappingAdminService({
    store: stores.mappings,
    settings: emit.pipeline.settings,
    validate,
    builtins: { xapi: createXapiRegistry(), caliper: createCaliperRegistry() },
    enabledBackends,
    directories,
    logger,
  });
  // Reconcile reads the delivery stream and the LRS only, so every instance answers it, delivering or not.
  const js = jetstream(nc);
  const reconcile = {
    reconcile: { js, jsm: await jetstreamManager(nc), writer: jetStreamWriter(js, { timeoutMs: RESEND_TIMEOUT_MS }), names },
    ...(deps.metrics ? { onReport: (r: ReconcileReport, at: Date) => deps.metrics?.recorder.reconciled(r.routerId, r, at) } : {}),
  };
  return (router) => {
    router.service(EventRoutingService, eventRouting);
    router.service(
      RouterAdminService,
      createRouterAdminService({
        store: routers,
        deliveryDefaults: deliveryDefaults(config),
        enabledBackends,
        logger,
        caliperSensorId: caliperSensorId(config, config.caliperSensorId),
        reconcile,
        ...(delivery ? { status: delivery.status } : {}),
      }),
      ADMIN_SERVICE_OPTIONS,
    );
    router.service(
      DirectoryAdminService,
      createDirectoryAdminService({ identities: directories.identities, courses: directories.courses }),
      ADMIN_SERVICE_OPTIONS,
    );
    router.service(MappingAdminService, mappingAdmin, ADMIN_SERVICE_OPTIONS);
    router.service(
      IngestAdminService,
      createIngestAdminService({ eventBus: ingest.eventBus, natsIngest: ingest.natsIngest, rejected: rejectedStream }),
      ADMIN_SERVICE_OPTIONS,
    );
    router.service(LearnerAdminService, createLearnerAdminService(erasure), ADMIN_SERVICE_OPTIONS);
  };
}
