/**
 * xAPI transform throughput over ERB's fixture mix (every non-anonymous raw fixture, in its own shape and in the
 * other input shape), on one thread: `node --import tsx bench/xapi-transform.bench.ts [seconds]`.
 * Prints transforms/second for the pure transform step (transformForBackend on parsed events) and for
 * parse + transform from the JSON text. Target: >= 50,000 transforms/s on one core of a 2-vCPU machine.
 * Also the pure step through the custom-mapping registry view (issue 23), with no mapping and with one mapping for
 * an event the mix does not have: the built-in path must cost the same either way.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseEventJson, type EdxEvent } from "../src/transform/edx-event.js";
import { transformForBackend, type BackendSettings } from "../src/transform/transform-event.js";
import { createXapiRegistry } from "../src/transform/xapi/index.js";
import { compileMapping } from "../src/transform/custom/compile-mapping.js";
import { MappingSet, withMappings } from "../src/transform/custom/mapping-set.js";
import { ERB_FIXTURES_DIR, ERB_TEST_ENV, isAnonymousFixture, rawFixtureFiles } from "../test/support/erb-fixtures.js";
import { isLogShaped, toLiveShape, toLogShape } from "../test/support/event-shapes.js";

const seconds = Number(process.argv[2] ?? "3");
const registry = createXapiRegistry();
const settings: BackendSettings = { backend: "xapi", enabled: true, filter: { kind: "all" }, registry };

const texts: string[] = [];
const events: EdxEvent[] = [];
for (const file of rawFixtureFiles()) {
  if (isAnonymousFixture(file)) continue;
  const text = readFileSync(join(ERB_FIXTURES_DIR, "raw", file), "utf8");
  const event = parseEventJson(text);
  const other = isLogShaped(event.body) ? toLiveShape(event) : toLogShape(event);
  texts.push(text, JSON.stringify(other.body));
  events.push(event, other);
}

function run(label: string, step: (i: number) => number): void {
  // Warm-up, then timed rounds over the whole mix.
  for (let i = 0; i < 20_000; i++) step(i % events.length);
  let transforms = 0;
  let statements = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < end) {
    for (let i = 0; i < events.length; i++) statements += step(i);
    transforms += events.length;
    now = process.hrtime.bigint();
  }
  const elapsed = Number(now - start) / 1e9;
  const perSecond = Math.round(transforms / elapsed);
  console.log(
    `${label}: ${perSecond.toLocaleString("en-US")} transforms/s (${transforms} events, ${statements} statements, ${elapsed.toFixed(2)} s, ${events.length}-event mix)`,
  );
}

const countStatements = (r: ReturnType<typeof transformForBackend>) => (r.outcome === "transformed" ? r.statements.length : 0);
run("xapi transform", (i) => countStatements(transformForBackend(settings, events[i]!, ERB_TEST_ENV)));
run("xapi parse+transform", (i) => countStatements(transformForBackend(settings, parseEventJson(texts[i]!), ERB_TEST_ENV)));

// The registry view the service uses: with no mapping, and with one (a pattern, the dearer kind) for other events.
const empty = MappingSet.EMPTY;
const oneMapping = new MappingSet([
  compileMapping({
    id: "bench-other",
    displayName: "",
    description: "",
    backend: "xapi",
    eventNames: ["edx.bookmark.added"],
    eventPattern: "edx\\.notes\\..*",
    replaceBuiltin: false,
    disabled: false,
    conditions: [],
    statements: [{ verb: { id: "https://w3id.org/xapi/adl/verbs/bookmarked" }, object: { id: "https://example.org/a" } }],
    samples: [],
  }),
]);
const viewEmpty: BackendSettings = { ...settings, registry: withMappings("xapi", registry, () => empty) };
const viewOne: BackendSettings = { ...settings, registry: withMappings("xapi", registry, () => oneMapping) };
run("xapi transform, mapping view, no mapping", (i) => countStatements(transformForBackend(viewEmpty, events[i]!, ERB_TEST_ENV)));
run("xapi transform, mapping view, one other mapping", (i) => countStatements(transformForBackend(viewOne, events[i]!, ERB_TEST_ENV)));
run("xapi transform (again, for the noise)", (i) => countStatements(transformForBackend(settings, events[i]!, ERB_TEST_ENV)));
