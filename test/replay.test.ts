/**
 * `replay` against a real service (real nats-server, startService, the CLI as a child process as users run it):
 * exact counts per outcome equal to a per-line Emit of the same lines, --router, --dry-run, --output, the
 * checkpoint after SIGINT and SIGKILL, and --follow through a rotation.
 *
 * The per-line reference: every corpus line is a template (an ERB fixture or a sample tracking.log line) with its
 * own timestamp, or that line cut in half. A second service instance on another NATS prefix, with the same
 * routers, gets one Emit per template (and one per malformed line); a line's outcome and statement count do not
 * depend on its timestamp, so the reference for the corpus is the templates' results times their occurrences.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { appendFileSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { Backend, EventInputSchema, Outcome } from "../gen/eventrouting/v1/event_pb.js";
import { EventRoutingService } from "../gen/eventrouting/v1/event_routing_service_pb.js";
import { RouterAdminService } from "../gen/eventrouting/v1/router_admin_service_pb.js";
import { loadConfig } from "../src/config.js";
import { startService, type RunningService } from "../src/service.js";
import { ERB_FIXTURES_DIR } from "./support/erb-fixtures.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";
import { LOG_PREFIX, corpusTimestamp, withTimestamp, writeCorpus, type Corpus } from "./support/tracking-corpus.js";
import { xapiValidationProblems } from "./support/xapi-validators.js";
import type { JsonObject } from "../src/transform/edx-event.js";

const EMIT_TOKEN = "replay-emit-token";
const ADMIN_TOKEN = "replay-admin-token";
const auth = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const SAMPLE_LOG = join(ERB_FIXTURES_DIR, "tracking.log");

let nats: TestNatsServer;
let svc: RunningService;
let ref: RunningService;
let jsm: JetStreamManager;
let dir: string;

async function instance(prefix: string): Promise<RunningService> {
  const config = loadConfig({
    NATS_URL: nats.url,
    NATS_PREFIX: prefix,
    PORT: "0",
    EMIT_TOKENS: EMIT_TOKEN,
    ADMIN_TOKENS: ADMIN_TOKEN,
    IDENTITY_HMAC_SECRET: "replay-test-hmac-secret",
    DELIVERY_ENABLED: "false",
    NATS_INGEST_ENABLED: "false",
    LOG_RPCS: "false",
    SHUTDOWN_GRACE_MS: "2000",
  });
  return startService({ ...config, natsUrl: nats.url }, pino({ level: "silent" }));
}

const url = (s: RunningService) => `http://127.0.0.1:${s.port}`;
const client = (s: RunningService) => createClient(EventRoutingService, createGrpcTransport({ baseUrl: url(s) }));

async function createRouter(s: RunningService, id: string): Promise<void> {
  const admin = createClient(RouterAdminService, createGrpcTransport({ baseUrl: url(s) }));
  await admin.createRouter({ router: { id, backend: Backend.XAPI, endpointUrl: "http://127.0.0.1:9/xapi", enabled: true } }, auth(ADMIN_TOKEN));
  // The router store applies the change from its KV watch; wait until this instance sees it.
  while (s.routers.get(id) === undefined) await new Promise((r) => setImmediate(r));
}

/** Messages stored on one router's delivery subject in the main instance (prefix "replay"). */
async function storedFor(routerId: string): Promise<number> {
  const info = await jsm.streams.info("REPLAY_DELIVERY", { subjects_filter: `replay.deliver.${routerId}` });
  return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
}

