// biome-ignore-all lint/suspicious/noTemplateCurlyInString: mapping templates use ${...} in plain strings.
/**
 * No mapping can stall the service (issue 23). Adversarial mappings are registered through MappingAdminService on
 * a real service in its own process (so a blocked event loop there cannot hide behind the test's own), each valid
 * on its small samples; then hostile events go through EmitBatch while a gRPC health check is asked again and
 * again. Every health answer must come promptly, and every hostile event must come back SKIPPED with the limit
 * named: a huge array copied whole, a huge text repeated, a deeply nested value, a search repeated over a large
 * event (the nearest thing to a long loop the language allows: 600 ERB searches over 20k keys would be 12 million
 * steps without the budget), and a mapping nested too deep to compile. The first Caliper mapping is registered
 * meanwhile: compiling the Caliper schemas takes seconds and runs in a worker thread, not on the service's.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { create, type JsonObject as PbJsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Backend, Outcome } from "../gen/eventrouting/v1/event_pb.js";
import { EventRoutingService } from "../gen/eventrouting/v1/event_routing_service_pb.js";
import { MappingAdminService, MappingSchema, type Mapping } from "../gen/eventrouting/v1/mapping_admin_service_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";
import { authed, ServiceProcess } from "./support/service-process.js";

let nats: TestNatsServer;
let service: ServiceProcess;

before(async () => {
  nats = await startNatsServer();
  service = await ServiceProcess.start(nats.url, { DELIVERY_ENABLED: "false" });
});

after(async () => {
  await service?.stop();
  await nats?.stop();
});

const VERB = { id: "https://w3id.org/xapi/adl/verbs/bookmarked", display: { "en-US": "bookmarked" } };

function event(name: string, data: unknown): string {
  return JSON.stringify({
    name,
    timestamp: "2024-03-01T10:00:00+00:00",
    context: { user_id: 7, course_id: "course-v1:edX+Demo+2024" },
    data,
  });
}

function mapping(id: string, statements: object[], sampleData: unknown): Mapping {
  return create(MappingSchema, {
    id,
    backend: Backend.XAPI,
    eventNames: [`adversarial.${id}`],
    statements: statements as PbJsonObject[],
    samples: [JSON.parse(event(`adversarial.${id}`, sampleData)) as PbJsonObject],
  });
}

const OBJECT = { id: "http://example.org/activity/1", definition: { type: "http://adlnet.gov/expapi/activities/module" } };

/** Each: the mapping (valid on its sample) and a hostile event for it. */
const ADVERSARIAL: { id: string; mapping: Mapping; hostile: string }[] = [
  {
    id: "huge-array",
    mapping: mapping(
      "huge-array",
      [{ verb: VERB, object: { ...OBJECT, definition: { ...OBJECT.definition, extensions: { "https://example.org/x/all": "${data}" } } } }],
      {
        items: [1, 2],
      },
    ),
    hostile: event("adversarial.huge-array", { items: Array.from({ length: 20_000 }, (_, i) => i) }),
  },
  {
    id: "huge-string",
    mapping: mapping(
      "huge-string",
      [{ verb: VERB, object: OBJECT, result: { response: `\${concat(${Array(32).fill("data.s").join(", ")})}` } }],
      { s: "ab" },
    ),
    hostile: event("adversarial.huge-string", { s: "x".repeat(30_000) }),
  },
  {
    id: "deep-value",
    mapping: mapping(
      "deep-value",
      [{ verb: VERB, object: { ...OBJECT, definition: { ...OBJECT.definition, extensions: { "https://example.org/x/all": "${data}" } } } }],
      {
        a: 1,
      },
    ),
    hostile: event("adversarial.deep-value", JSON.parse(`${'{"a":'.repeat(28)}1${"}".repeat(28)}`)),
  },
  {
    id: "long-search",
    mapping: mapping(
      "long-search",
      Array.from({ length: 20 }, () => ({
        verb: VERB,
        object: {
          ...OBJECT,
          definition: { ...OBJECT.definition, name: { "en-US": `\${${Array(30).fill("find('nowhere')").join(" ?? ")} ?? 'x'}` } },
        },
      })),
      { a: 1 },
    ),
    hostile: event("adversarial.long-search", Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, { v: i }]))),
  },
];

