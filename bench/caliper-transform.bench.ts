/**
 * Caliper transforms per second over the ERB raw-fixture mix (every non-anonymous raw fixture that has a Caliper
 * transformer, in file order, round-robin). Events are parsed once up front: this measures the pure transform
 * step (registry lookup, transformer, object-id check, deterministic uuid5 id), not JSON parsing.
 *
 *   node --import tsx bench/caliper-transform.bench.ts [seconds]
 */
import { createCaliperRegistry } from "../src/transform/caliper/index.js";
import type { EdxEvent } from "../src/transform/edx-event.js";
import { transformForBackend, type BackendSettings } from "../src/transform/transform-event.js";
import { ERB_TEST_ENV, isAnonymousFixture, rawFixtureFiles, readRawFixture } from "../test/support/erb-fixtures.js";

const seconds = Number(process.argv[2] ?? 3);
const registry = createCaliperRegistry();
const settings: BackendSettings = { backend: "caliper", enabled: true, filter: { kind: "all" }, registry };

const mix: EdxEvent[] = rawFixtureFiles()
  .filter((f) => !isAnonymousFixture(f))
  .map(readRawFixture)
  .filter((e) => registry.has(e.name));

let produced = 0;
function runFor(ms: number): number {
  const end = performance.now() + ms;
  let n = 0;
  while (performance.now() < end) {
    for (let i = 0; i < mix.length; i++) {
      const r = transformForBackend(settings, mix[i]!, ERB_TEST_ENV);
      if (r.outcome === "transformed") produced += r.statements.length;
    }
    n += mix.length;
  }
  return n;
}

runFor(500); // warm-up (JIT, uuid namespace cache)
produced = 0;
const start = performance.now();
const n = runFor(seconds * 1000);
const elapsed = (performance.now() - start) / 1000;
console.log(
  `caliper transform: ${Math.round(n / elapsed).toLocaleString("en-US")} transforms/s ` +
    `(${mix.length} fixture events in the mix, ${n.toLocaleString("en-US")} transforms, ${produced.toLocaleString("en-US")} Caliper events, ${elapsed.toFixed(1)} s, node ${process.version})`,
);
