/**
 * What an EmitBatch answer of 100 events costs, full against lean (only_unstored_results), on one thread:
 * `node --import tsx bench/emit-answer.bench.ts [rounds]`. The outputs are those of the one-router benchmark
 * (emit-batch-1: the fixture mix transformed for xAPI, one router, Caliper disabled and so FILTERED), built once;
 * what is timed is what the handler and Connect do after the publish (results, protobuf encoding, gzip when the
 * answer is over Connect's 1 KiB threshold) and what the caller does to read it (gunzip, protobuf decoding).
 *
 * Why a micro-benchmark: the suite's ratios move by 2x with the machine's load; this times the same work
 * alternately, many short rounds, and keeps each variant's fastest round, which the load cannot make faster.
 */
import { gunzipSync, gzipSync } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { EmitBatchResponseSchema } from "../gen/eventrouting/v1/event_routing_service_pb.js";
import type { EventResult } from "../gen/eventrouting/v1/event_pb.js";
import type { BackendOutput } from "../src/ingest/emit-pipeline.js";
import { eventResult } from "../src/ingest/event-results.js";
import { leanAnswer } from "../src/ingest/lean-results.js";
import { transformForBackend, type BackendSettings } from "../src/transform/transform-event.js";
import { createXapiRegistry } from "../src/transform/xapi/index.js";
import { makeRouter } from "../test/support/delivery-harness.js";
import { ERB_TEST_ENV, isAnonymousFixture, rawFixtureFiles, readRawFixture } from "../test/support/erb-fixtures.js";

const ROUNDS = Number(process.argv[2] ?? "300");
const BATCH = 100;
const COMPRESS_MIN_BYTES = 1024; // Connect's default compressMinBytes

const settings: BackendSettings = { backend: "xapi", enabled: true, filter: { kind: "all" }, registry: createXapiRegistry() };
const router = makeRouter("bench-1", "http://127.0.0.1:9/xapi");
const mix = rawFixtureFiles()
  .filter((f) => !isAnonymousFixture(f))
  .map(readRawFixture);
const batch = Array.from({ length: BATCH }, (_, i) => {
  const event = mix[i % mix.length]!;
  const result = transformForBackend(settings, event, ERB_TEST_ENV);
  const outputs: BackendOutput[] = [
    { backend: "xapi", result, routers: result.outcome === "transformed" ? [router] : [] },
    { backend: "caliper", result: { outcome: "filtered", reason: "caliper backend is disabled" }, routers: [] },
  ];
  return { index: i, name: event.name, outputs };
});

/** Server side: the answer's bytes as Connect sends them. */
function serverFull(): Uint8Array {
  const results: EventResult[] = new Array(BATCH);
  for (const e of batch) results[e.index] = eventResult(e.index, e.name, e.outputs);
  const bytes = toBinary(EmitBatchResponseSchema, create(EmitBatchResponseSchema, { results }));
  return bytes.byteLength >= COMPRESS_MIN_BYTES ? gzipSync(bytes) : bytes;
}
function serverLean(): Uint8Array {
  const bytes = toBinary(EmitBatchResponseSchema, create(EmitBatchResponseSchema, leanAnswer(batch)));
  return bytes.byteLength >= COMPRESS_MIN_BYTES ? gzipSync(bytes) : bytes;
}
const fullBytes = serverFull();
const leanBytes = serverLean();
const clientRead = (wire: Uint8Array, gzipped: boolean) => fromBinary(EmitBatchResponseSchema, gzipped ? gunzipSync(wire) : wire);
const fullGzipped = fullBytes[0] === 0x1f && fullBytes[1] === 0x8b;
const leanGzipped = leanBytes[0] === 0x1f && leanBytes[1] === 0x8b;

const variants: Record<string, () => unknown> = {
  "server, full answer": serverFull,
  "server, lean answer": serverLean,
  "caller, full answer": () => clientRead(fullBytes, fullGzipped),
  "caller, lean answer": () => clientRead(leanBytes, leanGzipped),
};
const best = new Map<string, number>();
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, step] of Object.entries(variants)) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < 10; i++) step();
    const usPerEvent = Number(process.hrtime.bigint() - start) / 1e3 / (10 * BATCH);
    if (r >= 20) best.set(name, Math.min(best.get(name) ?? Number.POSITIVE_INFINITY, usPerEvent));
  }
}
console.log(
  `answer bytes: full ${fullBytes.byteLength}${fullGzipped ? " (gzip)" : ""}, lean ${leanBytes.byteLength}${leanGzipped ? " (gzip)" : ""}`,
);
for (const [name, us] of best) console.log(`${name}: ${us.toFixed(2)} µs per event (fastest of ${ROUNDS - 20} rounds)`);
