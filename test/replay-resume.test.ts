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
import { cliArgs } from "./support/entrypoints.js";

const EMIT_TOKEN = "resume-emit-token-0123456789abcdef";
const ADMIN_TOKEN = "resume-admin-token-0123456789abcdef";

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
  const child = spawn(process.execPath, [...cliArgs(), ...args], {
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

  test("--follow stopped before a rotation: the restart reads the rotated file's tail, then the new file", async () => {
    await createRouter("lrs-rotated");
    const sub = mkdtempSync(join(dir, "rotated-"));
    const log = join(sub, "tracking.log");
    const checkpoint = join(sub, "ckpt.json");
    writeFileSync(log, lines(10));
    const args = ["replay", "--json", "--follow", "--poll-ms", "50", "--checkpoint", checkpoint, "--router", "lrs-rotated", log];
    const first = startCli(args);
    await until("the first 10 lines", async () => (await storedFor("lrs-rotated")) === 10);
    first.child.kill("SIGINT");
    assert.equal((await first.done).code, 130);
    // While it was stopped: the LMS wrote 5 more lines, then the log was rotated and the new file got 3.
    appendFileSync(log, lines(5));
    renameSync(log, `${log}.1`);
    writeFileSync(log, lines(3));
    const second = startCli(args);
    await until("the rotated tail and the new file", async () => (await storedFor("lrs-rotated")) >= 18);
    second.child.kill("SIGINT");
    const r = await second.done;
    assert.equal(r.code, 130, r.stderr);
    assert.equal(await storedFor("lrs-rotated"), 18);
    assert.match(r.stderr, /tracking\.log\.1/, "the rotated file is named");
  });

  test("copytruncate, then regrowth past the saved offset: the file is read from its start, not mid-content", async () => {
    await createRouter("lrs-copytruncate");
    const sub = mkdtempSync(join(dir, "copytruncate-"));
    const log = join(sub, "tracking.log");
    const checkpoint = join(sub, "ckpt.json");
    writeFileSync(log, lines(10));
    const args = ["replay", "--json", "--checkpoint", checkpoint, "--router", "lrs-copytruncate", log];
    assert.equal((await cli(args)).code, 0);
    assert.equal(await storedFor("lrs-copytruncate"), 10);
    // logrotate's copytruncate: the content goes to a copy, the file (same inode) is emptied, then written again.
    writeFileSync(`${log}.1`, readFileSync(log));
    writeFileSync(log, "");
    appendFileSync(log, lines(25));
    const second = await cli(args);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(summaryOf(second).lines, 25, second.stderr);
    assert.deepEqual(summaryOf(second).outcomes, { published: 25 });
    assert.match(second.stderr, /content changed/);
    assert.equal(await storedFor("lrs-copytruncate"), 35);
  });

  test("two runs on one checkpoint: the second is refused before sending anything; a killed run's lock is taken over", async () => {
    await createRouter("lrs-shared");
    const sub = mkdtempSync(join(dir, "shared-"));
    const log = join(sub, "tracking.log");
    const checkpoint = join(sub, "ckpt.json");
    writeFileSync(log, lines(4));
    const args = ["replay", "--json", "--follow", "--poll-ms", "50", "--checkpoint", checkpoint, "--router", "lrs-shared", log];
    const first = startCli(args);
    await until("the first run's lines", async () => (await storedFor("lrs-shared")) === 4);
    const other = join(sub, "other.log");
    writeFileSync(other, lines(3));
    const refused = await cli(["replay", "--json", "--checkpoint", checkpoint, "--router", "lrs-shared", other]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /in use by another replay \(pid \d+/);
    assert.equal(await storedFor("lrs-shared"), 4, "the refused run sent nothing");

    first.child.kill("SIGKILL");
    await first.done;
    const taken = await cli(["replay", "--json", "--checkpoint", checkpoint, "--router", "lrs-shared", other]);
    assert.equal(taken.code, 0, taken.stderr);
    assert.equal(await storedFor("lrs-shared"), 7);
    const saved = JSON.parse(readFileSync(checkpoint, "utf8")) as { inputs: Record<string, unknown> };
    assert.deepEqual(Object.keys(saved.inputs).sort(), [other, log].sort(), "both runs' inputs kept");
    assert.deepEqual(
      readdirSync(sub).filter((f) => f.includes(".tmp") || f.endsWith(".lock")),
      [],
      "no temporary file or lock left behind",
    );
  });

  test("an unwritable checkpoint stops the run before anything is sent", async () => {
    await createRouter("lrs-unwritable");
    const sub = mkdtempSync(join(dir, "unwritable-"));
    const log = join(sub, "tracking.log");
    writeFileSync(log, lines(3));
    // A path below a regular file cannot be created, whoever runs the test (root ignores permission bits).
    writeFileSync(join(sub, "not-a-dir"), "");
    const r = await cli(["replay", "--json", "--checkpoint", join(sub, "not-a-dir", "ckpt.json"), "--router", "lrs-unwritable", log]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /checkpoint .*not-a-dir.*cannot be written/);
    assert.match(r.stderr, /--checkpoint|--no-checkpoint/);
    assert.equal(await storedFor("lrs-unwritable"), 0);
  });

  test("the default checkpoint: in the XDG state directory, one per inputs and router set, named in the summary", async () => {
    await createRouter("lrs-default");
    const sub = mkdtempSync(join(dir, "default-"));
    const log = join(sub, "tracking.log");
    writeFileSync(log, lines(4));
    const state = join(sub, "state");
    const args = ["replay", "--router", "lrs-default", log];
    // Run from the log's directory: nothing may be written to the working directory.
    const r = await cli(args, { XDG_STATE_HOME: state });
    assert.equal(r.code, 0, r.stderr);
    const written = readdirSync(join(state, "event-routing", "replay"));
    assert.equal(written.length, 1, String(written));
    assert.ok(r.stdout.includes(join(state, "event-routing", "replay", written[0]!)), r.stdout);
    assert.equal(existsSync(join(process.cwd(), "replay-checkpoint.json")), false);
    // The same command resumes from it (nothing new to read); other inputs get their own.
    const again = await cli([...args, "--json"], { XDG_STATE_HOME: state });
    assert.equal(summaryOf(again).lines, 0, again.stderr);
    const other = join(sub, "other.log");
    writeFileSync(other, lines(1));
    assert.equal((await cli(["replay", "--router", "lrs-default", other], { XDG_STATE_HOME: state })).code, 0);
    assert.equal(readdirSync(join(state, "event-routing", "replay")).length, 2);
    // Without XDG_STATE_HOME: below $HOME/.local/state; an unwritable one is refused before sending.
    const home = join(sub, "home");
    mkdirSync(home);
    assert.equal((await cli(args, { XDG_STATE_HOME: "", HOME: home })).code, 0);
    assert.equal(readdirSync(join(home, ".local", "state", "event-routing", "replay")).length, 1);
    writeFileSync(join(sub, "file-home"), "");
    const refused = await cli([...args.slice(0, -1), other], { XDG_STATE_HOME: "", HOME: join(sub, "file-home") });
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /XDG_STATE_HOME/);
    assert.equal(await storedFor("lrs-default"), 5);
  });
});