/** A valid Caliper mapping: its registration is the first Caliper validation this service does. */
const CALIPER_MAPPING = create(MappingSchema, {
  id: "caliper-nav",
  backend: Backend.CALIPER,
  eventNames: ["adversarial.caliper"],
  statements: [
    { type: "NavigationEvent", action: "NavigatedTo", object: { id: "${lms_iri('/page')}", type: "WebPage" } },
  ] as PbJsonObject[],
  samples: [JSON.parse(event("adversarial.caliper", { a: 1 })) as PbJsonObject],
});

test("adversarial mappings cannot stall the service: health answers promptly, hostile events are SKIPPED with the limit", async (t) => {
  const transport = createGrpcTransport({ baseUrl: service.url });
  const mappings = createClient(MappingAdminService, transport);
  const events = createClient(EventRoutingService, transport);
  const health = createClient(Health, transport);

  // Health is asked continuously from here on (registrations included: the first Caliper mapping compiles the
  // Caliper schemas, seconds of CPU that must not run on the service's thread); the slowest answer is kept.
  let slowest = 0;
  let answers = 0;
  let stop = false;
  const prober = (async () => {
    while (!stop) {
      const started = performance.now();
      const r = await health.check({ service: "" }, { timeoutMs: 5000 });
      assert.equal(r.status, HealthCheckResponse_ServingStatus.SERVING);
      slowest = Math.max(slowest, performance.now() - started);
      answers++;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    // A mapping nested too deep to compile is refused at registration, naming the field.
    const tooDeep = mapping("too-deep", [{ verb: { id: `\${${"concat(".repeat(100)}'x'${")".repeat(100)}}` }, object: OBJECT }], { a: 1 });
    await assert.rejects(
      mappings.createMapping({ mapping: tooDeep }, authed),
      (e: unknown) =>
        e instanceof ConnectError &&
        e.code === Code.InvalidArgument &&
        /^mapping\.statements\[0\]\.verb\.id: .*nested deeper/.test(e.rawMessage),
    );
    for (const a of ADVERSARIAL) await mappings.createMapping({ mapping: a.mapping }, authed);
    await mappings.createMapping({ mapping: CALIPER_MAPPING }, authed);

    for (let round = 0; round < 3; round++) {
      const r = await events.emitBatch({ events: ADVERSARIAL.map((a) => ({ event: { case: "json", value: a.hostile } })) }, authed);
      r.results.forEach((result, i) => {
        const xapi = result.backends.find((x) => x.backend === Backend.XAPI)!;
        assert.equal(xapi.outcome, Outcome.SKIPPED, `${ADVERSARIAL[i]!.id}: ${xapi.reason}`);
        assert.match(xapi.reason, /^mapping limit reached: /, ADVERSARIAL[i]!.id);
        assert.equal(xapi.transformer, `mapping:${ADVERSARIAL[i]!.id}`);
      });
    }
  } finally {
    stop = true;
    await prober;
  }
  t.diagnostic(`health: ${answers} answers, slowest ${Math.round(slowest)} ms`);
  assert.ok(answers >= 3, `health answered ${answers} times`);
  // Generous for a shared 2-core machine; a stalled event loop takes seconds.
  assert.ok(slowest < 1500, `the slowest health answer took ${Math.round(slowest)} ms`);
  const status = await events.emit({ event: { event: { case: "json", value: event("adversarial.huge-array", { items: [1] }) } } }, authed);
  assert.equal(status.result!.backends.find((x) => x.backend === Backend.XAPI)!.outcome, Outcome.PUBLISHED, "the service still works");
});
