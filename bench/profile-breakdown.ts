/**
 * Breaks a service CPU profile (BENCH_PROFILE=1, .bench-prof/*.cpuprofile) of an emit benchmark down by what the
 * time was spent on, for the table in docs/benchmarks.md:
 *
 *   node --import tsx bench/profile-breakdown.ts .bench-prof/emit-batch-1-<time>.cpuprofile [events stored]
 *
 * Only the load window counts (first to last sample with emitEvents on the stack), so start-up and shutdown do not.
 * Each busy sample goes to the leaf-most frame that matches a specific category (the emit path's own steps, the
 * response's protobuf encoding and compression, nats.js publishing); only samples with none of those on the stack
 * fall to the generic ones (Connect, HTTP/2 and sockets), then to "other". With the number of events stored in the
 * window the shares are also given as microseconds of the main thread per event.
 */
import { readFileSync } from "node:fs";

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
}

const is = (re: RegExp) => (f: CallFrame) => re.test(f.functionName);
const SPECIFIC: ReadonlyArray<readonly [string, (f: CallFrame) => boolean]> = [
  ["GC", is(/^\(garbage collector\)$/)],
  ["event JSON parse (JSON.parse, shape checks)", is(/^(parseEventJson|eventFromObject|eventFromInput)$/)],
  ["statement ids (uuid5: SHA-1, actor JSON)", is(/^(xapiStatementId|caliperEventId|uuidv5|uuid5Bytes)$/)],
  ["identity and course look-ups (cache, HMAC)", is(/^resolveLookups$/)],
  ["transform (mappings, field look-ups)", is(/^transformForBackend$/)],
  ["router matching", is(/^matchingRouters$/)],
  ["header blocks", is(/^encodeDeliveryHeaderBlock$/)],
  ["statement serialisation (JSON.stringify, UTF-8)", is(/^deliveryMessages$/)],
  ["PubAck handling (nats.js parser, ack JSON)", (f) => /^(readPubAck|processMsg|parse)$/.test(f.functionName) && /nats|main/.test(f.url)],
  ["publish (nats.js, socket write to NATS)", is(/^publish$/)],
  ["response compression (gzip)", (f) => /zlib/.test(f.url)],
  ["result building (EventResult messages)", is(/^(eventResult|backendResult|invalidResult)$/)],
  ["response protobuf encoding", is(/^toBinary$/)],
  ["request protobuf decoding", is(/^fromBinary$/)],
  [
    "rest of the emit path (planning, duplicates, promises)",
    is(/^(emitEvents|transformWith|transformEvent|emitBatch|plan|withDuplicates)$/),
  ],
];
const GENERIC: ReadonlyArray<readonly [string, (f: CallFrame) => boolean]> = [
  ["Connect (handler, envelopes, interceptors)", (f) => /@connectrpc|connect-handler|interceptor/i.test(f.url + f.functionName)],
  ["HTTP/2 and sockets (Node)", (f) => /http2|node:net|stream_base|node:internal\/streams/.test(f.url) || f.functionName === "writeBuffer"],
];
const OTHER = "other (Node internals, microtask queue, program)";

const [file, eventsArg] = process.argv.slice(2);
if (!file) throw new Error("usage: profile-breakdown.ts <cpuprofile> [events stored]");
const p = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

function stack(id: number): CallFrame[] {
  const out: CallFrame[] = [];
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) out.push(byId.get(cur)!.callFrame);
  return out;
}

function firstMatch(frames: readonly CallFrame[], cats: typeof SPECIFIC): string | undefined {
  for (const f of frames) for (const [name, test] of cats) if (test(f)) return name;
  return undefined;
}

const inEmit = new Map<number, boolean>();
let first = -1;
let last = -1;
p.samples.forEach((s, i) => {
  let h = inEmit.get(s);
  if (h === undefined) {
    h = stack(s).some((f) => f.functionName === "emitEvents");
    inEmit.set(s, h);
  }
  if (h) {
    if (first < 0) first = i;
    last = i;
  }
});
let t = p.startTime;
let t0 = 0;
let t1 = 0;
p.timeDeltas.forEach((d, i) => {
  t += d;
  if (i === first) t0 = t;
  if (i === last) t1 = t;
});
const window = p.samples.slice(first, last + 1);
const msPerSample = (t1 - t0) / 1e3 / window.length;

const category = new Map<number, string>();
const counts = new Map<string, number>();
for (const s of window) {
  let c = category.get(s);
  if (c === undefined) {
    const frames = stack(s);
    c = frames[0]?.functionName === "(idle)" ? "idle" : (firstMatch(frames, SPECIFIC) ?? firstMatch(frames, GENERIC) ?? OTHER);
    category.set(s, c);
  }
  counts.set(c, (counts.get(c) ?? 0) + 1);
}
const busy = window.length - (counts.get("idle") ?? 0);
counts.delete("idle");
const events = Number(eventsArg ?? 0);
const perEvent = (n: number) => (events > 0 ? ` ${((n * msPerSample * 1000) / events).toFixed(1)} |` : "");
console.log(`load window ${((t1 - t0) / 1e3).toFixed(0)} ms, main thread busy ${(busy * msPerSample).toFixed(0)} ms`);
console.log(`| What | Share of busy time |${events > 0 ? " µs per event |" : ""}`);
for (const [name, n] of [...counts].sort((a, b) => b[1] - a[1]))
  console.log(`| ${name} | ${((100 * n) / busy).toFixed(1)}% |${perEvent(n)}`);
console.log(`| all | 100% |${perEvent(busy)}`);
