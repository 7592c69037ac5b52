import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, type ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Backend, EventInputSchema, Outcome } from "../gen/eventrouting/v1/event_pb.js";
import { EventRoutingService } from "../gen/eventrouting/v1/event_routing_service_pb.js";
import { createFailedRpc } from "../src/delivery/failed/failed-rpc.js";
import { FailedStore } from "../src/delivery/failed/failed-store.js";
import type { Logger } from "pino";
import { backendSettings } from "../src/ingest/backend-settings.js";
import type { BackendSettings } from "../src/transform/transform-event.js";
import { TransformerRegistry } from "../src/transform/registry.js";
import { createXapiRegistry } from "../src/transform/xapi/index.js";
import { capturingLogger } from "./server-fixtures.js";
import { createEventRoutingService } from "../src/ingest/event-routing-service.js";
import type { PipelineDeps } from "../src/ingest/emit-pipeline.js";
import { natsNames } from "../src/nats/names.js";
import type { RouterConfig } from "../src/routing/router-model.js";
import { StatementPublisher } from "../src/routing/statement-publisher.js";
import { ERB_FIXTURES_DIR, ERB_TEST_ENV, ERB_TEST_EXTERNAL_ID, readExpectedFixture } from "./support/erb-fixtures.js";
import { makeRouter, MemoryRouterSource } from "./support/delivery-harness.js";
import { startJetStream, type TestNatsServer } from "./support/nats-server.js";
import { errorMappingInterceptor } from "../src/server/interceptors.js";

const names = natsNames("emittest");
const raw = (file: string) => readFileSync(join(ERB_FIXTURES_DIR, "raw", file), "utf8");
const jsonInput = (text: string) => create(EventInputSchema, { event: { case: "json", value: text } });

/** A router whose endpoint is never called: these tests stop at the stream. */
const router = (id: string, extra: Partial<RouterConfig> = {}) => makeRouter(id, "http://127.0.0.1:9/lrs", extra);

/** A fixed set of routers; the KV-backed store is tested in the routers tests. */
function staticRouters(list: RouterConfig[]): MemoryRouterSource {
  const source = new MemoryRouterSource();
  for (const r of list) source.put(r);
  return source;
}

let nats: TestNatsServer;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;

before(async () => {
  ({ nats, nc, js, jsm } = await startJetStream(names));
});
after(async () => {
  await nc.close();
  await nats.stop();
});

function clientFor(
  opts: {
    routers?: RouterConfig[];
    xapiEnabled?: boolean;
    caliperEnabled?: boolean;
    emitBatchMax?: number;
    /** Changes the backends (e.g. adds a transformer that throws). */
    backends?: (b: BackendSettings[]) => BackendSettings[];
    logger?: Logger;
  } = {},
) {
  const settings = backendSettings({
    xapiEnabled: opts.xapiEnabled ?? true,
    caliperEnabled: opts.caliperEnabled ?? false,
    xapiEvents: undefined,
    xapiEventsRegex: undefined,
    xapiEventsRegexMode: "allowlist",
    caliperEvents: undefined,
    caliperEventsRegex: undefined,
    caliperEventsRegexMode: "allowlist",
  });
  const pipeline: PipelineDeps = {
    settings: { lmsRootUrl: ERB_TEST_ENV.lmsRootUrl, transformerVersion: ERB_TEST_ENV.transformerVersion, agentIfiType: "external_id" },
    backends: opts.backends ? opts.backends(settings) : settings,
    ...(opts.logger ? { logger: opts.logger } : {}),
    directories: {
      identities: { resolve: async () => ({ externalId: ERB_TEST_EXTERNAL_ID, email: "edx@example.com" }) },
      courses: { courseName: async () => "Demonstration Course" },
    },
    routers: staticRouters(opts.routers ?? []),
    names,
  };
  const publisher = new StatementPublisher(js, { timeoutMs: 1000, streamName: names.deliveryStream });
  const transport = createRouterTransport(
    ({ service }) =>
      service(
        EventRoutingService,
        createEventRoutingService({
          pipeline,
          publisher,
          emitBatchMax: opts.emitBatchMax ?? 1000,
          failed: createFailedRpc(new FailedStore(js, jsm, names)),
        }),
      ),
    { router: { interceptors: [errorMappingInterceptor] } },
  );
  return createClient(EventRoutingService, transport);
}

