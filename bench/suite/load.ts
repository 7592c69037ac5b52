/**
 * The load generator of the benchmark suite, one run per process (bench/run.ts starts it, bundled, once per run):
 * `node load.js '<json LoadArgs>'`. It prints one JSON line with its figures and exits. It never runs in the
 * service's process, so what it costs (building requests, counting what arrives) is not charged to the service,
 * and the raw baselines use the same client libraries (nats.js, connect-node) the service and its users do.
 *
 * Modes:
 * - batch-raw / batch-svc: 100-event batches at concurrency 4, for `seconds`. Raw publishes the statements those
 *   events make, pipelined with js.publish, with the service's headers and msg-id format (a fresh id per message,
 *   like the service's fresh statement ids); svc calls EmitBatch asking for the lean answer (counts, and results
 *   only for events not stored). Figure: statements stored per second.
 * - single: Emit at concurrency 16 against `port` (the service or the trivial handler). Figure: calls per second.
 * - open: open-loop Emit at `rps`: call i is due at start + i/rps and sent then whatever the earlier calls do;
 *   its latency is measured from that due time (no coordinated omission). Figures: p50/p99/max in ms.
 * - fill: `count` delivery messages for `routerId`, pipelined in windows of 2,000.
 * - drain-raw: a durable consumer like the service's (same batch size and max_ack_pending) consumes and acks
 *   `count` messages. Figure: messages per second.
 * - drain-svc: serves the local endpoint, enables router `routerId` and waits until `count` statements arrived.
 * - e2e: serves the local endpoint and runs batch-svc with delivery on; lag = arrival at the endpoint minus the
 *   EmitBatch answer that stored the statement (the full answer: the lag needs each statement's id). Figures:
 *   stored/s, delivered/s, lag p50/p99.
 * - reconcile-raw / reconcile-svc: serve a local LRS that answers GET statements?statementId= at once (200 with the
 *   statement id, 404 for ids ending in "00": about 1 in 256 "lost"). Raw reads the router's ids from the delivery
 *   stream with an ordered headers-only consumer and GETs each at concurrency 16 over node:http keep-alive (the
 *   work of reconcile, with the same client libraries and nothing else); svc calls ReconcileRouter. Figure:
 *   statements checked per second.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, nanos } from "@nats-io/transport-node";
import { Backend, EventInputSchema } from "../../gen/eventrouting/v1/event_pb.js";
import { EventRoutingService } from "../../gen/eventrouting/v1/event_routing_service_pb.js";
import { RouterAdminService } from "../../gen/eventrouting/v1/router_admin_service_pb.js";
import { natsNames } from "../../src/nats/names.js";
import { deliveryHeaders } from "../../src/routing/delivery-message.js";
import { parseEventJson } from "../../src/transform/edx-event.js";
import type { JsonObject } from "../../src/transform/edx-event.js";
import { transformForBackend } from "../../src/transform/transform-event.js";
import { createXapiRegistry } from "../../src/transform/xapi/index.js";
import { ERB_TEST_ENV } from "../../test/support/erb-fixtures.js";

export interface LoadArgs {
  readonly mode:
    | "batch-raw"
    | "batch-svc"
    | "single"
    | "open"
    | "fill"
    | "drain-raw"
    | "drain-svc"
    | "e2e"
    | "reconcile-raw"
    | "reconcile-svc";
  readonly natsUrl: string;
  readonly port?: number;
  readonly token: string;
  readonly fixturesDir: string;
  /** File names under fixturesDir/raw: the fixture mix. */
  readonly fixtureFiles: readonly string[];
  /** Distinct per run, so no run re-sends another's statement ids (JetStream would de-duplicate them). */
  readonly run: number;
  readonly seconds?: number;
  readonly routers?: readonly string[];
  readonly routerId?: string;
  readonly count?: number;
  readonly batchSize?: number;
  readonly rps?: number;
  /** The local endpoint's port, fixed by the caller: the router already points at it (an endpoint change needs secrets). */
  readonly endpointPort?: number;
}

const args = JSON.parse(process.argv[2]!) as LoadArgs;
const names = natsNames();
const utf8 = new TextEncoder();
const opts = { headers: { authorization: `Bearer ${args.token}` } };
const BATCH = 100;

// The fixture mix (non-anonymous raw fixtures), one line each.
const texts = args.fixtureFiles.map((f) => readFileSync(join(args.fixturesDir, "raw", f), "utf8").replace(/\s*\n\s*/g, " "));

