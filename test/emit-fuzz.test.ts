/**
 * Property-based fuzzing of Emit, EmitBatch and Transform through the real server (startService, real
 * nats-server, gRPC client): random and mutated ERB fixture events (a wrong type in any known field, deep nesting,
 * huge strings, extreme numbers, non-object JSON, garbage text) and request bytes with invalid UTF-8.
 *
 * Properties: every answer is OK or InvalidArgument (never Internal or anything else); in EmitBatch one bad event
 * never fails the others (a known-good event in every batch is stored, one result per event); and a health check
 * polled concurrently for the whole run keeps answering. Kept to well under a minute (run counts below).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { after, before, test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { JsonObject } from "@bufbuild/protobuf";
import fc from "fast-check";
import { Backend, EventInputSchema, Outcome, type EventInput } from "../gen/eventrouting/v1/event_pb.js";
import { EmitRequestSchema } from "../gen/eventrouting/v1/event_routing_service_pb.js";
import { ERB_FIXTURES_DIR, rawFixtureFiles } from "./support/erb-fixtures.js";
import { EMIT_TOKEN, emitAuth, rawCall, startServiceUnderTest, type ServiceUnderTest } from "./support/service-under-test.js";

/** Fixed seed by default so a failure reproduces; FUZZ_SEED picks another, FUZZ_RUNS scales the run counts. */
const SEED = Number(process.env["FUZZ_SEED"] ?? 20261201);
const RUNS = Number(process.env["FUZZ_RUNS"] ?? 1);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
const fixtures: Array<{ file: string; body: Record<string, Json> }> = rawFixtureFiles().map((file) => ({
  file,
  body: JSON.parse(readFileSync(join(ERB_FIXTURES_DIR, "raw", file), "utf8")) as Record<string, Json>,
}));

/** Every path (objects only, the first 8 levels) in a fixture: the "known fields" a mutation replaces. */
function paths(v: Json, prefix: string[] = []): string[][] {
  if (typeof v !== "object" || v === null || Array.isArray(v) || prefix.length >= 8) return [];
  return Object.entries(v).flatMap(([k, child]) => [[...prefix, k], ...paths(child, [...prefix, k])]);
}

/**
 * Deep nesting goes in as a marker string, replaced in the final text: JSON.stringify (and structuredClone) of
 * 20000 levels would overflow this test's own stack.
 */
const deepMarker = (levels: number): Json => `\u0000deep:${levels}`;
const expandDeep = (text: string) =>
  text.replace(/"\\u0000deep:(\d+)"/g, (_, n: string) => `${'{"a":'.repeat(Number(n))}1${"}".repeat(Number(n))}`);

const HUGE = "x".repeat(1_100_000); // over NATS's default max_payload once it lands in a statement
const hostileValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.constantFrom(1e308, -1e308, 5e-324, 2 ** 53 + 1, -0, 1e21),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom("", " ", "0", "-1", "1e309", "NaN", "null", "{", "2020-13-45T99:99:99Z", `${"a".repeat(32)}!`),
  fc.string({ minLength: 10_000, maxLength: 20_000 }),
  fc.constant(HUGE),
  fc.array(fc.oneof(fc.integer(), fc.string()), { maxLength: 5 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.integer(), fc.string()), { maxKeys: 4 }),
  fc.integer({ min: 20, max: 200 }).map(deepMarker),
  // Past where recursive look-ups overflowed the stack (about 10000 levels).
  fc.constant(deepMarker(20_000)),
);

const extremeNumber = fc.constantFrom(1e308, -1e308, 1e-300, 5e-324, 1e16, -1);

/**
 * A fixture with 1 to 3 edits: any field replaced by a hostile value, or a numeric field (durations, times,
 * grades: where arithmetic happens) set to an extreme number.
 */
const mutatedFixture: fc.Arbitrary<string> = fc
  .record({
    f: fc.nat(fixtures.length - 1),
    edits: fc.array(
      fc.tuple(
        fc.nat(),
        fc.oneof(
          hostileValue.map((v) => ({ any: v })),
          extremeNumber.map((n) => ({ numeric: n })),
        ),
      ),
      {
        minLength: 1,
        maxLength: 3,
      },
    ),
  })
  .map(({ f, edits }) => {
    const body = structuredClone(fixtures[f]!.body);
    for (const [pick, edit] of edits) {
      const at = (path: string[]) => path.slice(0, -1).reduce((o, k) => o[k] as Record<string, Json>, body as Record<string, Json>);
      const all = paths(body).filter((p) => !("numeric" in edit) || typeof at(p)[p[p.length - 1]!] === "number");
      if (all.length === 0) continue;
      const path = all[pick % all.length]!;
      at(path)[path[path.length - 1]!] = "numeric" in edit ? edit.numeric : edit.any;
    }
    return expandDeep(JSON.stringify(body));
  });