async function subjectCount(routerId: string): Promise<number> {
  const info = await jsm.streams.info(names.deliveryStream, { subjects_filter: names.deliverSubject(routerId) });
  return info.state.subjects?.[names.deliverSubject(routerId)] ?? 0;
}

describe("Emit", () => {
  test("publishes the ERB-identical statement once per matching router, with override_args and headers", async () => {
    const expected = readExpectedFixture("xapi", "edx.course.enrollment.activated.json")![0]!;
    const client = clientFor({
      routers: [
        router("lrs-a", { overrideArgs: { version: "1.0.3" } }),
        router("lrs-edx", { matchParams: [{ path: "context.org_id", patterns: ["^ed", "nomatch"] }] }),
        router("lrs-other-org", { matchParams: [{ path: "context.org_id", patterns: ["^MITx$"] }] }),
        router("lrs-off", { enabled: false }),
        router("caliper-1", { backend: "caliper" }),
      ],
    });
    const res = await client.emit({ event: jsonInput(raw("edx.course.enrollment.activated.json")) });
    const r = res.result!;
    assert.equal(r.outcome, Outcome.PUBLISHED);
    assert.equal(r.name, "edx.course.enrollment.activated");
    const xapi = r.backends.find((b) => b.backend === Backend.XAPI)!;
    assert.deepEqual(xapi.statementIds, [expected["id"]]);
    assert.deepEqual(xapi.routerIds, ["lrs-a", "lrs-edx"]);
    // Caliper is disabled: reported FILTERED (as the README promises), with no routers, although one exists.
    const caliper = r.backends.find((b) => b.backend === Backend.CALIPER)!;
    assert.equal(caliper.outcome, Outcome.FILTERED);
    assert.match(caliper.reason, /caliper backend is disabled/);
    assert.deepEqual(caliper.routerIds, []);

    const msg = await jsm.streams.getMessage(names.deliveryStream, { last_by_subj: names.deliverSubject("lrs-a") });
    assert.ok(msg);
    assert.equal(msg.header.get("Nats-Msg-Id"), `lrs-a:${expected["id"]}`);
    assert.equal(msg.header.get("Er-Event-Name"), "edx.course.enrollment.activated");
    assert.equal(msg.header.get("Er-Backend"), "xapi");
    assert.deepEqual(msg.json(), expected);
    assert.equal(await subjectCount("lrs-other-org"), 0);
    assert.equal(await subjectCount("lrs-off"), 0);
  });

  test("a retried Emit does not duplicate", async () => {
    const client = clientFor({ routers: [router("dedupe")] });
    const input = jsonInput(raw("edx.course.enrollment.deactivated.json"));
    await client.emit({ event: input });
    await client.emit({ event: input });
    assert.equal(await subjectCount("dedupe"), 1);
  });

  test("typed TrackingEvent and JSON text give the same statement id", async () => {
    const client = clientFor();
    const body = JSON.parse(raw("edx.course.enrollment.activated.json"));
    const typed = create(EventInputSchema, {
      event: { case: "trackingEvent", value: { name: body.name, timestamp: body.timestamp, context: body.context, data: body.data } },
    });
    const a = await client.emit({ event: typed });
    const b = await client.emit({ event: jsonInput(raw("edx.course.enrollment.activated.json")) });
    assert.deepEqual(a.result!.backends[0]!.statementIds, b.result!.backends[0]!.statementIds);
  });

  test("a tracking-log line with a log prefix is accepted", async () => {
    const client = clientFor();
    const line = `2023-05-23 13:53:13,461 INFO 20 [tracking] [user None] [ip None] logger.py:41 - ${raw("edx.course.grade.now_failed.json").replace(/\n/g, " ")}`;
    const res = await client.emit({ event: jsonInput(line) });
    assert.equal(res.result!.outcome, Outcome.PUBLISHED);
  });

  test("unknown names, disabled backends and unresolvable users are outcomes, not errors", async () => {
    const client = clientFor();
    const unknown = await client.emit({ event: jsonInput('{"name":"edx.made.up","timestamp":"2020-01-01T00:00:00Z"}') });
    assert.equal(unknown.result!.outcome, Outcome.NO_TRANSFORMER);
    assert.match(unknown.result!.reason, /no xapi transformer/);

    const off = clientFor({ xapiEnabled: false });
    const filtered = await off.emit({ event: jsonInput(raw("edx.course.enrollment.activated.json")) });
    assert.equal(filtered.result!.outcome, Outcome.FILTERED);

    const body = JSON.parse(raw("edx.course.enrollment.activated.json"));
    const noUserClient = clientFor();
    // The in-test identity directory always resolves; an event with no user at all has nothing to resolve.
    delete body.data.user_id;
    delete body.context.user_id;
    delete body.context.username;
    const skipped = await noUserClient.emit({ event: jsonInput(JSON.stringify(body)) });
    assert.equal(skipped.result!.outcome, Outcome.SKIPPED);
    assert.match(skipped.result!.reason, /no resolvable user/);
  });

  test("invalid input is InvalidArgument naming the field", async () => {
    const client = clientFor();
    await assert.rejects(
      client.emit({}),
      (e: ConnectError) => e.code === Code.InvalidArgument && /^\[invalid_argument\] event:/.test(e.message),
    );
    await assert.rejects(
      client.emit({ event: jsonInput("{not json") }),
      (e: ConnectError) => e.code === Code.InvalidArgument && e.rawMessage.startsWith("event.json:"),
    );
    await assert.rejects(
      client.emit({ event: jsonInput('{"timestamp":"2020-01-01T00:00:00Z"}') }),
      (e: ConnectError) => e.code === Code.InvalidArgument && /name/.test(e.rawMessage),
    );
    await assert.rejects(
      client.emit({ event: create(EventInputSchema, { event: { case: "trackingEvent", value: { name: "x" } } }) }),
      (e: ConnectError) => e.code === Code.InvalidArgument && e.rawMessage.startsWith("event.tracking_event.timestamp:"),
    );
  });

  test("fails with Unavailable when JetStream cannot confirm, and succeeds after recovery", async () => {
    const client = clientFor({ routers: [router("outage")] });
    const input = jsonInput(raw("edx.course.grade.passed.first_time.json"));
    await nats.server.stop();
    await assert.rejects(client.emit({ event: input }), (e: ConnectError) => e.code === Code.Unavailable);
    const reconnected = (async () => {
      for await (const s of nc.status()) if (s.type === "reconnect") return;
    })();
    await nats.restart();
    await reconnected;
    const res = await client.emit({ event: input });
    assert.equal(res.result!.outcome, Outcome.PUBLISHED);
    assert.equal(await subjectCount("outage"), 1);
  });
});