/** A timestamp unique to (run, n): run r owns a 1,000 s window of microseconds in the day. */
function uniqueTime(n: number): string {
  const micros = args.run * 1_000_000_000 + n;
  const s = Math.floor(micros / 1e6) % 86_400;
  const hh = String(Math.floor(s / 3600)).padStart(2, "0");
  const mm = String(Math.floor(s / 60) % 60).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return `${hh}:${mm}:${ss}.${String(micros % 1e6).padStart(6, "0")}`;
}
let counter = 0;
function nextText(): string {
  const n = counter++;
  return texts[n % texts.length]!.replace(/(\d{2}:\d{2}:\d{2})(\.\d+)?(\+00:00|Z)/g, `${uniqueTime(n)}$3`);
}
const nextEvent = () => create(EventInputSchema, { event: { case: "json", value: nextText() } });

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
const round = (x: number) => Math.round(x * 10) / 10;

async function closedLoop(concurrency: number, seconds: number, call: () => Promise<number>): Promise<{ count: number; secs: number }> {
  const deadline = Date.now() + seconds * 1000;
  let count = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < deadline) {
        const n = await call();
        count += n;
      }
    }),
  );
  return { count, secs: Number(process.hrtime.bigint() - started) / 1e9 };
}

function grpcClients() {
  const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${args.port}` });
  return { events: createClient(EventRoutingService, transport), admin: createClient(RouterAdminService, transport) };
}

/**
 * Statements stored by an EmitBatch call asking for the lean answer (only_unstored_results), as a caller sending
 * many events would: the delivery messages the call stored (one per statement per router, de-duplicated ones
 * left out; the bench sends none twice).
 */
async function emitBatchLean(events: ReturnType<typeof grpcClients>["events"]) {
  const res = await events.emitBatch({ events: Array.from({ length: BATCH }, nextEvent), onlyUnstoredResults: true }, opts);
  return res.counts?.messagesStored ?? 0;
}

/** Statements stored by a full EmitBatch answer (e2e needs their ids): every statement id once per matching router. */
async function emitBatchStored(
  events: ReturnType<typeof grpcClients>["events"],
  routers: number,
  onIds?: (ids: readonly string[]) => void,
) {
  const res = await events.emitBatch({ events: Array.from({ length: BATCH }, nextEvent) }, opts);
  let n = 0;
  for (const r of res.results) {
    for (const b of r.backends) {
      if (b.backend !== Backend.XAPI) continue;
      n += b.statementIds.length * routers;
      onIds?.(b.statementIds);
    }
  }
  return n;
}

/** A local endpoint that answers 200 at once; counts statements (and when each arrived, for e2e). */
async function endpoint(onIds: (ids: string[]) => void) {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      res.writeHead(200, { "Content-Type": "application/json" }).end("[]");
      onIds((JSON.parse(Buffer.concat(chunks).toString()) as Array<{ id: string }>).map((s) => s.id));
    });
  });
  await new Promise<void>((r) => server.listen(args.endpointPort, "127.0.0.1", r));
  return { server };
}

/** A local LRS for reconcile: GET statements?statementId=X answers the statement's id, or 404 for ids ending in "00". */
async function lookupLrs() {
  let answered = 0;
  const server = http.createServer((req, res) => {
    const id = new URL(req.url ?? "/", "http://x").searchParams.get("statementId") ?? "";
    answered++;
    if (id.endsWith("00")) res.writeHead(404, { "Content-Type": "application/json" }).end('{"message":"not found"}');
    else res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ id }));
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(args.endpointPort, "127.0.0.1", r));
  return { server, answered: () => answered };
}

/** reconcile's work done by hand: every id of the router's subject, looked up at concurrency 16. */
async function reconcileRaw(): Promise<Record<string, number>> {
  const lrs = await lookupLrs();
  const nc = await connect({ servers: args.natsUrl, noAsyncTraces: true });
  const started = process.hrtime.bigint();
  const consumer = await jetstream(nc).consumers.get(names.deliveryStream, {
    filter_subjects: names.deliverSubject(args.routerId!),
    headers_only: true,
  });
  const base = `http://127.0.0.1:${args.endpointPort}/xapi/statements?statementId=`;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const inFlight = new Set<Promise<void>>();
  let checked = 0;
  let missing = 0;
  const messages = await consumer.consume({ max_messages: 1000 });
  for await (const m of messages) {
    const id = m.headers?.get("Er-Statement-Id") ?? "";
    while (inFlight.size >= 16) await Promise.race(inFlight);
    const p = new Promise<void>((resolve, reject) => {
      http
        .get(base + id, { agent, headers: { "X-Experience-API-Version": "1.0.3" } }, (r) => {
          const chunks: Buffer[] = [];
          r.on("data", (c: Buffer) => chunks.push(c));
          r.on("end", () => {
            JSON.parse(Buffer.concat(chunks).toString("utf8"));
            checked++;
            if (r.statusCode === 404) missing++;
            resolve();
          });
        })
        .on("error", reject);
    }).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (m.info.pending === 0) break;
  }
  await Promise.all(inFlight);
  const secs = Number(process.hrtime.bigint() - started) / 1e9;
  await nc.close();
  agent.destroy();
  lrs.server.close();
  return { perSecond: Math.round(checked / secs), count: checked, missing, secs: round(secs) };
}

