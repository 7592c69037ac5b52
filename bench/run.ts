/**
 * The benchmark suite (`npm run bench`): the service against what NATS (or its own server stack) allows, measured
 * side by side in one run. Three kinds of process, each its own: nats-server, the service (`npm start`'s command,
 * after a build: the production path, as users run it; BENCH_TSX=1 runs src/main.ts under tsx instead) and the
 * load generator (bench/suite/load.ts, bundled so it starts fast). Raw and service runs are interleaved, their
 * order alternating each round, and the ratio is taken per pair (raw and service of one round) then the median;
 * on a shared 2-core machine absolute numbers are noise, ratios of neighbouring runs much less so.
 *
 * Writes the results between the markers of docs/benchmarks.md and to docs/benchmarks.json.
 * BENCH_SMOKE=1: every benchmark once, for about a second, small backlog, nothing written; fails only when a
 * benchmark did not run or printed no figure (never on timing). BENCH_PROFILE=1: the service runs with
 * --cpu-prof (profiles in .bench-prof/). `npm run bench -- emit-batch-1 drain`: only the named benchmarks.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { build } from "esbuild";
import { Backend } from "../gen/eventrouting/v1/event_pb.js";
import { RouterAdminService } from "../gen/eventrouting/v1/router_admin_service_pb.js";
import { natsNames } from "../src/nats/names.js";
import { ERB_FIXTURES_DIR, isAnonymousFixture, rawFixtureFiles } from "../test/support/erb-fixtures.js";
import { startNatsServer } from "../test/support/nats-server.js";
import { startCommand } from "../test/support/start-command.js";
import { type BenchRow, mergeRun, median, RSS_TARGET_MIB, runtimeKey, updateDoc } from "./results-doc.js";
import type { LoadArgs } from "./suite/load.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SMOKE = process.env["BENCH_SMOKE"] === "1";
const TSX = process.env["BENCH_TSX"] === "1";
const PROFILE = process.env["BENCH_PROFILE"] === "1";
const ROUNDS = SMOKE ? 1 : Number(process.env["BENCH_ROUNDS"] ?? 3);
const SECONDS = SMOKE ? 1 : Number(process.env["BENCH_SECONDS"] ?? 4);
const OPEN_SECONDS = SMOKE ? 1 : 8;
const OPEN_RPS = 500;
const BACKLOG = SMOKE ? 2_000 : Number(process.env["BENCH_BACKLOG"] ?? 300_000);
const BATCH_SIZE = 100;
/** Statements a reconcile run checks (the issue's 100k). */
const RECONCILE_COUNT = SMOKE ? 2_000 : Number(process.env["BENCH_RECONCILE"] ?? 100_000);
const E2E_INTERVAL_MS = 1_000;
const TOKEN = "bench-token-0123456789abcdef";
const only = process.argv.slice(2);
const names = natsNames();

// ---- processes -------------------------------------------------------------------------------------------------

const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Starts a child and resolves with it once `ready(line)` matches a stdout line (its value is returned too). */
function startChild<T>(
  args: string[],
  env: Record<string, string>,
  ready: (line: string) => T | undefined,
): Promise<{ child: ChildProcess; value: T }> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  child.once("exit", () => children.delete(child));
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  return new Promise((resolvePromise, reject) => {
    let buf = "";
    let done = false;
    child.stdout!.on("data", (b: Buffer) => {
      if (done) return;
      buf += b.toString();
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const value = ready(line);
        if (value !== undefined) {
          done = true;
          resolvePromise({ child, value });
          return;
        }
      }
    });
    child.once("exit", (code) => {
      if (!done) reject(new Error(`${args.join(" ")} exited (${code}) before it was ready: ${stderr.trim()}`));
    });
  });
}

/**
 * Deletes the benchmark's routers (they live in NATS KV, past the process), then stops the service. On a fresh
 * connection: the one that created them may have been idle past HTTP_IDLE_TIMEOUT_MS (a 300k reconcile round
 * pair is), and a stream on a connection the service closed is refused (NGHTTP2_REFUSED_STREAM).
 */