const eventText: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: mutatedFixture },
  {
    weight: 1,
    arbitrary: fc.constantFrom("[]", "1", '"text"', "null", "{}", '{"name":1}', '{"name":"x"}', "", "{", "}{", "log prefix - {]"),
  },
  { weight: 1, arbitrary: fc.json({ maxDepth: 4 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 200 }) },
  { weight: 1, arbitrary: fc.nat(fixtures.length - 1).map((f) => JSON.stringify(fixtures[f]!.body)) },
);

/** As JSON text, or (for object texts) as a typed TrackingEvent with its Structs. */
const eventInput: fc.Arbitrary<EventInput> = fc.tuple(eventText, fc.boolean()).map(([text, typed]) => {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (typed && isStructSafe(body)) {
    const b = body as Record<string, any>;
    const str = (v: unknown) => (typeof v === "string" ? v : "");
    const obj = (v: unknown) => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as JsonObject) : undefined);
    return create(EventInputSchema, {
      event: {
        case: "trackingEvent",
        value: {
          name: str(b["name"]),
          timestamp: str(b["timestamp"] ?? b["time"]),
          context: obj(b["context"]),
          data: obj(b["data"] ?? b["event"]),
        },
      },
    });
  }
  return create(EventInputSchema, { event: { case: "json", value: text } });
});

/** A Struct holds objects of finite numbers nested within protobuf's recursion limit; the client cannot send more. */
function isStructSafe(v: unknown, depth = 0): boolean {
  if (depth > 20) return false;
  if (typeof v === "number") return Number.isFinite(v);
  if (depth === 0 && (typeof v !== "object" || v === null || Array.isArray(v))) return false;
  if (typeof v !== "object" || v === null) return typeof v !== "undefined";
  return Object.values(v).every((x) => isStructSafe(x, depth + 1));
}

let sut: ServiceUnderTest;
before(async () => {
  sut = await startServiceUnderTest({ READ_MAX_BYTES: String(16 * 1024 * 1024) });
  await sut.createRouter({
    id: "fuzz-all",
    backend: Backend.XAPI,
    endpointUrl: "http://127.0.0.1:9/x",
    enabled: true,
    overrideArgs: { version: "1.0.3" },
  });
  await sut.createRouter({
    id: "fuzz-match",
    backend: Backend.XAPI,
    endpointUrl: "http://127.0.0.1:9/x",
    enabled: true,
    matchParams: [
      { path: "context.username", patterns: ["^(a+)+$", "^edx$"] },
      { path: "context.org_id", patterns: ["ed"] },
    ],
  });
  await sut.createRouter({ id: "fuzz-caliper", backend: Backend.CALIPER, endpointUrl: "http://127.0.0.1:9/c", enabled: true });
});
after(async () => {
  await sut?.close();
});

/** fast-check's report with the counterexample cut short: events can hold megabyte strings. */
function shortReport<T>(run: fc.RunDetails<T>): void {
  if (!run.failed) return;
  const text = fc.defaultReportMessage(run) ?? "property failed";
  const cause = run.errorInstance instanceof Error ? run.errorInstance.message : String(run.errorInstance);
  const cut = text.length > 3000 ? `${text.slice(0, 1500)}\n...[${text.length - 3000} characters cut]...\n${text.slice(-1500)}` : text;
  throw new Error(`${cause.slice(0, 1000)}\n${cut}`);
}

/** OK, or InvalidArgument; anything else (Internal above all) fails the property with the code and message. */
async function okOrInvalid<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (e) {
    const err = ConnectError.from(e);
    assert.equal(err.code, Code.InvalidArgument, `expected OK or InvalidArgument, got ${Code[err.code]}: ${err.rawMessage.slice(0, 300)}`);
    return undefined;
  }
}

/** Polls the health check until stopped; the latencies say whether the event loop was ever blocked. */
function healthProbe() {
  const latencies: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const start = performance.now();
      await sut.health.check({ service: "" });
      latencies.push(performance.now() - start);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      const sorted = [...latencies].sort((a, b) => a - b);
      return { count: sorted.length, median: sorted[Math.floor(sorted.length / 2)]!, max: sorted[sorted.length - 1]! };
    },
  };
}