/** ReconcileRouter over the last hour, through the service; the figures from its report. */
async function reconcileSvc(): Promise<Record<string, number>> {
  const lrs = await lookupLrs();
  const { admin } = grpcClients();
  const started = process.hrtime.bigint();
  let checked = 0;
  let missing = 0;
  for await (const res of admin.reconcileRouter(
    { id: args.routerId!, since: { seconds: BigInt(Math.floor(Date.now() / 1000) - 3600), nanos: 0 }, concurrency: 16 },
    opts,
  )) {
    if (res.update.case === "report") [checked, missing] = [Number(res.update.value.checked), Number(res.update.value.missing)];
  }
  const secs = Number(process.hrtime.bigint() - started) / 1e9;
  lrs.server.close();
  return { perSecond: Math.round(checked / secs), count: checked, missing, secs: round(secs), answered: lrs.answered() };
}

/** The raw baseline's statements: the same fixture mix through the same transform, encoded once up front. */
function rawPool(): Array<Array<{ body: Uint8Array; eventName: string }>> {
  const settings = { backend: "xapi" as const, enabled: true, filter: { kind: "all" as const }, registry: createXapiRegistry() };
  return Array.from({ length: texts.length * 4 }, () => {
    const event = parseEventJson(nextText());
    const r = transformForBackend(settings, event, ERB_TEST_ENV);
    const statements: readonly JsonObject[] = r.outcome === "transformed" ? r.statements : [];
    return statements.map((s) => ({ body: utf8.encode(JSON.stringify(s)), eventName: event.name }));
  });
}