describe("EmitBatch", () => {
  test("one bad event never fails the others; results are in request order", async () => {
    const client = clientFor({ routers: [router("batch")] });
    const res = await client.emitBatch({
      events: [
        jsonInput(raw("edx.course.enrollment.mode_changed.json")),
        jsonInput("garbage"),
        jsonInput('{"name":"edx.made.up","timestamp":"2020-01-01T00:00:00Z"}'),
        jsonInput(raw("edx.course.grade.now_passed.json")),
      ],
    });
    assert.deepEqual(
      res.results.map((r) => [r.index, r.outcome]),
      [
        [0, Outcome.PUBLISHED],
        [1, Outcome.INVALID],
        [2, Outcome.NO_TRANSFORMER],
        [3, Outcome.PUBLISHED],
      ],
    );
    assert.match(res.results[1]!.reason, /^events\[1\]\.json:/);
    assert.equal(await subjectCount("batch"), 2);
  });

  test("more than the configured maximum is InvalidArgument on events", async () => {
    const client = clientFor({ emitBatchMax: 2 });
    const e = jsonInput(raw("edx.course.enrollment.activated.json"));
    await assert.rejects(
      client.emitBatch({ events: [e, e, e] }),
      (err: ConnectError) => err.code === Code.InvalidArgument && err.rawMessage.startsWith("events:"),
    );
  });
});