async function totalStored(): Promise<number> {
  return (await jsm.streams.info("REPLAY_DELIVERY")).state.messages;
}

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts the CLI; `done` settles when it exits. */
function startCli(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ["--no-warnings", "--import", "tsx", "src/cli/main.ts", ...args], {
    env: { ...process.env, EVENT_ROUTING_URL: url(svc), EVENT_ROUTING_TOKEN: EMIT_TOKEN, IDENTITY_HMAC_SECRET: "replay-test-hmac-secret", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => (stdout += b));
  child.stderr.on("data", (b: Buffer) => (stderr += b));
  const done = new Promise<CliRun>((resolve) => child.on("exit", (code) => resolve({ code, stdout, stderr })));
  return { child, done, stderr: () => stderr };
}

const cli = (args: string[], env?: Record<string, string>) => startCli(args, env).done;

interface Summary {
  lines: number;
  events: number;
  stored: number;
  statements: number;
  outcomes: Record<string, number>;
  byEvent: Record<string, Record<string, number>>;
  interrupted: boolean;
}
const summaryOf = (r: CliRun): Summary => JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Summary;

/** Per-line Emit on the reference instance: outcome name and messages stored (statements x routers). */
async function emitOne(text: string): Promise<{ outcome: string; stored: number }> {
  try {
    const res = await client(ref).emit({ event: create(EventInputSchema, { event: { case: "json", value: text } }) }, auth(EMIT_TOKEN));
    const r = res.result!;
    const stored = r.backends.reduce((n, b) => n + b.statementIds.length * b.routerIds.length, 0);
    return { outcome: Outcome[r.outcome]!.toLowerCase(), stored };
  } catch (e) {
    if (e instanceof ConnectError && e.code === Code.InvalidArgument) return { outcome: "invalid", stored: 0 };
    throw e;
  }
}

/** The reference counts for a corpus: one Emit per template, every malformed line emitted itself. */
async function referenceFor(corpus: Corpus, seed: number): Promise<{ outcomes: Record<string, number>; stored: number }> {
  const perTemplate = new Map<number, { outcome: string; stored: number }>();
  const outcomes: Record<string, number> = {};
  let stored = 0;
  let n = 0;
  for (const file of corpus.lines) {
    for (const line of file) {
      let r: { outcome: string; stored: number };
      if (line.malformed) {
        const text = JSON.stringify(withTimestamp(corpus.templates[line.template]!, corpusTimestamp(seed, n)));
        r = await emitOne(`${LOG_PREFIX}${text.slice(0, Math.floor(text.length / 2))}`);
      } else {
        if (!perTemplate.has(line.template)) perTemplate.set(line.template, await emitOne(JSON.stringify(corpus.templates[line.template])));
        r = perTemplate.get(line.template)!;
      }
      outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
      stored += r.stored;
      n++;
    }
  }
  return { outcomes, stored };
}

before(async () => {
  nats = await startNatsServer();
  [svc, ref] = await Promise.all([instance("replay"), instance("reference")]);
  jsm = await jetstreamManager(svc.nc);
  for (const s of [svc, ref]) for (const id of ["lrs-a", "lrs-b"]) await createRouter(s, id);
  dir = mkdtempSync(join(tmpdir(), "er-replay-"));
});
after(async () => {
  await Promise.all([svc?.close(), ref?.close()]);
  await nats?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("replay into a running service", () => {
  test("the sample tracking.log: counts by outcome equal a per-line Emit; invalid lines reported with file:line", async () => {
    const before = await totalStored();
    const r = await cli(["replay", "--json", "--no-checkpoint", SAMPLE_LOG]);
    assert.equal(r.code, 0, r.stderr);
    const s = summaryOf(r);
    const expected: Record<string, number> = {};
    let expectedStored = 0;
    for (const line of readFileSync(SAMPLE_LOG, "utf8").split("\n").filter((l) => l.trim() !== "")) {
      const one = await emitOne(line);
      expected[one.outcome] = (expected[one.outcome] ?? 0) + 1;
      expectedStored += one.stored;
    }
    assert.deepEqual(s.outcomes, expected);
    assert.equal(s.lines, 12);
    assert.equal(s.stored, expectedStored);
    assert.equal((await totalStored()) - before, expectedStored);
    assert.match(r.stderr, /tracking\.log:3: invalid JSON/);
    assert.match(r.stderr, /tracking\.log:11: invalid JSON/);
  });

  test("a generated corpus (6 files, 2 gzipped, prefixes, 1% malformed, 50k lines): exact counts, stored = per-line Emit", async () => {
    const sub = mkdtempSync(join(dir, "corpus-"));
    const per = 50_000 / 6;
    const corpus = writeCorpus({
      dir: sub,
      seed: 1,
      malformedEvery: 100,
      files: [
        { name: "tracking.log", lines: Math.ceil(per), prefix: true },
        { name: "tracking.log.1", lines: Math.floor(per) },
        { name: "tracking.log.2.gz", lines: Math.floor(per), gzip: true, prefix: true },
        { name: "old/tracking.log.3.gz", lines: Math.floor(per), gzip: true },
        { name: "old/tracking.log.4", lines: Math.floor(per), prefix: true },
        { name: "old/tracking.log.5", lines: 50_000 - Math.ceil(per) - 4 * Math.floor(per) },
      ],
    });
    assert.equal(corpus.totalLines, 50_000);
    const expected = await referenceFor(corpus, 1);
    const before = await totalStored();
    // A directory (recursive) and a glob together; the overlap is read once.
    const r = await cli(["replay", "--json", "--batch-size", "1000", "--in-flight", "4", "--checkpoint", join(dir, "corpus.ckpt"), sub, join(sub, "*.gz")]);
    assert.equal(r.code, 0, r.stderr.slice(0, 2000));
    const s = summaryOf(r);
    assert.equal(s.lines, 50_000);
    assert.deepEqual(s.outcomes, expected.outcomes);
    assert.equal(s.outcomes["invalid"], 500);
    assert.equal(s.stored, expected.stored);
    assert.equal((await totalStored()) - before, expected.stored, "every statement stored once, none lost");
    assert.equal(r.stderr.split("\n").filter((l) => /tracking\.log[.\d]*(\.gz)?:\d+: /.test(l)).length, 500, "each invalid line named with file:line");
  });
});