async function main(): Promise<Record<string, number>> {
  switch (args.mode) {
    case "batch-raw": {
      const nc = await connect({ servers: args.natsUrl, noAsyncTraces: true });
      const js = jetstream(nc);
      const pool = rawPool();
      let at = 0;
      const r = await closedLoop(4, args.seconds!, async () => {
        const pubs = [];
        for (const routerId of args.routers!) {
          const subject = names.deliverSubject(routerId);
          for (let e = 0; e < BATCH; e++) {
            for (const s of pool[(at + e) % pool.length]!) {
              const statementId = randomUUID();
              pubs.push(
                js.publish(subject, s.body, {
                  msgID: names.deliveryMsgId(routerId, statementId),
                  headers: deliveryHeaders({ routerId, eventName: s.eventName, statementId, backend: "xapi" }),
                  timeout: 10_000,
                  expect: { streamName: names.deliveryStream },
                }),
              );
            }
          }
        }
        at += BATCH;
        await Promise.all(pubs);
        return pubs.length;
      });
      await nc.close();
      return { perSecond: Math.round(r.count / r.secs), count: r.count, secs: round(r.secs) };
    }
    case "batch-svc": {
      const { events } = grpcClients();
      const r = await closedLoop(4, args.seconds!, () => emitBatchLean(events));
      return { perSecond: Math.round(r.count / r.secs), count: r.count, secs: round(r.secs) };
    }
    case "single": {
      const { events } = grpcClients();
      const r = await closedLoop(16, args.seconds!, async () => {
        await events.emit({ event: nextEvent() }, opts);
        return 1;
      });
      return { perSecond: Math.round(r.count / r.secs), count: r.count, secs: round(r.secs) };
    }
    case "open": {
      const { events } = grpcClients();
      // Warm-up (connection, JIT) outside the schedule.
      for (let i = 0; i < 50; i++) await events.emit({ event: nextEvent() }, opts);
      const total = Math.round(args.rps! * args.seconds!);
      const interval = 1000 / args.rps!;
      const latencies: number[] = [];
      let errors = 0;
      const inFlight: Array<Promise<void>> = [];
      const start = performance.now();
      for (let i = 0; i < total; i++) {
        const due = start + i * interval;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        inFlight.push(
          events.emit({ event: nextEvent() }, opts).then(
            () => void latencies.push(performance.now() - due),
            () => void errors++,
          ),
        );
      }
      await Promise.all(inFlight);
      latencies.sort((a, b) => a - b);
      return {
        p50: round(percentile(latencies, 50)),
        p99: round(percentile(latencies, 99)),
        max: round(latencies.at(-1) ?? 0),
        count: total,
        errors,
      };
    }
    case "fill": {
      const nc = await connect({ servers: args.natsUrl, noAsyncTraces: true });
      const js = jetstream(nc);
      const pool = rawPool().flat();
      const routerId = args.routerId!;
      const subject = names.deliverSubject(routerId);
      for (let i = 0; i < args.count!; ) {
        const pubs = [];
        for (const end = Math.min(args.count!, i + 2000); i < end; i++) {
          const s = pool[i % pool.length]!;
          const statementId = randomUUID();
          const headers = deliveryHeaders({ routerId, eventName: s.eventName, statementId, backend: "xapi" });
          pubs.push(js.publish(subject, s.body, { msgID: names.deliveryMsgId(routerId, statementId), headers, timeout: 30_000 }));
        }
        await Promise.all(pubs);
      }
      await nc.close();
      return { count: args.count! };
    }
    case "reconcile-raw":
      return reconcileRaw();
    case "reconcile-svc":
      return reconcileSvc();
    case "drain-raw": {
      const nc = await connect({ servers: args.natsUrl, noAsyncTraces: true });
      const jsm = await jetstreamManager(nc);
      const durable = `bench-raw-${args.run}`;
      await jsm.consumers.add(names.deliveryStream, {
        durable_name: durable,
        filter_subject: names.deliverSubject(args.routerId!),
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(30_000),
        max_ack_pending: args.batchSize! * 2,
      });
      const consumer = await jetstream(nc).consumers.get(names.deliveryStream, durable);
      const started = process.hrtime.bigint();
      let acked = 0;
      const messages = await consumer.consume({ max_messages: args.batchSize! });
      for await (const m of messages) {
        m.ack();
        if (++acked >= args.count!) break;
      }
      await nc.flush();
      const secs = Number(process.hrtime.bigint() - started) / 1e9;
      await jsm.consumers.delete(names.deliveryStream, durable);
      await nc.close();
      return { perSecond: Math.round(acked / secs), count: acked, secs: round(secs) };
    }
    case "drain-svc": {
      let received = 0;
      let done: () => void = () => {};
      const all = new Promise<void>((r) => (done = r));
      const ep = await endpoint((ids) => {
        received += ids.length;
        if (received >= args.count!) done();
      });
      const { admin } = grpcClients();
      const started = process.hrtime.bigint();
      await admin.updateRouter({ router: { id: args.routerId!, enabled: true }, updateMask: { paths: ["enabled"] } }, opts);
      await all;
      const secs = Number(process.hrtime.bigint() - started) / 1e9;
      await admin.updateRouter({ router: { id: args.routerId!, enabled: false }, updateMask: { paths: ["enabled"] } }, opts);
      ep.server.close();
      return { perSecond: Math.round(received / secs), count: received, secs: round(secs) };
    }
    case "e2e": {
      const stored = new Map<string, number>();
      const lags: number[] = [];
      let delivered = 0;
      const ep = await endpoint((ids) => {
        const now = performance.now();
        for (const id of ids) {
          const at = stored.get(id);
          if (at !== undefined) lags.push(now - at);
          stored.delete(id);
        }
        delivered += ids.length;
      });
      const { events, admin } = grpcClients();
      await admin.updateRouter({ router: { id: args.routerId!, enabled: true }, updateMask: { paths: ["enabled"] } }, opts);
      const started = performance.now();
      const r = await closedLoop(4, args.seconds!, () =>
        emitBatchStored(events, 1, (ids) => {
          const now = performance.now();
          for (const id of ids) stored.set(id, now);
        }),
      );
      const guard = performance.now() + 60_000;
      while (delivered < r.count && performance.now() < guard) await new Promise((res) => setTimeout(res, 20));
      const secs = (performance.now() - started) / 1000;
      await admin.updateRouter({ router: { id: args.routerId!, enabled: false }, updateMask: { paths: ["enabled"] } }, opts);
      ep.server.close();
      lags.sort((a, b) => a - b);
      return {
        perSecond: Math.round(r.count / r.secs),
        deliveredPerSecond: Math.round(delivered / secs),
        count: r.count,
        delivered,
        lagP50: round(percentile(lags, 50)),
        lagP99: round(percentile(lags, 99)),
      };
    }
  }
}

const result = await main();
// The generator's own CPU (user + system), so a run can show whether the generator or the service was the limit.
const cpu = process.cpuUsage();
result["loadCpuMs"] = Math.round((cpu.user + cpu.system) / 1000);
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
