/**
 * Forgetting a learner (issue 24) through real services: two instances on one nats-server (one reading the Redis
 * event bus), routers whose endpoints are down while 1,000 statements of two learners wait, 50 more in the failed
 * stream. ForgetLearner (asked of the other instance) must: be live on both within a second, remove every one of
 * A's statements from both streams with the counts in the audit record, and let every one of B's be delivered once
 * the endpoints are back; A's later events are skipped with the reason on Emit, the event bus and replay.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { Backend, EventInputSchema, Outcome } from "../gen/eventrouting/v1/event_pb.js";
import { EventRoutingService } from "../gen/eventrouting/v1/event_routing_service_pb.js";
import { IngestAdminService, IngestInputKind } from "../gen/eventrouting/v1/ingest_admin_service_pb.js";
import { ForgetState, LearnerAdminService } from "../gen/eventrouting/v1/learner_admin_service_pb.js";
import { RouterAdminService } from "../gen/eventrouting/v1/router_admin_service_pb.js";
import { loadConfig } from "../src/config.js";
import { learnerHasher } from "../src/directory/learner-hash.js";
import { messageLearnerHashes } from "../src/erasure/learner-gate.js";
import { connectNats } from "../src/nats/connection.js";
import { startService, type RunningService } from "../src/service.js";
import { capturingLogger } from "./server-fixtures.js";
import { ERB_FIXTURES_DIR } from "./support/erb-fixtures.js";
import { FaultEndpoint, waitUntil } from "./support/http-endpoints.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";
import { TestRedisServer } from "./support/redis-server.js";
import { authed, ServiceProcess } from "./support/service-process.js";
import { cliArgs } from "./support/entrypoints.js";

const ADMIN = "forget-suite-admin-token-0123456789";
const EMIT = "forget-suite-emit-token-0123456789";
const SECRET = "forget-suite-hmac-secret-0123456789";
const auth = (t = ADMIN) => ({ headers: { authorization: `Bearer ${t}` } });
const ms = (n: number) => ({ seconds: BigInt(Math.floor(n / 1000)), nanos: (n % 1000) * 1_000_000 });
const PLAY = JSON.parse(readFileSync(join(ERB_FIXTURES_DIR, "raw", "play_video.json"), "utf8")) as Record<string, unknown>;
const PRODUCER = join(import.meta.dirname, "clients", "event_bus_producer.py");
const run = promisify(execFile);

const A = { userId: 101, username: "alice-forgotten" };
const B = { userId: 202, username: "bob-kept" };

let nats: TestNatsServer;
let redis: TestRedisServer;
let one: RunningService;
let two: RunningService;
let nc: NatsConnection;
let jsm: JetStreamManager;
let dir: string;
const logs = capturingLogger();

function instance(extra: Record<string, string>): Promise<RunningService> {
  const config = loadConfig({
    NATS_URL: nats.url,
    PORT: "0",
    ADMIN_TOKENS: ADMIN,
    ADMIN_TOKEN_NAMES: "privacy-officer",
    EMIT_TOKENS: EMIT,
    IDENTITY_HMAC_SECRET: SECRET,
    LOG_RPCS: "false",
    SHUTDOWN_GRACE_MS: "1000",
    ...extra,
  });
  return startService({ ...config, natsUrl: nats.url }, logs.logger);
}

const clientOf = <S extends Parameters<typeof createClient>[0]>(service: S, s: RunningService) =>
  createClient(service, createGrpcTransport({ baseUrl: `http://127.0.0.1:${s.port}` }));

/** A play_video (or `name`) event of a learner; `i` makes its statement id unique. */
function eventOf(who: { userId: number; username: string }, i: number, name = "play_video"): Record<string, unknown> {
  const ts = new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString().replace("Z", "+00:00");
  return { ...PLAY, name, timestamp: ts, context: { ...(PLAY["context"] as object), user_id: who.userId, username: who.username } };
}
const input = (e: Record<string, unknown>) => create(EventInputSchema, { event: { case: "json", value: JSON.stringify(e) } });

