/**
 * The whole service as users run it: startService on a real nats-server, called by real clients over gRPC,
 * gRPC-Web and Connect, by buf curl (schema from reflection) and by Debian's python3-grpcio.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { create, toJsonString } from "@bufbuild/protobuf";
import { Code, type ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { Backend, EventInputSchema, Outcome } from "../gen/eventrouting/v1/event_pb.js";
import { EventRoutingService } from "../gen/eventrouting/v1/event_routing_service_pb.js";
import { RouterAdminService, RouterSchema } from "../gen/eventrouting/v1/router_admin_service_pb.js";
import { DirectoryAdminService } from "../gen/eventrouting/v1/directory_admin_service_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { loadConfig } from "../src/config.js";
import { startService, type RunningService } from "../src/service.js";
import { ERB_FIXTURES_DIR, ERB_TEST_EXTERNAL_ID, readExpectedFixture } from "./support/erb-fixtures.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";

/** `promise`, or a failure naming what never happened once `ms` passed: a guard against hangs, not a timing claim. */
function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} (${ms} ms)`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

const run = promisify(execFile);
const EMIT_TOKEN = "emit-token-for-tests-0123456789";
const ADMIN_TOKEN = "admin-token-for-tests-0123456789";
const rawPath = (file: string) => join(ERB_FIXTURES_DIR, "raw", file);
const jsonInput = (file: string) => create(EventInputSchema, { event: { case: "json", value: readFileSync(rawPath(file), "utf8") } });
const auth = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

let nats: TestNatsServer;
let a: RunningService;
let b: RunningService;

async function instance(): Promise<RunningService> {
  const config = loadConfig({
    NATS_URL: nats.url,
    PORT: "0",
    EMIT_TOKENS: EMIT_TOKEN,
    ADMIN_TOKENS: ADMIN_TOKEN,
    TRANSFORMER_VERSION: "event-routing-backends@1.1.1",
    CALIPER_ENABLED: "true",
    // Delivery has its own tests; here routers point nowhere and must not be retried at us.
    DELIVERY_ENABLED: "false",
    SHUTDOWN_GRACE_MS: "2000",
  });
  return startService({ ...config, natsUrl: nats.url }, pino({ level: "silent" }));
}

before(async () => {
  nats = await startNatsServer();
  // One after the other: two first starts at once race to create the KV buckets (one can fail on nats-server 2.9),
  // and a failed start next to a good one left the good one running, which kept the file's process alive for ever.
  a = await instance();
  b = await instance();
});
after(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await nats.stop();
});

const baseUrl = (s: RunningService) => `http://127.0.0.1:${s.port}`;
const transports: Array<[string, (s: RunningService) => Transport]> = [
  ["grpc", (s) => createGrpcTransport({ baseUrl: baseUrl(s) })],
  ["grpc-web", (s) => createGrpcWebTransport({ baseUrl: baseUrl(s), httpVersion: "2" })],
  ["connect (HTTP/1.1)", (s) => createConnectTransport({ baseUrl: baseUrl(s), httpVersion: "1.1" })],
];