async function stopService(s: Service, routers: readonly string[]): Promise<void> {
  const admin = createClient(RouterAdminService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${s.port}` }));
  for (const id of routers) await admin.deleteRouter({ id }, authed);
  await stopChild(s.child);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Peak resident set of a live process (VmHWM: the kernel's own high-water mark), in MiB. */
function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Math.round(Number(m[1]) / 1024) : 0;
}

interface Service {
  readonly child: ChildProcess;
  readonly port: number;
  readonly admin: ReturnType<typeof createClient<typeof RouterAdminService>>;
}

/**
 * `npm start`'s node arguments (its V8 flags included) and the variables it sets: the service is benchmarked as
 * production starts it.
 */
const START = startCommand(ROOT);
const START_ARGS = START.node.slice(1);
const START_ENV: Record<string, string> = Object.fromEntries(
  START.env.map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
);

async function startService(natsUrl: string, env: Record<string, string>, label: string): Promise<Service> {
  const entry = TSX ? ["--import", "tsx", "src/main.ts"] : START_ARGS;
  const prof = PROFILE
    ? ["--cpu-prof", `--cpu-prof-dir=${join(ROOT, ".bench-prof")}`, `--cpu-prof-name=${label}-${Date.now()}.cpuprofile`]
    : [];
  const { child, value: port } = await startChild(
    [...prof, ...entry],
    {
      ...START_ENV,
      NATS_URL: natsUrl,
      HOST: "127.0.0.1",
      PORT: "0",
      EMIT_TOKENS: TOKEN,
      ADMIN_TOKENS: TOKEN,
      LOG_RPCS: "false",
      LOG_LEVEL: "info",
      ...env,
    },
    (line) => {
      const m = line.includes("event-routing listening") ? /"address":"[^"]*:(\d+)"/.exec(line) : null;
      return m ? Number(m[1]) : undefined;
    },
  );
  child.stdout!.resume();
  const admin = createClient(RouterAdminService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
  return { child, port, admin };
}

const authed = { headers: { authorization: `Bearer ${TOKEN}` } };
async function createRouter(s: Service, id: string, opts: { endpointPort?: number; enabled?: boolean; intervalMs?: number } = {}) {
  await s.admin.createRouter(
    {
      router: {
        id,
        backend: Backend.XAPI,
        endpointUrl: `http://127.0.0.1:${opts.endpointPort ?? 9}/xapi`,
        enabled: opts.enabled ?? true,
        delivery: { batchSize: BATCH_SIZE, ...(opts.intervalMs ? { batchInterval: { seconds: 0n, nanos: opts.intervalMs * 1e6 } } : {}) },
      },
    },
    authed,
  );
}

/** CPU time (user + system) a live process has used, in ms; 0 once it is gone. */
function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

/** Per benchmark: the CPU each process used in each run, to show which one was the limit. */
const cpuNotes = new Map<string, string[]>();
let currentBench = "";
let currentServicePid: number | undefined;

