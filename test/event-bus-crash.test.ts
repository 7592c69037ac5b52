/**
 * Crash safety of the Redis input with real processes: the service started as operators start it
 * (`node src/main.ts`), SIGKILLed while it holds entries it read and did not acknowledge. Another instance in
 * the same consumer group claims them after the idle time; an instance restarted under the same consumer name
 * finishes its own. Nothing is lost and every statement is stored once (JetStream de-duplicates the ids).
 */
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { createClient as createRedisClient } from "@redis/client";
import { pino } from "pino";
import { Backend } from "../gen/eventrouting/v1/event_pb.js";
import { RouterAdminService } from "../gen/eventrouting/v1/router_admin_service_pb.js";
import { loadConfig } from "../src/config.js";
import { connectNats } from "../src/nats/connection.js";
import { startService, type RunningService } from "../src/service.js";
import { ERB_FIXTURES_DIR } from "./support/erb-fixtures.js";
import { waitUntil } from "./support/http-endpoints.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";
import { TestRedisServer } from "./support/redis-server.js";
import { serviceArgs } from "./support/entrypoints.js";

const run = promisify(execFile);
const TOKEN = "admin-token-for-crash-tests";
const ROOT = join(import.meta.dirname, "..");
const PRODUCER = join(import.meta.dirname, "clients", "event_bus_producer.py");
const ENROLLMENT = join(ERB_FIXTURES_DIR, "raw", "edx.course.enrollment.activated.json");
const STREAM = "analytics";
const SUBJECT = "crash.deliver.crash-lrs";

let nats: TestNatsServer;
let redis: TestRedisServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
let admin: RunningService;
let redisClient: { sendCommand(args: string[]): Promise<unknown>; close(): Promise<void> };
const children = new Set<ChildProcess>();
process.on("exit", () => children.forEach((c) => c.kill("SIGKILL")));

function env(consumer: string, claimIdleMs: number): Record<string, string> {
  return {
    NATS_URL: nats.url,
    NATS_PREFIX: "crash",
    PORT: "0",
    ADMIN_TOKENS: TOKEN,
    EMIT_TOKENS: TOKEN,
    IDENTITY_HMAC_SECRET: "crash-test-secret-0123456789abcdef",
    DELIVERY_ENABLED: "false",
    NATS_INGEST_ENABLED: "false",
    LOG_LEVEL: "warn",
    EVENT_BUS_REDIS_CONNECTION_URL: redis.url,
    EVENT_BUS_CONSUMER_NAME: consumer,
    EVENT_BUS_CLAIM_IDLE_MS: String(claimIdleMs),
    SHUTDOWN_DRAIN_DELAY_MS: "0",
  };
}

/** The service as `npm start` runs it, in its own process. */
function startProcess(consumer: string, claimIdleMs: number): ChildProcess {
  const child = spawn(process.execPath, serviceArgs(), {
    cwd: ROOT,
    env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "", ...env(consumer, claimIdleMs) },
    stdio: ["ignore", "ignore", "pipe"],
  });
  children.add(child);
  // Drained so a chatty child never blocks on a full pipe; kept for a failing test's message.
  let stderr = "";
  child.stderr?.on("data", (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-4000);
  });
  child.once("exit", (code, signal) => {
    children.delete(child);
    if (code !== 0 && signal === null) process.stderr.write(`${consumer} exited with ${code}: ${stderr}\n`);
  });
  return child;
}

async function produce(count: number, start: number): Promise<void> {
  await run("/usr/bin/python3", [PRODUCER, redis.url, STREAM, "bulk", ENROLLMENT, String(count), String(start), "100000"]);
}

/** Entries delivered to `consumer` (or to anyone) and not acknowledged; 0 before the group exists. */
async function pendingOf(consumer?: string): Promise<number> {
  const args = ["XPENDING", STREAM, "event_routing", "-", "+", "100000", ...(consumer ? [consumer] : [])];
  try {
    return ((await redisClient.sendCommand(args)) as unknown[]).length;
  } catch (e) {
    if (/NOGROUP/.test((e as Error).message)) return 0;
    throw e;
  }
}