describe("one service instance", () => {
  test("directory import makes the learner and course resolvable", async () => {
    const directory = createClient(DirectoryAdminService, createGrpcTransport({ baseUrl: baseUrl(a) }));
    await directory.importIdentities(
      { csv: `user_id,username,external_id,email\n3,edx,${ERB_TEST_EXTERNAL_ID},edx@example.com\n` },
      auth(ADMIN_TOKEN),
    );
    await directory.importCourses(
      { courses: [{ courseId: "course-v1:edX+DemoX+Demo_Course", name: "Demonstration Course" }] },
      auth(ADMIN_TOKEN),
    );
  });

  for (const [protocol, transport] of transports) {
    test(`Emit over ${protocol} stores ERB's statement`, async () => {
      const client = createClient(EventRoutingService, transport(a));
      const res = await client.emit({ event: jsonInput("edx.course.enrollment.activated.json") }, auth(EMIT_TOKEN));
      const expected = readExpectedFixture("xapi", "edx.course.enrollment.activated.json")![0]!;
      const xapi = res.result!.backends.find((r) => r.backend === Backend.XAPI)!;
      assert.equal(xapi.outcome, Outcome.PUBLISHED);
      assert.deepEqual(xapi.statementIds, [expected["id"]], "imported external id gives ERB's statement id");
      const caliper = res.result!.backends.find((r) => r.backend === Backend.CALIPER)!;
      assert.equal(caliper.outcome, Outcome.PUBLISHED);
    });
  }

  for (const [protocol, transport] of transports) {
    test(`EmitBatch's lean answer (only_unstored_results) over ${protocol}: counts, and only the event not stored`, async () => {
      const client = createClient(EventRoutingService, transport(a));
      const events = [
        jsonInput("edx.course.enrollment.activated.json"),
        create(EventInputSchema, { event: { case: "json", value: "{not json" } }),
      ];
      const res = await client.emitBatch({ events, onlyUnstoredResults: true }, auth(EMIT_TOKEN));
      assert.deepEqual(
        res.results.map((r) => [r.index, r.outcome]),
        [[1, Outcome.INVALID]],
      );
      // PUBLISHED while no router matches, DUPLICATE once one stored it: either way stored, so not listed.
      assert.equal((res.counts?.published ?? 0) + (res.counts?.duplicate ?? 0), 1);
      assert.equal(res.counts?.invalid, 1);
      assert.equal(res.counts?.statements, 2, "one xAPI statement and one Caliper event");
      const full = await client.emitBatch({ events }, auth(EMIT_TOKEN));
      assert.equal(full.results.length, 2, "without the field the answer has one result per event, as before");
      assert.equal(full.counts, undefined);
    });
  }

  test("tokens: none is Unauthenticated, an emit token cannot administer", async () => {
    const routersClient = createClient(RouterAdminService, createGrpcTransport({ baseUrl: baseUrl(a) }));
    await assert.rejects(routersClient.listRouters({}), (e: ConnectError) => e.code === Code.Unauthenticated);
    await assert.rejects(routersClient.listRouters({}, auth(EMIT_TOKEN)), (e: ConnectError) => e.code === Code.PermissionDenied);
    const emitClient = createClient(EventRoutingService, createGrpcTransport({ baseUrl: baseUrl(a) }));
    await assert.rejects(emitClient.listFailed({}, auth(EMIT_TOKEN)), (e: ConnectError) => e.code === Code.PermissionDenied);
    // This instance runs no delivery workers (DELIVERY_ENABLED=false) and still answers for the failed stream.
    assert.deepEqual((await emitClient.listFailed({ filter: { routerId: "nobody" } }, auth(ADMIN_TOKEN))).failed, []);
  });

  test("health is SERVING and needs no token", async () => {
    const health = createClient(Health, createGrpcTransport({ baseUrl: baseUrl(a) }));
    const res = await health.check({ service: "" });
    assert.equal(res.status, HealthCheckResponse_ServingStatus.SERVING);
  });
});

describe("two instances sharing one NATS", () => {
  test("a router created on one instance is pushed to the other, which then routes events with it", async () => {
    const changed = new Promise<void>((resolve) => {
      const off = b.routers.subscribe((c) => {
        if (c.kind === "put" && c.router.id === "shared-lrs") {
          off();
          resolve();
        }
      });
    });
    const admin = createClient(RouterAdminService, createGrpcTransport({ baseUrl: baseUrl(a) }));
    await admin.createRouter(
      {
        router: {
          id: "shared-lrs",
          backend: Backend.XAPI,
          endpointUrl: "http://127.0.0.1:9/xapi",
          enabled: true,
          auth: { kind: { case: "bearer", value: { token: "s3cret-token" } } },
        },
      },
      auth(ADMIN_TOKEN),
    );
    // The change arrives by the KV watch (pushed, not polled); the deadline only guards a broken watch.
    await withDeadline(changed, 10_000, "the router change never reached the other instance");

    const onB = createClient(EventRoutingService, createGrpcTransport({ baseUrl: baseUrl(b) }));
    const res = await onB.emit({ event: jsonInput("edx.course.grade.passed.first_time.json") }, auth(EMIT_TOKEN));
    assert.deepEqual(res.result!.backends.find((r) => r.backend === Backend.XAPI)!.routerIds, ["shared-lrs"]);
    const jsm = await jetstreamManager(a.nc);
    const msg = await jsm.streams.getMessage("EVENTROUTING_DELIVERY", { last_by_subj: "eventrouting.deliver.shared-lrs" });
    assert.equal(msg?.header.get("Er-Event-Name"), "edx.course.grade.passed.first_time");

    const got = await createClient(RouterAdminService, createGrpcTransport({ baseUrl: baseUrl(b) })).getRouter(
      { id: "shared-lrs" },
      auth(ADMIN_TOKEN),
    );
    assert.equal(got.router!.auth!.hasSecret, true);
    assert.ok(!toJsonString(RouterSchema, got.router!).includes("s3cret-token"), "secrets are write-only");

    const deleted = new Promise<void>((resolve) => {
      const off = b.routers.subscribe((c) => {
        if (c.kind === "delete" && c.id === "shared-lrs") {
          off();
          resolve();
        }
      });
    });
    await admin.deleteRouter({ id: "shared-lrs" }, auth(ADMIN_TOKEN));
    await deleted;
    const after = await onB.transform({ event: jsonInput("edx.course.grade.passed.first_time.json") }, auth(EMIT_TOKEN));
    assert.deepEqual(after.outputs.find((o) => o.backend === Backend.XAPI)!.routerIds, []);
  });
});

