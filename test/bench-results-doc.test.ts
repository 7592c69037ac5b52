/**
 * `npm run bench` keeps one results block per Node major (bench/results-doc.ts): a run on one runtime must replace
 * its own figures and leave the other runtime's exactly as they were, and the comparison must show both.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { type BenchRun, mergeRun, runtimeKey, updateDoc } from "../bench/results-doc.js";

function run(node: string, ratio: number, date = "2026-12-08T00:00:00.000Z"): BenchRun {
  return {
    env: {
      date,
      durationSeconds: 300,
      machine: "test machine",
      loadAverageAtEnd: "1.00 1.00 1.00",
      node,
      natsServer: "nats-server: v2.9.10",
      natsJs: "3.4.0",
      connect: "2.1.2",
      service: "node dist/main.js",
      rounds: 3,
      secondsPerRun: 4,
    },
    results: [
      {
        name: "drain",
        what: "Backlog drain",
        unit: "statements/s",
        raw: [100],
        service: [100 * ratio],
        ratios: [ratio],
        target: ">= 0.85x",
        met: ratio >= 0.85,
        rssMiB: 150,
      },
    ],
  };
}

const DOC = [
  "# Benchmarks",
  "## Results",
  "<!-- results:compare:start -->",
  "<!-- results:compare:end -->",
  "",
  "<!-- results:node20:start -->",
  "old Node 20 block",
  "<!-- results:node20:end -->",
  "",
  "Text after the results.",
].join("\n");

test("runtimeKey names the major", () => {
  assert.equal(runtimeKey("v24.22.3"), "node24");
  assert.equal(runtimeKey("v20.20.2"), "node20");
  assert.throws(() => runtimeKey("24"));
});

test("a Node 24 run adds its block before Node 20's and leaves Node 20's untouched; the comparison has both", () => {
  const file = mergeRun({ runs: { node20: run("v20.20.2", 0.7) } }, run("v24.22.3", 0.9));
  const doc = updateDoc(DOC, file, "node24");
  assert.match(doc, /<!-- results:node20:start -->\nold Node 20 block\n<!-- results:node20:end -->/);
  const at24 = doc.indexOf("<!-- results:node24:start");
  assert.ok(at24 > doc.indexOf("<!-- results:compare:end -->") && at24 < doc.indexOf("<!-- results:node20:start"));
  assert.match(doc, /### Node 24\n\nRun of 2026-12-08T00:00:00.000Z .*\nNode v24\.22\.3,/);
  assert.match(doc, /\| Benchmark \| Target \| Node 24 \| Node 20 \|/);
  assert.match(doc, /\| drain \| >= 0\.85x \| 0\.90, 150 MiB \| 0\.70 \(missed\), 150 MiB \|/);
  assert.match(doc, /Text after the results\.$/);
});

test("a second Node 20 run replaces only the Node 20 block and entry", () => {
  const first = mergeRun({ runs: { node20: run("v20.20.2", 0.7) } }, run("v24.22.3", 0.9));
  const doc24 = updateDoc(DOC, first, "node24");
  const block24 = /<!-- results:node24:start[\s\S]*?<!-- results:node24:end -->/.exec(doc24)![0];
  const second = mergeRun(first, run("v20.20.2", 0.8, "2026-12-09T00:00:00.000Z"));
  assert.equal(second.runs["node24"], first.runs["node24"]);
  assert.equal(second.runs["node20"]!.env.date, "2026-12-09T00:00:00.000Z");
  const doc = updateDoc(doc24, second, "node20");
  assert.ok(doc.includes(block24), "the Node 24 block is byte for byte the same");
  assert.doesNotMatch(doc, /old Node 20 block/);
  assert.match(doc, /<!-- results:node20:start[^\n]*\n### Node 20\n\nRun of 2026-12-09/);
  assert.equal(doc.match(/<!-- results:node20:start/g)?.length, 1);
});

test("the one-run JSON written before is read as its runtime's entry", () => {
  const old = run("v20.20.2", 0.7);
  const file = mergeRun({ env: old.env, results: old.results }, run("v24.22.3", 0.9));
  assert.deepEqual(Object.keys(file.runs).sort(), ["node20", "node24"]);
  assert.deepEqual(file.runs["node20"], old);
});

test("docs/benchmarks.md and docs/benchmarks.json have the per-runtime layout a run writes into", () => {
  const json = JSON.parse(readFileSync("docs/benchmarks.json", "utf8")) as { runs?: Record<string, BenchRun> };
  assert.ok(json.runs && Object.keys(json.runs).length > 0);
  const doc = readFileSync("docs/benchmarks.md", "utf8");
  for (const key of Object.keys(json.runs)) {
    assert.equal(runtimeKey(json.runs[key]!.env.node), key);
    assert.match(doc, new RegExp(`<!-- results:${key}:start[\\s\\S]*?<!-- results:${key}:end -->`));
  }
  // Rendering the committed JSON again changes nothing: the doc is what the bench writes.
  for (const key of Object.keys(json.runs)) assert.equal(updateDoc(doc, { runs: json.runs }, key), doc);
});