describe("EmitBatch with only_unstored_results (the lean answer)", () => {
  const noUser = () => {
    const body = JSON.parse(raw("edx.course.enrollment.activated.json"));
    delete body.data.user_id;
    delete body.context.user_id;
    delete body.context.username;
    return jsonInput(JSON.stringify(body));
  };

  test("counts every event and lists only those not stored, each as the full answer has it", async () => {
    const client = clientFor({ routers: [router("lean-a"), router("lean-b")] });
    const events = [
      jsonInput(raw("edx.course.enrollment.mode_changed.json")),
      jsonInput("garbage"),
      jsonInput('{"name":"edx.made.up","timestamp":"2020-01-01T00:00:00Z"}'),
      jsonInput(raw("edx.course.grade.now_passed.json")),
      noUser(),
    ];
    const lean = await client.emitBatch({ events, onlyUnstoredResults: true });
    assert.deepEqual(
      lean.results.map((r) => [r.index, r.outcome]),
      [
        [1, Outcome.INVALID],
        [2, Outcome.NO_TRANSFORMER],
        [4, Outcome.SKIPPED],
      ],
    );
    assert.match(lean.results[0]!.reason, /^events\[1\]\.json:/);
    assert.match(lean.results[2]!.reason, /no resolvable user/);
    const { $typeName: _, ...counts } = lean.counts!;
    assert.deepEqual(counts, {
      published: 2,
      duplicate: 0,
      filtered: 0,
      noTransformer: 1,
      skipped: 1,
      invalid: 1,
      statements: 2,
      messagesStored: 4,
    });
    assert.equal(await subjectCount("lean-a"), 2);
    assert.equal(await subjectCount("lean-b"), 2);

    // The same events again, full answer this time: the unstored ones answer exactly as the lean answer listed them.
    const full = await client.emitBatch({ events });
    assert.equal(full.counts, undefined, "the default answer is today's: no counts");
    assert.deepEqual(
      full.results.map((r) => r.outcome),
      [Outcome.DUPLICATE, Outcome.INVALID, Outcome.NO_TRANSFORMER, Outcome.DUPLICATE, Outcome.SKIPPED],
    );
    assert.deepEqual([full.results[1], full.results[2], full.results[4]], lean.results);
  });

  test("a retried batch is counted as duplicate, with no messages stored and nothing listed", async () => {
    const client = clientFor({ routers: [router("lean-retry")] });
    const events = [jsonInput(raw("edx.course.enrollment.activated.json")), jsonInput(raw("edx.course.grade.now_passed.json"))];
    const first = await client.emitBatch({ events, onlyUnstoredResults: true });
    assert.equal(first.counts?.published, 2);
    assert.equal(first.counts?.messagesStored, 2);
    const again = await client.emitBatch({ events, onlyUnstoredResults: true });
    assert.deepEqual(again.results, []);
    assert.equal(again.counts?.published, 0);
    assert.equal(again.counts?.duplicate, 2);
    assert.equal(again.counts?.statements, 2);
    assert.equal(again.counts?.messagesStored, 0);
    assert.equal(await subjectCount("lean-retry"), 2);
  });

  test("a stored event is listed when another backend SKIPPED it", async () => {
    // Caliper's transformer for the event fails (as a bug would); xAPI stores it.
    const caliperFails = (backends: BackendSettings[]) =>
      backends.map((b) =>
        b.backend !== "caliper"
          ? b
          : {
              ...b,
              registry: new TransformerRegistry("caliper").register(
                ["edx.course.enrollment.activated"],
                "test",
                { verb: "v", objectType: "o", objectId: "i", result: "" },
                () => {
                  throw new TypeError("caliper bug");
                },
              ),
            },
      );
    const client = clientFor({
      routers: [router("lean-skip")],
      caliperEnabled: true,
      backends: caliperFails,
      logger: capturingLogger().logger,
    });
    const events = [jsonInput(raw("edx.course.enrollment.activated.json")), jsonInput(raw("edx.course.grade.now_passed.json"))];
    const lean = await client.emitBatch({ events, onlyUnstoredResults: true });
    assert.equal(lean.results.length, 1);
    assert.equal(lean.results[0]!.index, 0);
    assert.equal(lean.results[0]!.outcome, Outcome.PUBLISHED);
    assert.deepEqual(
      lean.results[0]!.backends.map((b) => [b.backend, b.outcome]),
      [
        [Backend.XAPI, Outcome.PUBLISHED],
        [Backend.CALIPER, Outcome.SKIPPED],
      ],
    );
    assert.equal(lean.counts?.published, 2);
    assert.equal(lean.counts?.messagesStored, 2);
  });
});

