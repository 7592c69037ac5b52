/**
 * `npm start`'s exit paths and start-up messages, through the real start command (`node --import tsx src/main.ts`):
 * every way out stops the embedded nats-server it started (found by its store directory in /proc, so a server
 * that outlived the service cannot hide), a second start on one DATA_DIR refuses, NATS_MONITOR_PORT is honoured,
 * the banner carries every URL, and each configuration error names its variable without a stack trace.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { NatsServerProcess } from "../src/nats/nats-server-process.js";
import { LIVENESS } from "../src/server/health.js";
import { bannerText } from "../src/startup/banner.js";
import { acquireDataDirLock, DataDirLockedError, type DataDirLock } from "../src/startup/data-dir-lock.js";
import { HEAP_GROWING_PERCENT, heapGrowthFlag } from "../src/startup/heap-growth.js";
import { describeStartupError } from "../src/startup/startup-errors.js";
import { freePort } from "./support/free-port.js";
import { onTestExit } from "./support/nats-server.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), "er-startup-"));
  dirs.push(d);
  return d;
}

/** Pids of nats-server processes whose command line names this store directory. */
function natsServersUsing(dir: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${p}/cmdline`, "utf8");
    } catch {
      continue;
    }
    const args = cmd.split("\0");
    if (args[0]?.includes("nats-server") && args.some((a) => a.startsWith(dir))) out.push(Number(p));
  }
  return out;
}

/** Whether the pid runs: an exited process its (new) parent has not reaped yet is a zombie, not running. */
function runningPid(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false;
  }
}

interface Run {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout line whose msg matches. */
  line(msg: RegExp): Promise<Record<string, unknown>>;
}

const STARTUP_EMIT_TOKEN = "startup-test-emit-token-0123456789";
const STARTUP_ADMIN_TOKEN = "startup-test-admin-token-0123456789";

function run(env: Record<string, string>, preload: string[] = []): Run {
  const child = spawn(process.execPath, ["--import", "tsx", ...preload.flatMap((p) => ["--import", p]), "src/main.ts"], {
    env: {
      ...process.env,
      NATS_URL: "",
      PORT: "0",
      EMIT_TOKENS: STARTUP_EMIT_TOKEN,
      ADMIN_TOKENS: STARTUP_ADMIN_TOKEN,
      SHUTDOWN_DRAIN_DELAY_MS: "0",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const unhook = onTestExit(() => child.kill("SIGKILL"));
  let out = "";
  let err = "";
  child.stdout!.on("data", (b: Buffer) => (out += b));
  child.stderr!.on("data", (b: Buffer) => (err += b));
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      unhook();
      resolve(code);
    }),
  );
  return {
    child,
    exited,
    stdout: () => out,
    stderr: () => err,
    line: (msg) =>
      new Promise((resolve, reject) => {
        const look = () => {
          for (const l of out.split("\n")) {
            try {
              const j = JSON.parse(l) as Record<string, unknown>;
              if (msg.test(String(j["msg"]))) {
                resolve(j);
                return true;
              }
            } catch {
              // not a JSON line
            }
          }
          return false;
        };
        if (look()) return;
        child.stdout!.on("data", () => look());
        void exited.then((code) => setImmediate(() => look() || reject(new Error(`exited ${code} before "${msg}": ${out}\n${err}`))));
      }),
  };
}

async function occupy(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { port: (server.address() as { port: number }).port, server };
}

const NO_STACK = /^\s+at /m;

test("port in use after the embedded nats-server started: one line naming PORT, exit 3, the nats-server is stopped", async () => {
  const dir = dataDir();
  const busy = await occupy();
  try {
    const r = run({ DATA_DIR: dir, PORT: String(busy.port) });
    const started = await r.line(/started embedded nats-server/);
    assert.ok(Number(started["pid"]) > 0);
    assert.equal(await r.exited, 3);
    assert.match(r.stderr(), new RegExp(`PORT=${busy.port}: address .* is already in use`));
    assert.doesNotMatch(r.stderr(), NO_STACK);
    assert.deepEqual(natsServersUsing(dir), []);
    assert.throws(() => process.kill(Number(started["pid"]), 0));
  } finally {
    busy.server.close();
  }
});

test("a busy CONSOLE_PORT (or METRICS_PORT) is reported as that variable, not PORT", async () => {
  const busy = await occupy();
  try {
    // The error a listener really gets on that port.
    const err = await new Promise<unknown>((resolve) => {
      const second = createServer();
      second.once("error", resolve);
      second.listen(busy.port, "127.0.0.1", () => second.close(() => resolve(undefined)));
    });
    const config = { host: "127.0.0.1", port: 0, natsMonitorPort: undefined };
    const asConsole = describeStartupError(err, { ...config, metricsPort: 0, consolePort: busy.port });
    assert.equal(asConsole?.exitCode, 3);
    assert.match(
      asConsole?.message ?? "",
      new RegExp(`^CONSOLE_PORT=${busy.port}: address 127.0.0.1:${busy.port} is already in use; choose another CONSOLE_PORT`),
    );
    const asMetrics = describeStartupError(err, { ...config, metricsPort: busy.port, consolePort: undefined });
    assert.match(asMetrics?.message ?? "", new RegExp(`^METRICS_PORT=${busy.port}:`));
    assert.match(
      describeStartupError(err, { ...config, port: busy.port, metricsPort: 0, consolePort: undefined })?.message ?? "",
      /^PORT=/,
    );
  } finally {
    busy.server.close();
  }
});

test("a bad setting found after the nats-server started (TLS file missing): exit 2, the file named, the nats-server stopped", async () => {
  const dir = dataDir();
  const r = run({ DATA_DIR: dir, TLS_CERT_FILE: join(dir, "missing-cert.pem"), TLS_KEY_FILE: join(dir, "missing-key.pem") });
  await r.line(/started embedded nats-server/);
  assert.equal(await r.exited, 2);
  assert.match(r.stderr(), /missing-cert\.pem/);
  assert.doesNotMatch(r.stderr(), NO_STACK);
  assert.deepEqual(natsServersUsing(dir), []);
});

test("an uncaught error while serving: exit 1 with the stack (a bug), the nats-server stopped", async () => {
  const dir = dataDir();
  const r = run({ DATA_DIR: dir }, ["./test/support/crash-on-signal.ts"]);
  await r.line(/event-routing listening/);
  assert.equal(natsServersUsing(dir).length, 1);
  r.child.kill("SIGUSR2");
  assert.equal(await r.exited, 1);
  assert.match(r.stderr(), /injected uncaught error/);
  assert.deepEqual(natsServersUsing(dir), []);
});

test("an ENOENT while serving is a runtime failure: exit 1 with the stack, not a configuration error (exit 2)", async () => {
  const dir = dataDir();
  const r = run({ DATA_DIR: dir, CRASH_WITH_ENOENT: "1" }, ["./test/support/crash-on-signal.ts"]);
  await r.line(/event-routing listening/);
  r.child.kill("SIGUSR2");
  assert.equal(await r.exited, 1);
  assert.match(r.stderr(), /event-routing failed: Error: ENOENT.*removed-while-running\.json/);
  assert.match(r.stderr(), NO_STACK);
  assert.doesNotMatch(r.stderr(), /check the \*_FILE/);
  assert.deepEqual(natsServersUsing(dir), []);
});

test("SIGTERM: health NOT_SERVING (liveness still SERVING) while the port answers for SHUTDOWN_DRAIN_DELAY_MS, then exit 0", async () => {
  const dir = dataDir();
  const r = run({ DATA_DIR: dir, SHUTDOWN_DRAIN_DELAY_MS: "4000" });
  const banner = await r.line(/event-routing listening/);
  const health = createClient(Health, createGrpcTransport({ baseUrl: `http://${String(banner["address"])}` }));
  assert.equal((await health.check({ service: "" })).status, ServingStatus.SERVING);
  r.child.kill("SIGTERM");
  const stopping = await r.line(/shutting down/);
  assert.equal(stopping["drainDelayMs"], 4000);
  // Before, the listeners closed in the tick that turned health NOT_SERVING: this call was refused.
  assert.equal((await health.check({ service: "" })).status, ServingStatus.NOT_SERVING);
  assert.equal((await health.check({ service: LIVENESS })).status, ServingStatus.SERVING);
  assert.equal(r.child.exitCode, null, "still running during the drain delay");
  assert.equal(await r.exited, 0);
  assert.deepEqual(natsServersUsing(dir), []);
});