async function stored(): Promise<number> {
  const info = await jsm.streams.info("CRASH_DELIVERY", { subjects_filter: SUBJECT });
  return info.state.subjects?.[SUBJECT] ?? 0;
}

/**
 * Entries per test: enough that the victim cannot finish between being seen with pending entries and the kill
 * landing (with 2,000, a faster ingest path sometimes acknowledged them all first, and the test saw none pending).
 */
const ENTRIES = 10_000;

/** Starts a victim and SIGKILLs it the moment it holds unacknowledged entries. */
async function killWithPending(consumer: string): Promise<{ pending: number; storedAtKill: number }> {
  const victim = startProcess(consumer, 3_600_000);
  await waitUntil(async () => (await pendingOf(consumer)) > 0, 30_000, `${consumer} reading`);
  const exited = new Promise((resolve) => victim.once("exit", resolve));
  victim.kill("SIGKILL");
  await exited;
  return { pending: await pendingOf(consumer), storedAtKill: await stored() };
}

before(async () => {
  [nats, redis] = await Promise.all([startNatsServer(), TestRedisServer.start()]);
  nc = await connectNats({ servers: nats.url });
  jsm = await jetstreamManager(nc);
  redisClient = await createRedisClient({ url: redis.url }).connect();
  // An instance without the Redis input, to create the router every instance routes to.
  const { EVENT_BUS_REDIS_CONNECTION_URL: _, ...noRedis } = env("admin", 1000);
  admin = await startService({ ...loadConfig(noRedis), natsUrl: nats.url }, pino({ level: "silent" }));
  await createClient(RouterAdminService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${admin.port}` })).createRouter(
    { router: { id: "crash-lrs", backend: Backend.XAPI, endpointUrl: "http://127.0.0.1:9/xapi", enabled: true } },
    { headers: { authorization: `Bearer ${TOKEN}` } },
  );
});

after(async () => {
  for (const c of children) c.kill("SIGKILL");
  await admin?.close();
  await redisClient?.close();
  await redis?.close();
  await nc?.close();
  await nats?.stop();
});

test("SIGKILL with entries pending: another instance of the group claims them; nothing lost, none stored twice", async () => {
  await produce(ENTRIES, 0);
  const { pending, storedAtKill } = await killWithPending("victim");
  assert.ok(pending > 0, "the killed instance left entries pending");
  assert.ok(storedAtKill < ENTRIES, "killed mid-stream");

  const survivor = await startService({ ...loadConfig(env("survivor", 1000)), natsUrl: nats.url }, pino({ level: "silent" }));
  try {
    await waitUntil(async () => (await stored()) >= ENTRIES && (await pendingOf()) === 0, 30_000, "every entry stored and acknowledged");
    assert.equal(await stored(), ENTRIES, "one statement per entry");
    assert.equal(await pendingOf("victim"), 0, "the victim's entries were claimed");
    assert.equal(survivor.ingest.eventBus!.stats.rejected, 0);
  } finally {
    await survivor.close();
  }
});

test("restarted under the same consumer name, an instance finishes its own pending entries (no claim needed)", async () => {
  const before = await stored();
  await produce(ENTRIES, ENTRIES);
  const { pending } = await killWithPending("victim");
  assert.ok(pending > 0, "the killed instance left entries pending");

  // Claim idle time of an hour: only re-reading its own pending list can finish these entries.
  const restarted = startProcess("victim", 3_600_000);
  await waitUntil(
    async () => (await stored()) >= before + ENTRIES && (await pendingOf()) === 0,
    30_000,
    "every entry stored and acknowledged",
  );
  assert.equal(await stored(), before + ENTRIES, "one statement per entry");
  const exited = new Promise<number | null>((resolve) => restarted.once("exit", (code) => resolve(code)));
  restarted.kill("SIGTERM");
  assert.equal(await exited, 0, "a graceful stop exits cleanly");
});