describe("a transformer that throws (a bug on odd input)", () => {
  /** The real backends, with a transformer for "boom.event" that fails as a bug would. */
  const withBuggyTransformer = (backends: BackendSettings[]) =>
    backends.map((b) =>
      b.backend !== "xapi"
        ? b
        : {
            ...b,
            registry: createXapiRegistry().register(
              ["boom.event"],
              "test",
              { verb: "v", objectType: "o", objectId: "i", result: "" },
              () => {
                throw new TypeError("Cannot read properties of undefined (reading 'x')");
              },
            ),
          },
    );

  test("EmitBatch isolates the event as SKIPPED with the reason and an error log; the others are stored", async () => {
    const log = capturingLogger();
    const client = clientFor({ routers: [router("bug-lrs")], backends: withBuggyTransformer, logger: log.logger });
    const good = JSON.parse(raw("edx.course.enrollment.activated.json")) as Record<string, unknown>;
    const boom = JSON.stringify({ ...good, name: "boom.event", event_type: "boom.event" });
    const res = await client.emitBatch({ events: [jsonInput(JSON.stringify(good)), jsonInput(boom)] });
    assert.deepEqual(
      res.results.map((r) => r.outcome),
      [Outcome.PUBLISHED, Outcome.SKIPPED],
    );
    assert.match(
      res.results[1]!.reason,
      /the xapi transformer for "boom\.event" failed on this event \(a bug, logged\): Cannot read properties/,
    );
    assert.equal(await subjectCount("bug-lrs"), 1);
    const errors = log.lines().filter((l) => l["level"] === 50);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!["event"], "boom.event");
    assert.equal(errors[0]!["backend"], "xapi");
    assert.match(JSON.stringify(errors[0]!["err"]), /Cannot read properties[\s\S]*stack/, "the log has the error with its stack");
  });

  test("Emit and Transform answer SKIPPED for it instead of Internal", async () => {
    const client = clientFor({ backends: withBuggyTransformer });
    const boom = JSON.stringify({ ...(JSON.parse(raw("edx.course.enrollment.activated.json")) as object), name: "boom.event" });
    assert.equal((await client.emit({ event: jsonInput(boom) })).result?.outcome, Outcome.SKIPPED);
    assert.equal((await client.transform({ event: jsonInput(boom) })).result?.outcome, Outcome.SKIPPED);
  });
});

describe("Transform", () => {
  test("returns the statements and matching routers without publishing", async () => {
    const client = clientFor({ routers: [router("dry-run")] });
    const res = await client.transform({ event: jsonInput(raw("edx.course.enrollment.activated.json")) });
    assert.equal(res.outputs.length, 1);
    assert.deepEqual(res.outputs[0]!.statements, readExpectedFixture("xapi", "edx.course.enrollment.activated.json"));
    assert.deepEqual(res.outputs[0]!.routerIds, ["dry-run"]);
    assert.equal(await subjectCount("dry-run"), 0);
  });

  test("an explicitly requested backend is previewed even when disabled", async () => {
    const client = clientFor({ caliperEnabled: false });
    const res = await client.transform({ event: jsonInput(raw("edx.course.enrollment.activated.json")), backends: [Backend.CALIPER] });
    assert.equal(res.outputs[0]!.backend, Backend.CALIPER);
    const [event] = res.outputs[0]!.statements;
    assert.equal(event!["action"], "Activated");
    assert.match(String(event!["id"]), /^urn:uuid:[0-9a-f-]{36}$/);
  });
});