let runCounter = 1;
async function load(args: Omit<LoadArgs, "token" | "fixturesDir" | "fixtureFiles" | "run" | "natsUrl">): Promise<Record<string, number>> {
  const full: LoadArgs = { ...args, natsUrl, token: TOKEN, fixturesDir: ERB_FIXTURES_DIR, fixtureFiles, run: runCounter++ };
  const natsPid = (nats.server as unknown as { child?: ChildProcess }).child?.pid;
  const serverPid = args.port !== undefined && args.port === currentTrivialPort ? currentTrivialPid : currentServicePid;
  const [svc0, nats0, t0] = [cpuMs(serverPid), cpuMs(natsPid), Date.now()];
  const r = spawnSync(process.execPath, [join(ROOT, "dist/bench/load.js"), JSON.stringify(full)], {
    cwd: ROOT,
    encoding: "utf8",
    maxBuffer: 1 << 24,
  });
  const line = r.stdout.trim().split("\n").at(-1) ?? "";
  if (r.status !== 0 || !line.startsWith("{")) throw new Error(`load ${args.mode} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const result = JSON.parse(line) as Record<string, number>;
  if (args.mode !== "fill") {
    const note =
      `${args.mode}${args.port !== undefined && args.port === currentTrivialPort ? " (trivial)" : ""}: ` +
      `${Date.now() - t0} ms wall, CPU ms load ${result["loadCpuMs"]} / server ${Math.round(cpuMs(serverPid) - svc0)} / nats ${Math.round(cpuMs(natsPid) - nats0)}`;
    cpuNotes.set(currentBench, [...(cpuNotes.get(currentBench) ?? []), note]);
  }
  return result;
}
let currentTrivialPort: number | undefined;
let currentTrivialPid: number | undefined;

// ---- results ---------------------------------------------------------------------------------------------------

type Row = BenchRow;
const rows: Row[] = [];
function record(row: Omit<Row, "met">, met: (medianRatio: number) => boolean): void {
  const cpu = cpuNotes.get(row.name);
  // `met` is the benchmark's own target; the RSS target (<= 200 MiB, issue 26) is shown in its own column.
  const r = { ...row, ...(cpu ? { extra: { ...row.extra, cpu } } : {}), met: met(median(row.ratios)) };
  rows.push(r);
  const fmt = (xs: number[]) => xs.map((x) => x.toLocaleString("en-US")).join(" / ");
  console.log(
    `${r.name}: raw ${fmt(r.raw)} ${r.unit}; service ${fmt(r.service)} ${r.unit}; ratios ${r.ratios.map((x) => x.toFixed(2)).join(" ")} ` +
      `(median ${median(r.ratios).toFixed(2)}, target ${r.target}, ${r.met ? "met" : "MISSED"}); service peak RSS ${r.rssMiB} MiB` +
      `${r.rssMiB > RSS_TARGET_MIB ? ` (over ${RSS_TARGET_MIB} MiB)` : ""}` +
      (r.extra ? ` ${JSON.stringify(r.extra)}` : ""),
  );
}
const selected = (name: string) => only.length === 0 || only.some((o) => name.includes(o));

// ---- the run ---------------------------------------------------------------------------------------------------

const started = new Date();
// Every child below (service, trivial server, load generator, transform bench) is spawned with process.execPath.
console.log(`bench: Node ${process.version} (${process.execPath}) runs the service, the load generator and the baselines`);
if (!TSX) {
  const b = spawnSync("npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: "inherit" });
  if (b.status !== 0) throw new Error("npm run build failed");
}
await build({
  entryPoints: [join(ROOT, "bench/suite/load.ts"), join(ROOT, "bench/suite/trivial-server.ts")],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  outdir: join(ROOT, "dist/bench"),
  logLevel: "warning",
});

const fixtureFiles = rawFixtureFiles().filter((f) => !isAnonymousFixture(f));
const nats = await startNatsServer();
const natsUrl = nats.url;
const nc = await connect({ servers: natsUrl });
const jsm = await jetstreamManager(nc);
const purge = () => jsm.streams.purge(names.deliveryStream).catch(() => undefined);
/** A run's figure after an empty stream, so no run pays for the one before it. */
async function purgeThen(run: () => Promise<Record<string, number>>, key = "perSecond"): Promise<number> {
  await purge();
  return (await run())[key]!;
}

/** Raw first in even rounds, service first in odd ones. */
async function pairs(raw: () => Promise<number>, svc: () => Promise<number>): Promise<{ raw: number[]; service: number[] }> {
  const out = { raw: [] as number[], service: [] as number[] };
  for (let r = 0; r < ROUNDS; r++) {
    if (r % 2 === 0) {
      out.raw.push(await raw());
      out.service.push(await svc());
    } else {
      out.service.push(await svc());
      out.raw.push(await raw());
    }
  }
  return out;
}

async function emitBatch(routerCount: number, target: number): Promise<void> {
  const name = `emit-batch-${routerCount}`;
  if (!selected(name)) return;
  const svc = await startService(natsUrl, { DELIVERY_ENABLED: "false" }, name);
  [currentBench, currentServicePid] = [name, svc.child.pid];
  const routers = Array.from({ length: routerCount }, (_, i) => `bench-${i + 1}`);
  for (const id of routers) await createRouter(svc, id);
  const runs = await pairs(
    async () => purgeThen(() => load({ mode: "batch-raw", routers, seconds: SECONDS })),
    async () => purgeThen(() => load({ mode: "batch-svc", routers, seconds: SECONDS, port: svc.port })),
  );
  const rss = peakRssMiB(svc.child.pid!);
  await stopService(svc, routers);
  await purge();
  record(
    {
      name,
      what: `EmitBatch of 100, concurrency 4, ${routerCount} router(s) vs pipelined js.publish of the same statements`,
      unit: "statements/s",
      ...runs,
      ratios: runs.service.map((s, i) => s / runs.raw[i]!),
      target: `>= ${target}x`,
      rssMiB: rss,
    },
    (m) => m >= target,
  );
}

async function single(): Promise<void> {
  if (!selected("emit-single") && !selected("open-loop")) return;
  const svc = await startService(natsUrl, { DELIVERY_ENABLED: "false" }, "emit-single");
  [currentBench, currentServicePid] = ["emit-single", svc.child.pid];
  await createRouter(svc, "bench-1");
  const trivial = await startChild([join(ROOT, "dist/bench/trivial-server.js")], { EMIT_TOKENS: TOKEN, ADMIN_TOKENS: TOKEN }, (line) =>
    line.startsWith("{") ? (JSON.parse(line) as { port: number }).port : undefined,
  );
  [currentTrivialPort, currentTrivialPid] = [trivial.value, trivial.child.pid];
  if (selected("emit-single")) {
    const runs = await pairs(
      async () => (await load({ mode: "single", port: trivial.value, seconds: SECONDS }))["perSecond"]!,
      async () => purgeThen(() => load({ mode: "single", port: svc.port, seconds: SECONDS })),
    );
    record(
      {
        name: "emit-single",
        what: "Emit, concurrency 16 vs a trivial Emit handler on the same server stack",
        unit: "calls/s",
        ...runs,
        ratios: runs.service.map((s, i) => s / runs.raw[i]!),
        target: ">= 0.9x",
        rssMiB: peakRssMiB(svc.child.pid!),
      },
      (m) => m >= 0.9,
    );
  }
  if (selected("open-loop")) {
    currentBench = "open-loop";
    const p99s = { raw: [] as Record<string, number>[], service: [] as Record<string, number>[] };
    await pairs(
      async () => {
        p99s.raw.push(await load({ mode: "open", port: trivial.value, seconds: OPEN_SECONDS, rps: OPEN_RPS }));
        return 0;
      },
      async () => {
        await purge();
        p99s.service.push(await load({ mode: "open", port: svc.port, seconds: OPEN_SECONDS, rps: OPEN_RPS }));
        return 0;
      },
    );
    const raw = p99s.raw.map((r) => r["p99"]!);
    const service = p99s.service.map((r) => r["p99"]!);
    record(
      {
        name: "open-loop",
        what: `Emit open loop at ${OPEN_RPS} rps (latency from the scheduled time) vs the trivial handler: p99`,
        unit: "ms p99",
        raw,
        service,
        ratios: service.map((s, i) => s / raw[i]!),
        target: "<= 1.5x",
        rssMiB: peakRssMiB(svc.child.pid!),
        extra: {
          p50: { raw: p99s.raw.map((r) => r["p50"]), service: p99s.service.map((r) => r["p50"]) },
          errors: p99s.service.map((r) => r["errors"]),
        },
      },
      (m) => m <= 1.5,
    );
  }
  await stopChild(trivial.child);
  await stopService(svc, ["bench-1"]);
  await purge();
}

async function drain(): Promise<void> {
  if (!selected("drain")) return;
  const endpointPort = await freePort();
  const svc = await startService(natsUrl, { DELIVERY_ENABLED: "true" }, "drain");
  [currentBench, currentServicePid] = ["drain", svc.child.pid];
  await createRouter(svc, "drain", { endpointPort, enabled: false });
  const fillThen = async (run: () => Promise<Record<string, number>>) => {
    await purge();
    await load({ mode: "fill", routerId: "drain", count: BACKLOG });
    return (await run())["perSecond"]!;
  };
  const runs = await pairs(
    async () => fillThen(() => load({ mode: "drain-raw", routerId: "drain", count: BACKLOG, batchSize: BATCH_SIZE })),
    async () => fillThen(() => load({ mode: "drain-svc", routerId: "drain", count: BACKLOG, port: svc.port, endpointPort })),
  );
  const rss = peakRssMiB(svc.child.pid!);
  await stopService(svc, ["drain"]);
  await purge();
  record(
    {
      name: "drain",
      what: `Backlog of ${BACKLOG.toLocaleString("en-US")} to a local endpoint (batches of ${BATCH_SIZE}) vs raw consume+ack, same batch size`,
      unit: "statements/s",
      ...runs,
      ratios: runs.service.map((s, i) => s / runs.raw[i]!),
      target: ">= 0.85x",
      rssMiB: rss,
    },
    (m) => m >= 0.85,
  );
}

async function endToEnd(): Promise<void> {
  if (!selected("e2e")) return;
  const endpointPort = await freePort();
  const svc = await startService(natsUrl, { DELIVERY_ENABLED: "true" }, "e2e");
  [currentBench, currentServicePid] = ["e2e", svc.child.pid];
  await createRouter(svc, "e2e", { endpointPort, enabled: false, intervalMs: E2E_INTERVAL_MS });
  const results: Record<string, number>[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    await purge();
    results.push(await load({ mode: "e2e", routerId: "e2e", seconds: SECONDS, port: svc.port, endpointPort }));
  }
  const rss = peakRssMiB(svc.child.pid!);
  await stopService(svc, ["e2e"]);
  await purge();
  const lag = results.map((r) => r["lagP99"]!);
  const limit = E2E_INTERVAL_MS + 100;
  record(
    {
      name: "e2e",
      what: `EmitBatch of 100 at concurrency 4 with delivery on (batch interval ${E2E_INTERVAL_MS} ms): delivery lag p99`,
      unit: "ms lag p99",
      raw: results.map(() => limit),
      service: lag,
      ratios: lag.map((l) => l / limit),
      target: `lag p99 <= ${limit} ms`,
      rssMiB: rss,
      extra: {
        storedPerSecond: results.map((r) => r["perSecond"]),
        deliveredPerSecond: results.map((r) => r["deliveredPerSecond"]),
        lagP50: results.map((r) => r["lagP50"]),
        delivered: results.map((r) => `${r["delivered"]}/${r["count"]}`),
      },
    },
    (m) => m <= 1 && results.every((r) => r["delivered"]! >= r["count"]!),
  );
}

async function reconcileBench(): Promise<void> {
  if (!selected("reconcile")) return;
  const endpointPort = await freePort();
  // Delivery off: the statements stay where fill put them, and the LRS served by the load process answers look-ups.
  const svc = await startService(natsUrl, { DELIVERY_ENABLED: "false" }, "reconcile");
  [currentBench, currentServicePid] = ["reconcile", svc.child.pid];
  await createRouter(svc, "reconcile", { endpointPort, enabled: false });
  await purge();
  await load({ mode: "fill", routerId: "reconcile", count: RECONCILE_COUNT });
  const details = { raw: [] as Record<string, number>[], service: [] as Record<string, number>[] };
  const runs = await pairs(
    async () => {
      details.raw.push(await load({ mode: "reconcile-raw", routerId: "reconcile", endpointPort }));
      return details.raw.at(-1)!["perSecond"]!;
    },
    async () => {
      details.service.push(await load({ mode: "reconcile-svc", routerId: "reconcile", port: svc.port, endpointPort }));
      return details.service.at(-1)!["perSecond"]!;
    },
  );
  const rss = peakRssMiB(svc.child.pid!);
  await stopService(svc, ["reconcile"]);
  await purge();
  const complete = details.service.every((r) => r["count"] === RECONCILE_COUNT);
  record(
    {
      name: "reconcile",
      what: `ReconcileRouter over ${RECONCILE_COUNT.toLocaleString("en-US")} stored statements, look-ups by id at concurrency 16 against a local LRS, vs the same reads and GETs by hand`,
      unit: "statements/s",
      ...runs,
      ratios: runs.service.map((s, i) => s / runs.raw[i]!),
      target: ">= 0.6x, every statement checked",
      rssMiB: rss,
      extra: {
        seconds: { raw: details.raw.map((r) => r["secs"]), service: details.service.map((r) => r["secs"]) },
        checked: details.service.map((r) => r["count"]),
        missing: details.service.map((r) => r["missing"]),
      },
    },
    (m) => m >= 0.6 && complete,
  );
}

async function transform(): Promise<void> {
  if (!selected("transform")) return;
  const r = spawnSync(process.execPath, ["--import", "tsx", "bench/xapi-transform.bench.ts", SMOKE ? "0.5" : "3"], {
    cwd: ROOT,
    encoding: "utf8",
  });
  const m = /xapi transform: ([\d,]+) transforms\/s/.exec(r.stdout);
  if (r.status !== 0 || !m) throw new Error(`transform bench failed: ${r.stdout}${r.stderr}`);
  const rate = Number(m[1]!.replace(/,/g, ""));
  const p = /xapi parse\+transform: ([\d,]+) transforms\/s/.exec(r.stdout);
  record(
    {
      name: "transform",
      what: "xAPI transform of the fixture mix on one core (no baseline: the target is absolute)",
      unit: "events/s",
      raw: [100_000],
      service: [rate],
      ratios: [rate / 100_000],
      target: ">= 100,000 events/s",
      rssMiB: 0,
      extra: { parseAndTransform: p ? Number(p[1]!.replace(/,/g, "")) : undefined },
    },
    (x) => x >= 1,
  );
}

try {
  await emitBatch(1, 0.6);
  await emitBatch(5, 0.8);
  await single();
  await drain();
  await endToEnd();
  await reconcileBench();
  await transform();
} finally {
  await nc.close();
  await nats.stop();
}

const bad = rows.filter((r) => r.service.length === 0 || r.service.some((x) => !(x > 0)) || r.raw.some((x) => !(x > 0)));
if (rows.length === 0 || bad.length > 0) {
  console.error(`benchmarks without figures: ${bad.map((r) => r.name).join(", ") || "(none ran)"}`);
  process.exit(1);
}
if (SMOKE) {
  console.log(`smoke: ${rows.length} benchmarks ran and printed their figures`);
  process.exit(0);
}

// ---- docs ------------------------------------------------------------------------------------------------------

const version = (pkg: string) =>
  (JSON.parse(readFileSync(join(ROOT, "node_modules", pkg, "package.json"), "utf8")) as { version: string }).version;
const natsServerVersion = spawnSync(process.env["NATS_SERVER_BIN"] ?? "nats-server", ["--version"], { encoding: "utf8" }).stdout.trim();
const env = {
  date: started.toISOString(),
  durationSeconds: Math.round((Date.now() - started.getTime()) / 1000),
  machine: `${os.cpus()[0]?.model ?? "unknown CPU"}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}`,
  loadAverageAtEnd: os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(" "),
  node: process.version,
  natsServer: natsServerVersion,
  natsJs: version("@nats-io/transport-node"),
  connect: version("@connectrpc/connect-node"),
  service: TSX ? "node --import tsx src/main.ts" : `${[...START.env, ...START.node].join(" ")} (npm start, after npm run build)`,
  rounds: ROUNDS,
  secondsPerRun: SECONDS,
};
// One entry and one block per Node major (bench/results-doc.ts): this run replaces its own runtime's figures only.
const jsonPath = join(ROOT, "docs/benchmarks.json");
const file = mergeRun(JSON.parse(readFileSync(jsonPath, "utf8")), { env, results: rows });
writeFileSync(jsonPath, `${JSON.stringify(file, null, 2)}\n`);
const docPath = join(ROOT, "docs/benchmarks.md");
writeFileSync(docPath, updateDoc(readFileSync(docPath, "utf8"), file, runtimeKey(env.node)));
console.log(`wrote the ${runtimeKey(env.node)} results to docs/benchmarks.md and docs/benchmarks.json`);