before(async () => {
  nats = await startNatsServer();
  redis = await TestRedisServer.start();
  one = await instance({ EVENT_BUS_REDIS_CONNECTION_URL: redis.url });
  two = await instance({});
  nc = await connectNats({ servers: nats.url });
  jsm = await jetstreamManager(nc);
  dir = mkdtempSync(join(tmpdir(), "er-forget-"));
});
after(async () => {
  await nc?.close();
  await one?.close();
  await two?.close();
  await redis?.stop();
  await nats?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Every message of a stream whose learner hash is one of `hashes`. */
async function heldFor(stream: string, hashes: ReadonlySet<string>): Promise<number> {
  const hasher = learnerHasher(SECRET);
  const { state } = await jsm.streams.info(stream);
  let n = 0;
  for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (m && messageLearnerHashes(m.header, m.data, hasher).some((h) => hashes.has(h))) n++;
  }
  return n;
}

describe("ForgetLearner through two real instances", () => {
  test("A's statements go nowhere and are gone from both streams; B's are all delivered; A stays forgotten", async () => {
    const e1 = await FaultEndpoint.start();
    const e2 = await FaultEndpoint.start();
    const e3 = await FaultEndpoint.start(() => ({ status: 400 }));
    await e1.close();
    await e2.close();
    const admin = clientOf(RouterAdminService, one);
    const router = (id: string, url: string, name: string, maxRetries: number) => ({
      id,
      backend: Backend.XAPI,
      endpointUrl: `${url}/xapi`,
      enabled: true,
      matchParams: [{ path: "name", patterns: [`^${name}$`] }],
      delivery: { batchSize: 50, batchInterval: ms(50), maxRetries, countdown: ms(1000), httpTimeout: ms(300) },
    });
    await admin.createRouter({ router: router("lrs-one", e1.url, "play_video", 100) }, auth());
    await admin.createRouter({ router: router("lrs-two", e2.url, "play_video", 100) }, auth());
    await admin.createRouter({ router: router("refusing", e3.url, "pause_video", 0) }, auth());
    await one.delivery!.settled();
    await two.delivery!.settled();

    // 500 events x 2 routers = 1,000 pending statements; 50 more exhaust at once into the failed stream.
    const events = clientOf(EventRoutingService, one);
    const played = Array.from({ length: 500 }, (_, i) => eventOf(i % 2 === 0 ? A : B, i));
    const res = await events.emitBatch({ events: played.map(input) }, auth(EMIT));
    assert.ok(res.results.every((r) => r.outcome === Outcome.PUBLISHED));
    const paused = Array.from({ length: 50 }, (_, i) => eventOf(i % 2 === 0 ? A : B, 1000 + i, "pause_video"));
    await events.emitBatch({ events: paused.map(input) }, auth(EMIT));
    await waitUntil(async () => (await events.listFailed({ pageSize: 100 }, auth())).failed.length === 50, 20_000, "50 failed");

    // Asked of the other instance, without waiting: the first instance skips A within a second.
    const learners = clientOf(LearnerAdminService, two);
    const asked = Date.now();
    const started = await learners.forgetLearner({ userId: String(A.userId), username: A.username, noWait: true }, auth());
    await waitUntil(
      async () => (await events.transform({ event: input(eventOf(A, 9999)) }, auth(EMIT))).result?.outcome === Outcome.SKIPPED,
      1000,
      "A skipped on the other instance",
    );
    assert.ok(Date.now() - asked <= 1000);
    const id = started.forget!.forgetId;
    let record = started.forget!;
    await waitUntil(
      async () => {
        record = (await learners.getForgetProgress({ forgetId: id }, auth())).forget!;
        return record.state === ForgetState.DONE;
      },
      60_000,
      "the forget done",
    );
    const counts = Object.fromEntries(record.routers.map((r) => [r.routerId, [Number(r.delivery), Number(r.failed)]]));
    assert.deepEqual(counts, { "lrs-one": [250, 0], "lrs-two": [250, 0], refusing: [25, 25] });
    assert.equal(record.requestedBy, "privacy-officer");
    assert.ok(record.outOfReach.some((s) => /already delivered/.test(s)));

    // Nothing of A is held any more, anywhere.
    const hashesOfA = new Set(
      ["user_id", "username"].map((k) => learnerHasher(SECRET).hash(k as "user_id", k === "user_id" ? String(A.userId) : A.username)),
    );
    assert.equal(await heldFor("EVENTROUTING_DELIVERY", hashesOfA), 0);
    assert.equal(await heldFor("EVENTROUTING_FAILED", hashesOfA), 0);
    assert.equal((await events.listFailed({ pageSize: 100 }, auth())).failed.length, 25);

    // Endpoints up: all of B's statements arrive, none of A's.
    await e1.reopen();
    await e2.reopen();
    await waitUntil(() => e1.stored.size >= 250 && e2.stored.size >= 250, 60_000, "B's statements delivered");
    for (const e of [e1, e2]) {
      const actors = new Set([...e.statements.values()].map((s) => JSON.stringify(s["actor"])));
      assert.equal(e.stored.size, 250);
      assert.equal(actors.size, 1, "one learner's statements only");
    }

    // Later events of A: Emit, the event bus and replay all skip them with the reason.
    const emitted = await events.emit({ event: input(eventOf(A, 20_000)) }, auth(EMIT));
    assert.equal(emitted.result!.outcome, Outcome.SKIPPED);
    assert.equal(emitted.result!.reason, "learner forgotten");
    const byName = await events.emit(
      { event: input({ ...eventOf(A, 20_001), context: { ...(PLAY["context"] as object), user_id: undefined, username: A.username } }) },
      auth(EMIT),
    );
    assert.equal(byName.result!.reason, "learner forgotten");

    const busDir = mkdtempSync(join(dir, "bus-"));
    for (let i = 0; i < 3; i++) writeFileSync(join(busDir, `a${i}.json`), JSON.stringify(eventOf(A, 30_000 + i)));
    const skippedBefore = await busSkipped();
    await run("/usr/bin/python3", [PRODUCER, redis.url, "analytics", "fixtures", busDir]);
    await waitUntil(async () => (await busSkipped()) - skippedBefore === 3, 20_000, "the event bus skipped A's events");

    const log = join(dir, "tracking.log");
    writeFileSync(log, `${[0, 1].map((i) => JSON.stringify(eventOf(A, 40_000 + i))).join("\n")}\n`);
    const replay = await cli(["replay", "--json", "--no-checkpoint", log]);
    assert.equal(replay.code, 0, replay.stderr);
    const summary = JSON.parse(replay.stdout.trim().split("\n").pop()!) as { skippedReasons: Record<string, number> };
    assert.deepEqual(summary.skippedReasons, { "learner forgotten": 2 });

    // The audit record: listed, with the counts, and nothing that names the learner.
    const listed = await learners.listForgottenLearners({}, auth());
    const audit = listed.forgets.find((f) => f.forgetId === id)!;
    assert.equal(audit.state, ForgetState.DONE);
    assert.equal(audit.routers.length, 3);
    const text = JSON.stringify(audit, (_k, v) => (typeof v === "bigint" ? Number(v) : v));
    assert.ok(!text.includes(A.username) && !text.includes(`"${A.userId}"`));
    await Promise.all([e1.close(), e2.close(), e3.close()]);
  });
});

describe("the learners CLI", () => {
  test("forget needs --yes; forget waits and prints the counts; forgotten lists the audit record", async () => {
    const env = { EVENT_ROUTING_URL: `http://127.0.0.1:${two.port}`, EVENT_ROUTING_TOKEN: ADMIN };
    const refused = await cli(["learners", "forget", "--user-id", "303"], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /--yes/);
    const done = await cli(["learners", "forget", "--user-id", "303", "--username", "carol", "--yes"], env);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /: done /);
    assert.match(done.stdout, /already delivered/);
    const listed = await cli(["learners", "forgotten", "--json"], env);
    assert.equal(listed.code, 0, listed.stderr);
    const records = JSON.parse(listed.stdout) as Array<{ requestedBy: string; state: string }>;
    assert.ok(records.length >= 1);
    assert.equal(records[0]!.requestedBy, "privacy-officer");
    assert.equal(records[0]!.state, "FORGET_STATE_DONE");
    assert.equal((await cli(["learners", "progress", "no-such-forget"], env)).code, 2);
  });
});