test("the nats-server cannot start (NATS_MONITOR_PORT in use): a clear line, exit 3, no nats-server left", async () => {
  const dir = dataDir();
  const busy = await occupy();
  try {
    const r = run({ DATA_DIR: dir, NATS_MONITOR_PORT: String(busy.port) });
    assert.equal(await r.exited, 3);
    assert.match(r.stderr(), /nats-server exited during start-up.*NATS_MONITOR_PORT/s);
    assert.deepEqual(natsServersUsing(dir), []);
  } finally {
    busy.server.close();
  }
});

test("banner with every URL and generated tokens; NATS_MONITOR_PORT honoured; a second start on the DATA_DIR refuses", async () => {
  const dir = dataDir();
  const [monitor, metrics] = [await freePort(), await freePort()];
  const first = run({
    DATA_DIR: dir,
    NATS_MONITOR_PORT: String(monitor),
    METRICS_PORT: String(metrics),
    EMIT_TOKENS: "",
    ADMIN_TOKENS: "",
  });
  try {
    const banner = await first.line(/event-routing listening/);
    assert.match(String(banner["url"]), /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(banner["monitoring"], `http://127.0.0.1:${monitor}`);
    assert.equal(banner["metrics"], `http://127.0.0.1:${metrics}/metrics`);
    // The log names the generated tokens and their file, never a value (secrets.test.ts checks every byte).
    assert.deepEqual((banner["generatedTokens"] as string[]).sort(), ["ADMIN_TOKENS", "EMIT_TOKENS"]);
    assert.equal(banner["tokensFile"], join(dir, "generated-tokens.env"));
    assert.equal((await fetch(`http://127.0.0.1:${monitor}/healthz`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${metrics}/metrics`)).status, 200);

    const second = run({ DATA_DIR: dir });
    assert.equal(await second.exited, 3);
    assert.match(second.stderr(), new RegExp(`DATA_DIR=${dir} is in use by another event-routing \\(pid ${first.child.pid}`));
    assert.equal(natsServersUsing(dir).length, 1, "the second start did not start a nats-server");
  } finally {
    first.child.kill("SIGTERM");
    // With its stderr: a start that failed (exit 2 or 3) says why here, not only "3 !== 0".
    assert.equal(await first.exited, 0, first.stderr());
  }
  assert.deepEqual(natsServersUsing(dir), []);
  // The lock went with it: the next start works.
  const third = run({ DATA_DIR: dir });
  await third.line(/event-routing listening/);
  third.child.kill("SIGTERM");
  assert.equal(await third.exited, 0);
});

test("a lock left by a killed service is stale and taken over", async () => {
  const dir = dataDir();
  writeFileSync(join(dir, "event-routing.lock"), "999999999\n");
  const r = run({ DATA_DIR: dir });
  await r.line(/event-routing listening/);
  r.child.kill("SIGTERM");
  assert.equal(await r.exited, 0);
});

test("a service killed by SIGKILL leaves no nats-server behind: the next start on the DATA_DIR runs exactly one", async () => {
  const dir = dataDir();
  const first = run({ DATA_DIR: dir });
  const oldNats = Number((await first.line(/started embedded nats-server/))["pid"]);
  await first.line(/event-routing listening/);
  first.child.kill("SIGKILL");
  await first.exited;
  const second = run({ DATA_DIR: dir });
  try {
    const started = await second.line(/started embedded nats-server/);
    await second.line(/event-routing listening/);
    assert.deepEqual(natsServersUsing(dir), [Number(started["pid"])], "only the new start's nats-server runs on the store");
    assert.equal(runningPid(oldNats), false, "the killed service's nats-server is gone");
  } finally {
    second.child.kill("SIGTERM");
    assert.equal(await second.exited, 0);
  }
  assert.deepEqual(natsServersUsing(dir), []);
});

test("a nats-server left running on the store (its service killed) is stopped before the next start runs its own", {
  timeout: 90_000,
}, async () => {
  const dir = dataDir();
  // What a killed service leaves when nothing stopped its child: a server on DATA_DIR/nats with its ports file there.
  const orphan = await NatsServerProcess.start({ bin: "nats-server", storeDir: join(dir, "nats") });
  onTestExit(() => orphan.killNow());
  assert.deepEqual(natsServersUsing(dir), [orphan.pid]);
  const r = run({ DATA_DIR: dir });
  try {
    const stopped = await r.line(/stopped a nats-server left running/);
    assert.equal(stopped["pid"], orphan.pid);
    const started = await r.line(/started embedded nats-server/);
    await r.line(/event-routing listening/);
    assert.deepEqual(natsServersUsing(dir), [Number(started["pid"])]);
  } finally {
    r.child.kill("SIGTERM");
    assert.equal(await r.exited, 0);
  }
});

test("starts racing for one DATA_DIR (a killed service's lock file in it): exactly one serves, one nats-server", {
  timeout: 90_000,
}, async () => {
  const dir = dataDir();
  writeFileSync(join(dir, "event-routing.lock"), "999999999\n");
  const runs = [0, 1, 2].map(() => run({ DATA_DIR: dir }));
  const outcomes = await Promise.all(
    runs.map((r) => Promise.race([r.line(/event-routing listening/).then(() => "serving" as const), r.exited.then((code) => code)])),
  );
  try {
    assert.equal(outcomes.filter((o) => o === "serving").length, 1, `outcomes: ${JSON.stringify(outcomes)}`);
    assert.deepEqual(
      outcomes.filter((o) => o !== "serving"),
      [3, 3],
    );
    for (const r of runs) if (r.child.exitCode === 3) assert.match(r.stderr(), /is in use by another event-routing/);
    assert.equal(natsServersUsing(dir).length, 1);
  } finally {
    for (const r of runs) r.child.kill("SIGTERM");
    await Promise.all(runs.map((r) => r.exited));
  }
  assert.deepEqual(natsServersUsing(dir), []);
});

test("the DATA_DIR lock is an OS lock: of many takers at once exactly one wins, and a release frees it", async () => {
  const dir = dataDir();
  const results = await Promise.allSettled([1, 2, 3, 4, 5].map((pid) => acquireDataDirLock(dir, pid)));
  const won = results.filter((r) => r.status === "fulfilled");
  assert.equal(won.length, 1);
  for (const r of results) if (r.status === "rejected") assert.ok(r.reason instanceof DataDirLockedError);
  const lock = (won[0] as PromiseFulfilledResult<DataDirLock>).value;
  assert.match(readFileSync(lock.path, "utf8"), /^[1-5]\n$/);
  await assert.rejects(acquireDataDirLock(dir, 6), /is in use by another event-routing \(pid [1-5],/);
  lock.release();
  const again = await acquireDataDirLock(dir, 7);
  again.release();
});

for (const [name, env, pattern] of [
  [
    "an invalid XAPI_EVENTS_REGEX",
    { XAPI_EVENTS_REGEX: "edx\\.(video" },
    /XAPI_EVENTS_REGEX="edx\\\\\.\(video": .*\(Comma-separated regexes/,
  ],
  [
    "a missing COURSES_FILE",
    { COURSES_FILE: "/nonexistent/courses.csv" },
    /COURSES_FILE="\/nonexistent\/courses.csv": file not found; expected the path of a CSV/,
  ],
  ["a malformed NATS_URL", { NATS_URL: "http//nats:4222" }, /NATS_URL="http\/\/nats:4222": .*expected nats:\/\/host:4222/],
] as const) {
  test(`${name} stops start-up naming the variable and the accepted form, without a stack`, async () => {
    const r = run(env as Record<string, string>);
    assert.equal(await r.exited, 2);
    assert.match(r.stderr(), pattern);
    assert.doesNotMatch(r.stderr(), NO_STACK);
  });
}

test("a NATS_URL refusing connections names the URL and what to check, exit 3, without a stack", async () => {
  const port = await freePort();
  const r = run({ NATS_URL: `nats://127.0.0.1:${port}` });
  assert.equal(await r.exited, 3);
  assert.match(
    r.stderr(),
    new RegExp(`NATS_URL=nats://127.0.0.1:${port}: cannot connect .*Check that nats-server runs there with JetStream`),
  );
  assert.doesNotMatch(r.stderr(), NO_STACK);
});

test("on a terminal the banner is plain text with every URL and the generated tokens", () => {
  const text = bannerText({
    version: "1.2.3",
    address: "127.0.0.1:8080",
    tls: false,
    nats: "nats://127.0.0.1:4222",
    monitoring: "http://127.0.0.1:8222",
    metrics: undefined,
    console: "http://127.0.0.1:8090/",
    generatedTokens: { ADMIN_TOKENS: "tok" },
    tokensFile: undefined,
  });
  assert.match(text, /Console\s+http:\/\/127\.0\.0\.1:8090\//);
  assert.match(text, /Listening\s+http:\/\/127\.0\.0\.1:8080/);
  assert.match(text, /NATS monitoring\s+http:\/\/127\.0\.0\.1:8222/);
  assert.match(text, /Metrics\s+off \(set METRICS_PORT\)/);
  assert.match(text, /ADMIN_TOKENS\s+tok/);
});

test("the old generation may grow 1.5x past the live heap unless node was given its own --heap-growing-percent", () => {
  assert.equal(HEAP_GROWING_PERCENT, 50);
  assert.equal(heapGrowthFlag([], undefined), "--heap-growing-percent=50");
  assert.equal(heapGrowthFlag(["--enable-source-maps"], "--max-old-space-size=512"), `--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  // An operator's value wins, in either spelling V8 accepts, on the command line or in NODE_OPTIONS.
  assert.equal(heapGrowthFlag(["--heap-growing-percent=0"], undefined), undefined);
  assert.equal(heapGrowthFlag(["--heap_growing_percent=50"], undefined), undefined);
  assert.equal(heapGrowthFlag([], " --enable-source-maps  --heap-growing-percent=300"), undefined);
  // Not a prefix match on some other flag.
  assert.equal(heapGrowthFlag(["--heap-growing-percentage=5"], undefined), `--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
});