test("Emit, EmitBatch and Transform answer OK or InvalidArgument; bad events never fail good ones; health keeps answering", {
  timeout: 120_000,
}, async (t) => {
  const probe = healthProbe();
  // Stopped whatever happens, so no health check is left running against a closed server.
  const health = await properties().then(
    () => probe.stop(),
    async (e: unknown) => {
      await probe.stop();
      throw e;
    },
  );
  // The health checks kept completing while the fuzzing ran (the count): the event loop was never stalled for
  // good. The latency bounds are guards only, far above a loaded 2-core machine's scheduling noise (normal answers
  // take a few ms), and still fail clearly on a stall like the backtracking regex or a synchronous walk of seconds.
  t.diagnostic(`health checks: ${health.count}, median ${health.median.toFixed(1)} ms, max ${health.max.toFixed(1)} ms`);
  assert.ok(health.count > 10, `only ${health.count} health checks completed`);
  assert.ok(health.median < 500, `median health check ${health.median.toFixed(1)} ms`);
  assert.ok(health.max < 5000, `slowest health check ${health.max.toFixed(1)} ms`);
});

async function properties(): Promise<void> {
  const good = create(EventInputSchema, {
    event: { case: "json", value: JSON.stringify(fixtures.find((f) => f.file === "edx.course.enrollment.activated.json")!.body) },
  });

  await fc.assert(
    fc.asyncProperty(eventInput, fc.constantFrom("emit", "transform"), async (input, rpc) => {
      const call = rpc === "emit" ? sut.events.emit({ event: input }, emitAuth) : sut.events.transform({ event: input }, emitAuth);
      const res = await okOrInvalid<{ result?: { outcome: Outcome } }>(call);
      if (res) assert.notEqual(res.result!.outcome, Outcome.UNSPECIFIED);
    }),
    { seed: SEED, numRuns: 150 * RUNS, endOnFailure: true, reporter: shortReport },
  );

  await fc.assert(
    fc.asyncProperty(fc.array(eventInput, { minLength: 1, maxLength: 6 }), fc.nat(), async (bad, at) => {
      const events = [...bad];
      const goodAt = at % (events.length + 1);
      events.splice(goodAt, 0, good);
      const res = await sut.events.emitBatch({ events }, emitAuth);
      assert.equal(res.results.length, events.length);
      res.results.forEach((r, i) => assert.equal(r.index, i));
      const ok = res.results[goodAt]!;
      assert.ok(ok.outcome === Outcome.PUBLISHED || ok.outcome === Outcome.DUPLICATE, `good event: ${Outcome[ok.outcome]} ${ok.reason}`);
      assert.deepEqual(ok.backends.find((b) => b.backend === Backend.XAPI)!.routerIds, ["fuzz-all", "fuzz-match"]);
    }),
    { seed: SEED, numRuns: 40 * RUNS, endOnFailure: true, reporter: shortReport },
  );

  // Bytes no client library would send: invalid UTF-8 inside the event text, over gRPC and Connect JSON.
  await fc.assert(
    fc.asyncProperty(fc.nat(fixtures.length - 1), fc.uint8Array({ maxLength: 3 }), fc.nat(), async (f, tail, where) => {
      // 0xFF never occurs in UTF-8, so the bytes are invalid whatever follows.
      const junk = Buffer.from([0xff, ...tail]);
      const text = Buffer.from(JSON.stringify(fixtures[f]!.body));
      const at = where % (text.length - junk.length);
      const bytes = Buffer.from(
        toBinary(EmitRequestSchema, create(EmitRequestSchema, { event: { event: { case: "json", value: text.toString() } } })),
      );
      // The event text is the last field of the last message: its bytes end the encoding. Overwriting in place
      // keeps every length prefix right.
      junk.copy(bytes, bytes.length - text.length + at);
      const grpc = await rawCall(sut.baseUrl, "grpc", "/eventrouting.v1.EventRoutingService/Transform", bytes);
      assert.equal(grpc.code, String(Code.InvalidArgument), grpc.message);
      const body = Buffer.concat([Buffer.from('{"event":{"json":"'), junk, Buffer.from('"}}')]);
      const res = await fetch(`${sut.baseUrl}/eventrouting.v1.EventRoutingService/Transform`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${EMIT_TOKEN}` },
        body,
      });
      assert.equal(res.status, 400);
    }),
    { seed: SEED, numRuns: 20 * RUNS, endOnFailure: true, reporter: shortReport },
  );
}