describe("real clients", () => {
  test("buf curl calls Emit with the schema from server reflection", async () => {
    const body = JSON.stringify({ event: { json: readFileSync(rawPath("edx.course.enrollment.deactivated.json"), "utf8") } });
    const { stdout } = await run("node_modules/.bin/buf", [
      "curl",
      "--protocol",
      "grpc",
      "-H",
      `Authorization: Bearer ${EMIT_TOKEN}`,
      "-d",
      body,
      `${baseUrl(a)}/eventrouting.v1.EventRoutingService/Emit`,
    ]);
    const res = JSON.parse(stdout) as { result: { outcome: string; name: string } };
    assert.equal(res.result.outcome, "OUTCOME_PUBLISHED");
    assert.equal(res.result.name, "edx.course.enrollment.deactivated");
  });

  test("Debian python3-grpcio calls Emit and Transform", async () => {
    const dir = mkdtempSync(join(tmpdir(), "er-py-"));
    try {
      const descriptors = join(dir, "eventrouting.binpb");
      await run("node_modules/.bin/buf", ["build", "proto", "-o", descriptors]);
      const { stdout } = await run("/usr/bin/python3", [
        "test/clients/python_client.py",
        `127.0.0.1:${a.port}`,
        descriptors,
        EMIT_TOKEN,
        rawPath("showanswer.json"),
      ]);
      const out = JSON.parse(stdout) as {
        emit: { result: { outcome: string } };
        transform: { outputs: Array<{ backend: string; statements: Array<{ verb: { id: string } }> }> };
        invalid: { code: string; details: string };
        unauthenticated: { code: string };
      };
      assert.equal(out.emit.result.outcome, "OUTCOME_PUBLISHED");
      const xapi = out.transform.outputs.find((o) => o.backend === "BACKEND_XAPI")!;
      assert.equal(xapi.statements[0]!.verb.id, "http://adlnet.gov/expapi/verbs/asked");
      assert.equal(out.invalid.code, "INVALID_ARGUMENT");
      assert.match(out.invalid.details, /^event:/);
      assert.equal(out.unauthenticated.code, "UNAUTHENTICATED");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("NATS outage", () => {
  test("health goes NOT_SERVING while NATS is unreachable and back to SERVING after", async () => {
    const health = createClient(Health, createGrpcTransport({ baseUrl: baseUrl(a) }));
    const stream = health.watch({ service: "" }, { timeoutMs: 30_000 })[Symbol.asyncIterator]();
    const statuses = [(await stream.next()).value!.status];
    const reconnected = (async () => {
      for await (const s of a.nc.status()) if (s.type === "reconnect") return;
    })();
    await nats.server.stop();
    statuses.push((await stream.next()).value!.status);
    await nats.restart();
    await reconnected;
    statuses.push((await stream.next()).value!.status);
    await stream.return?.();
    assert.deepEqual(statuses, [
      HealthCheckResponse_ServingStatus.SERVING,
      HealthCheckResponse_ServingStatus.NOT_SERVING,
      HealthCheckResponse_ServingStatus.SERVING,
    ]);
  });
});
