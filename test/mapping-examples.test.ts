/**
 * examples/mappings/ end to end (issue 23, "Done when"): the example mappings are loaded through the CLI
 * (`mappings apply -f examples/mappings`) into a running service, their sample events are emitted, the xAPI
 * statements are delivered to the real test LRS (Learning Locker's statements service) and stored there, the Caliper
 * events reach a Caliper endpoint and pass the IMS Caliper 1.2 checks, and every statement equals the mapping's
 * expected file in examples/mappings/expected/<id>.json (what the LRS adds, `stored` and `authority`, aside).
 *
 * The expected files are the service's own output with the settings below (examples/mappings/README.md);
 * UPDATE_EXPECTED=1 rewrites them from a run, for review in the diff.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Backend, Outcome } from "../gen/eventrouting/v1/event_pb.js";
import type { Mapping } from "../gen/eventrouting/v1/mapping_admin_service_pb.js";
import { readMappings } from "../src/cli/mapping-input.js";
import { validateCaliperEnvelope, validateCaliperEvent } from "./support/caliper-validator.js";
import { FaultEndpoint, waitUntil } from "./support/http-endpoints.js";
import { lrsInstalled, startLrs, type TestLrs } from "./support/lrs.js";
import { ADMIN_TOKEN, emitAuth, startServiceUnderTest, type ServiceUnderTest } from "./support/service-under-test.js";
import { cliArgs } from "./support/entrypoints.js";

const EXAMPLES = "examples/mappings";
const UPDATE = process.env["UPDATE_EXPECTED"] === "1";
/** The settings the expected files were written with (examples/mappings/README.md). */
const SETTINGS = {
  LMS_ROOT_URL: "http://lms.example.org",
  IDENTITY_HMAC_SECRET: "examples-hmac-secret-0123456789abcdef",
  TRANSFORMER_VERSION: "event-routing@examples",
  CALIPER_SENSOR_ID: "http://lms.example.org",
};

type Json = Record<string, unknown>;

const exec = promisify(execFile);
let sut: ServiceUnderTest;
let lrs: TestLrs;
let caliper: FaultEndpoint;
/** Caliper events received, by id, and the envelopes they came in. */
const caliperEvents = new Map<string, Json>();
const envelopes: Json[] = [];

before(async () => {
  if (!lrsInstalled()) return;
  lrs = await startLrs();
  caliper = await FaultEndpoint.start(({ body }) => {
    const envelope = JSON.parse(body) as Json;
    envelopes.push(envelope);
    for (const e of envelope["data"] as Json[]) caliperEvents.set(String(e["id"]), e);
    return undefined;
  });
  sut = await startServiceUnderTest({ ...SETTINGS, DELIVERY_ENABLED: "true", CALIPER_ENABLED: "true", DELIVERY_BATCH_INTERVAL_MS: "50" });
  const delivery = { batchSize: 10, batchInterval: { seconds: 0n, nanos: 100_000_000 } };
  await sut.createRouter({
    id: "examples-lrs",
    backend: Backend.XAPI,
    endpointUrl: lrs.xapiUrl,
    enabled: true,
    auth: { kind: { case: "basic", value: { username: "test", password: "test" } } },
    delivery,
  });
  await sut.createRouter({ id: "examples-caliper", backend: Backend.CALIPER, endpointUrl: caliper.url, enabled: true, delivery });
});

after(async () => {
  await sut?.close();
  await caliper?.close();
  await lrs?.stop();
});

/** What a receiver adds (LRS: stored, authority) or may re-format (the timestamp's precision). */
function comparable(s: Json): Json {
  const { stored: _s, authority: _a, timestamp, ...rest } = s;
  return timestamp === undefined ? rest : { ...rest, timestamp: new Date(String(timestamp)).toISOString() };
}

function expectedPath(id: string): string {
  return join(EXAMPLES, "expected", `${id}.json`);
}

/** Each mapping's statements, in the order of its samples, against its expected file (or written to it). */
function checkExpected(byMapping: ReadonlyMap<string, Json[]>): void {
  for (const [id, statements] of byMapping) {
    if (UPDATE) {
      const published = statements.map(({ stored: _s, authority: _a, ...rest }) => rest);
      writeFileSync(expectedPath(id), `${JSON.stringify(published, null, 2)}\n`);
    }
    const expected = JSON.parse(readFileSync(expectedPath(id), "utf8")) as Json[];
    assert.deepEqual(statements.map(comparable), expected.map(comparable), `${id}: statements equal ${expectedPath(id)}`);
  }
}

/** Emits every sample of every example; the statement ids each mapping published, per backend. */
async function emitSamples(examples: readonly Mapping[]): Promise<Map<string, string[]>> {
  const published = new Map<string, string[]>();
  for (const m of examples) {
    const ids: string[] = [];
    for (const sample of m.samples) {
      const { result } = await sut.events.emit({ event: { event: { case: "json", value: JSON.stringify(sample) } } }, emitAuth);
      const r = result?.backends.find((b) => b.backend === m.backend);
      assert.equal(r?.outcome, Outcome.PUBLISHED, `${m.id} on ${String(sample["name"])}: ${r?.reason}`);
      assert.equal(r?.transformer, `mapping:${m.id}`);
      ids.push(...r!.statementIds);
    }
    published.set(m.id, ids);
  }
  return published;
}

test("the examples load through the CLI, their samples reach the LRS and the Caliper endpoint, valid and as expected", {
  skip: lrsInstalled() ? false : "run: npm ci --prefix test/lrs --ignore-scripts",
}, async () => {
  const cli = [...cliArgs(), "mappings", "apply", "-f", EXAMPLES];
  const applied = await exec(process.execPath, cli, {
    env: { ...process.env, EVENT_ROUTING_URL: sut.baseUrl, EVENT_ROUTING_TOKEN: ADMIN_TOKEN },
  });
  const examples = readMappings(EXAMPLES).map((s) => s.mapping);
  assert.ok(new Set(examples.flatMap((m) => m.samples.map((s) => s["name"]))).size >= 3, "at least three real events");
  for (const m of examples) assert.match(applied.stdout, new RegExp(`^created ${m.id} `, "m"));
  assert.equal(applied.stderr, "", "no warnings: no example shadows a built-in or needs a disabled backend");

  const published = await emitSamples(examples);
  const xapiIds = examples.filter((m) => m.backend === Backend.XAPI).flatMap((m) => published.get(m.id)!);
  await waitUntil(async () => (await lrs.allStatements()).length >= xapiIds.length, 20_000, "every xAPI statement stored in the LRS");
  const caliperIds = examples.filter((m) => m.backend === Backend.CALIPER).flatMap((m) => published.get(m.id)!);
  await waitUntil(() => caliperIds.every((id) => caliperEvents.has(id)), 20_000, "every Caliper event received");

  const byMapping = new Map<string, Json[]>();
  for (const m of examples) {
    const statements: Json[] = [];
    for (const id of published.get(m.id)!) {
      if (m.backend === Backend.XAPI) {
        const stored = await lrs.getStatement(id);
        assert.ok(stored, `the LRS accepted and stored ${m.id}'s statement ${id}`);
        statements.push(stored);
      } else {
        const event = caliperEvents.get(id)!;
        assert.deepEqual(validateCaliperEvent(event), [], `${m.id}: Caliper 1.2 checks`);
        statements.push(event);
      }
    }
    byMapping.set(m.id, statements);
  }
  for (const envelope of envelopes) assert.deepEqual(validateCaliperEnvelope(envelope), [], "Caliper 1.2 envelope checks");
  checkExpected(byMapping);
});