async function busSkipped(): Promise<number> {
  const res = await clientOf(IngestAdminService, one).getIngestStatus({}, auth());
  const bus = res.inputs.find((i) => i.kind === IngestInputKind.EVENT_BUS_REDIS)!;
  return Number(bus.outcomes.find((o) => o.outcome === Outcome.SKIPPED)?.count ?? 0n);
}

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...cliArgs(), ...args], {
    env: { ...process.env, EVENT_ROUTING_URL: `http://127.0.0.1:${one.port}`, EVENT_ROUTING_TOKEN: EMIT, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => (stdout += b));
  child.stderr.on("data", (b: Buffer) => (stderr += b));
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, stdout, stderr })));
}

describe("a forget interrupted by a crash", () => {
  test("SIGKILL in the middle of a large forget: the restarted service finishes it, counts exact", async () => {
    const natsOwn = await startNatsServer();
    const svc = await ServiceProcess.start(natsOwn.url, { DELIVERY_ENABLED: "false", FORGET_SCAN_RATE: "400" });
    const own = await connectNats({ servers: natsOwn.url });
    try {
      const { events, admin } = svc.clients();
      await admin.createRouter(
        { router: { id: "nowhere", backend: Backend.XAPI, endpointUrl: "http://127.0.0.1:9/xapi", enabled: true } },
        authed,
      );
      for (let part = 0; part < 2; part++) {
        const batch = Array.from({ length: 1000 }, (_, i) => eventOf(i % 2 === 0 ? A : B, part * 1000 + i));
        const r = await events.emitBatch({ events: batch.map(input) }, authed);
        assert.ok(r.results.every((x) => x.outcome === Outcome.PUBLISHED));
      }
      const learners = createClient(LearnerAdminService, createGrpcTransport({ baseUrl: svc.url }));
      const started = await learners.forgetLearner({ userId: String(A.userId), noWait: true }, authed);
      const id = started.forget!.forgetId;
      // The scan's progress record: kill once a part of the stream is read, well before the end.
      const kv = await new Kvm(own).open("eventrouting_forgotten");
      const watch = await kv.watch({ key: `f.${id}` });
      for await (const e of watch) {
        const r = e.json<{ phase: string; scanned: number }>();
        if (r.phase === "delivery" && r.scanned >= 300) break;
      }
      watch.stop();
      await svc.kill();
      const mid = (await kv.get(`f.${id}`))!.json<{ phase: string; scanned: number }>();
      assert.notEqual(mid.phase, "done", "killed before the scan ended");
      assert.ok(mid.scanned < 2000);

      await svc.restart();
      const again = createClient(LearnerAdminService, createGrpcTransport({ baseUrl: svc.url }));
      let record = (await again.getForgetProgress({ forgetId: id }, authed)).forget!;
      await waitUntil(
        async () => {
          record = (await again.getForgetProgress({ forgetId: id }, authed)).forget!;
          return record.state === ForgetState.DONE;
        },
        60_000,
        "the forget finished after the restart",
      );
      assert.deepEqual(
        record.routers.map((r) => [r.routerId, Number(r.delivery), Number(r.failed)]),
        [["nowhere", 1000, 0]],
      );
      assert.ok(svc.lines.some((l) => l.msg === "resuming a forget whose scan had stopped"));
      const jsmOwn = await jetstreamManager(own);
      const { state } = await jsmOwn.streams.info("EVENTROUTING_DELIVERY");
      assert.equal(state.messages, 1000, "B's 1,000 statements stay; none of A's");
    } finally {
      await own.close();
      await svc.stop();
      await natsOwn.stop();
    }
  });
});
