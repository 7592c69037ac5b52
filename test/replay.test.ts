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
import { create, toJson } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { Backend, EventInputSchema, EventResultSchema, Outcome } from "../gen/eventrouting/v1/event_pb.js";
import { EventRoutingService } from "../gen/eventrouting/v1/event_routing_service_pb.js";
import { RouterAdminService } from "../gen/eventrouting/v1/router_admin_service_pb.js";
import { loadConfig } from "../src/config.js";
import { startService, type RunningService } from "../src/service.js";
import { ERB_FIXTURES_DIR } from "./support/erb-fixtures.js";
import { freePort } from "./support/free-port.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";
import { LOG_PREFIX, corpusTimestamp, withTimestamp, writeCorpus, type Corpus } from "./support/tracking-corpus.js";
import { xapiValidationProblems } from "./support/xapi-validators.js";
import type { JsonObject } from "../src/transform/edx-event.js";
import { cliArgs } from "./support/entrypoints.js";

const EMIT_TOKEN = "replay-emit-token-0123456789";
const ADMIN_TOKEN = "replay-admin-token-0123456789";
const auth = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const SAMPLE_LOG = join(ERB_FIXTURES_DIR, "tracking.log");

let nats: TestNatsServer;
let svc: RunningService;
let ref: RunningService;
let jsm: JetStreamManager;
let dir: string;

async function instance(prefix: string, extra: Record<string, string> = {}): Promise<RunningService> {
  const config = loadConfig({
    ...extra,
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
// One transport (one HTTP/2 connection) per service: a transport per call would open thousands of connections
// over the file and meet the server's MAX_CONNECTIONS.
const transports = new Map<RunningService, ReturnType<typeof createGrpcTransport>>();
function transportFor(s: RunningService) {
  let t = transports.get(s);
  if (!t) {
    t = createGrpcTransport({ baseUrl: url(s) });
    transports.set(s, t);
  }
  return t;
}
const client = (s: RunningService) => createClient(EventRoutingService, transportFor(s));

async function createRouter(s: RunningService, id: string): Promise<void> {
  const admin = createClient(RouterAdminService, transportFor(s));
  await admin.createRouter(
    { router: { id, backend: Backend.XAPI, endpointUrl: "http://127.0.0.1:9/xapi", enabled: true } },
    auth(ADMIN_TOKEN),
  );
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
  signal?: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts the CLI; `done` settles when it exits. */
function startCli(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [...cliArgs(), ...args], {
    env: {
      ...process.env,
      EVENT_ROUTING_URL: url(svc),
      EVENT_ROUTING_TOKEN: EMIT_TOKEN,
      IDENTITY_HMAC_SECRET: "replay-test-hmac-secret",
      ...env,
    },
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
  events: number;
  stored: number;
  statements: number;
  outcomes: Record<string, number>;
  byEvent: Record<string, Record<string, number>>;
  interrupted: boolean;
}
const summaryOf = (r: CliRun): Summary => JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Summary;

/** Per-line Emit on the reference instance: outcome name and messages stored (statements x routers). */
interface LineRef {
  outcome: string;
  stored: number;
  statements: number;
}
async function emitOne(text: string): Promise<LineRef> {
  try {
    const res = await client(ref).emit({ event: create(EventInputSchema, { event: { case: "json", value: text } }) }, auth(EMIT_TOKEN));
    const r = res.result!;
    const stored = r.backends.reduce((n, b) => n + b.statementIds.length * b.routerIds.length, 0);
    const statements = r.backends.reduce((n, b) => n + b.statementIds.length, 0);
    // The reference instance sees each template once per reference run, so a template emitted by an earlier test
    // is DUPLICATE here: for the corpus (fresh timestamps) that is the PUBLISHED it stands for.
    const outcome = r.outcome === Outcome.DUPLICATE ? "published" : Outcome[r.outcome]!.toLowerCase();
    return { outcome, stored, statements };
  } catch (e) {
    if (e instanceof ConnectError && e.code === Code.InvalidArgument) return { outcome: "invalid", stored: 0, statements: 0 };
    throw e;
  }
}

/** The reference counts for a corpus: one Emit per template, every malformed line emitted itself. */
async function referenceFor(
  corpus: Corpus,
  seed: number,
): Promise<{ outcomes: Record<string, number>; stored: number; statements: number }> {
  const perTemplate = new Map<number, LineRef>();
  const outcomes: Record<string, number> = {};
  let stored = 0;
  let statements = 0;
  let n = 0;
  for (const file of corpus.lines) {
    for (const line of file) {
      let r: LineRef;
      if (line.malformed) {
        const text = JSON.stringify(withTimestamp(corpus.templates[line.template]!, corpusTimestamp(seed, n)));
        r = await emitOne(`${LOG_PREFIX}${text.slice(0, Math.floor(text.length / 2))}`);
      } else {
        if (!perTemplate.has(line.template)) perTemplate.set(line.template, await emitOne(JSON.stringify(corpus.templates[line.template])));
        r = perTemplate.get(line.template)!;
      }
      outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
      stored += r.stored;
      statements += r.statements;
      n++;
    }
  }
  return { outcomes, stored, statements };
}

before(async () => {
  nats = await startNatsServer();
  // One after the other, so a failed start cannot leave the other instance running (and the file hanging).
  // The main instance counts its RPCs (GET /metrics): a dry run must use one TransformBatch per batch.
  svc = await instance("replay", { METRICS_PORT: String(await freePort()) });
  ref = await instance("reference");
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
    for (const line of readFileSync(SAMPLE_LOG, "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "")) {
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

  test("stdin: lines piped in are replayed like a file (no checkpoint)", async () => {
    const corpus = smallCorpus("stdin", 10, 90);
    const expected = await referenceFor(corpus, 10);
    const child = spawn(process.execPath, [...cliArgs(), "replay", "--json", "-"], {
      env: { ...process.env, EVENT_ROUTING_URL: url(svc), EVENT_ROUTING_TOKEN: EMIT_TOKEN },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b));
    // The plain files of the corpus, as `cat` would send them (the first one is gzipped: skipped here).
    child.stdin.end(Buffer.concat(corpus.paths.slice(1).map((p) => readFileSync(p))));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    assert.equal(code, 0);
    const s = JSON.parse(stdout.trim()) as Summary;
    assert.equal(s.lines, 60);
    assert.equal(
      s.outcomes["invalid"] ?? 0,
      corpus.lines
        .slice(1)
        .flat()
        .filter((l) => l.malformed).length,
    );
    assert.ok(s.stored > 0 && s.stored < expected.stored);
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
    const r = await cli([
      "replay",
      "--json",
      "--batch-size",
      "1000",
      "--in-flight",
      "4",
      "--checkpoint",
      join(dir, "corpus.ckpt"),
      sub,
      join(sub, "*.gz"),
    ]);
    assert.equal(r.code, 0, r.stderr.slice(0, 2000));
    const s = summaryOf(r);
    assert.equal(s.lines, 50_000);
    assert.deepEqual(s.outcomes, expected.outcomes);
    assert.equal(s.outcomes["invalid"], 500);
    assert.equal(s.stored, expected.stored);
    assert.equal((await totalStored()) - before, expected.stored, "every statement stored once, none lost");
    assert.equal(
      r.stderr.split("\n").filter((l) => /tracking\.log[.\d]*(\.gz)?:\d+: /.test(l)).length,
      500,
      "each invalid line named with file:line",
    );
  });
});

/** Waits until `check` holds (a generous guard, not a timing assertion). */
async function until(what: string, check: () => Promise<boolean>, guardMs = 60_000): Promise<void> {
  const deadline = Date.now() + guardMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const smallCorpus = (name: string, seed: number, lines = 6000) =>
  writeCorpus({
    dir: mkdtempSync(join(dir, `${name}-`)),
    seed,
    malformedEvery: 100,
    files: [
      { name: "tracking.log.1.gz", lines: lines / 3, gzip: true, prefix: true },
      { name: "tracking.log.1", lines: lines / 3 },
      { name: "tracking.log", lines: lines / 3, prefix: true },
    ],
  });

describe("replay options", () => {
  test("EmitBatch router_ids: admin only (PermissionDenied for an emit token), unknown ids refused naming the field", async () => {
    const events = [create(EventInputSchema, { event: { case: "json", value: readFileSync(SAMPLE_LOG, "utf8").split("\n")[0]! } })];
    await assert.rejects(
      client(svc).emitBatch({ events, routerIds: ["lrs-a"] }, auth(EMIT_TOKEN)),
      (e: ConnectError) => e.code === Code.PermissionDenied,
    );
    await assert.rejects(
      client(svc).emitBatch({ events, routerIds: ["lrs-a", "nope"] }, auth(ADMIN_TOKEN)),
      (e: ConnectError) => e.code === Code.InvalidArgument && /router_ids\[1\]: no router with id "nope"/.test(e.rawMessage),
    );
    // Without router_ids an emit token works as before.
    assert.equal((await client(svc).emitBatch({ events }, auth(EMIT_TOKEN))).results.length, 1);
  });

  test("--router stores only for the named router; the CLI reports a refused token or an unknown router and stops", async () => {
    const corpus = smallCorpus("router", 2, 300);
    const expected = await referenceFor(corpus, 2);
    const [a0, b0] = [await storedFor("lrs-a"), await storedFor("lrs-b")];
    const r = await cli(["replay", "--json", "--no-checkpoint", "--router", "lrs-b", ...corpus.paths], {
      EVENT_ROUTING_TOKEN: ADMIN_TOKEN,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(summaryOf(r).stored, expected.statements);
    assert.equal((await storedFor("lrs-b")) - b0, expected.statements);
    assert.equal(await storedFor("lrs-a"), a0, "the other router got nothing");

    const refused = await cli(["replay", "--no-checkpoint", "--router", "lrs-b", corpus.paths[1]!]);
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /stopped by an error: .*router_ids needs an admin token/);
    const unknown = await cli(["replay", "--no-checkpoint", "--router", "no-such-lrs", corpus.paths[1]!], {
      EVENT_ROUTING_TOKEN: ADMIN_TOKEN,
    });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stdout, /router_ids\[0\]: no router with id "no-such-lrs"/);
  });

  test("--dry-run stores nothing and counts like a real run; --output writes valid statements as NDJSON", async () => {
    const corpus = smallCorpus("dry", 3, 600);
    const expected = await referenceFor(corpus, 3);
    const before = await totalStored();
    const dry = await cli(["replay", "--json", "--dry-run", ...corpus.paths]);
    assert.equal(dry.code, 0, dry.stderr);
    // Nothing stored, so nothing "published": the same counts, the events transformed.
    const { published, ...others } = expected.outcomes;
    assert.deepEqual(summaryOf(dry).outcomes, { ...others, transformed: published });
    assert.equal(summaryOf(dry).stored, 0);
    assert.equal(summaryOf(dry).statements, expected.statements);

    const out = join(dir, "statements.ndjson");
    const written = await cli(["replay", "--json", "--output", out, ...corpus.paths]);
    assert.equal(written.code, 0, written.stderr);
    assert.equal(await totalStored(), before, "neither run stored anything");
    const lines = readFileSync(out, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { input: string; backend: string; router_ids: string[]; statement: JsonObject });
    assert.equal(lines.length, expected.statements);
    for (const l of lines) {
      assert.equal(l.backend, "xapi");
      assert.match(l.input, /tracking\.log(\.1)?(\.gz)?:\d+$/);
      assert.deepEqual(l.router_ids.sort(), ["lrs-a", "lrs-b"]);
      assert.deepEqual(xapiValidationProblems(l.statement), [], JSON.stringify(l.statement));
    }
    assert.equal(new Set(lines.map((l) => l.statement["id"])).size, lines.length);
  });

  test("--dry-run makes one TransformBatch call per batch (no Transform per event), with the results of per-event Transform", async () => {
    const corpus = smallCorpus("dry-batch", 8, 600);
    const lineTexts = corpus.paths.slice(1).flatMap((p) =>
      readFileSync(p, "utf8")
        .split("\n")
        .filter((l) => l !== ""),
    );
    const rpcs = async () => {
      const text = await (await fetch(svc.metricsUrl!)).text();
      const count = (method: string) => {
        const series = `event_routing_rpc_requests_total{procedure="eventrouting.v1.EventRoutingService/${method}",code="ok"}`;
        const line = text.split("\n").find((l) => l.startsWith(`${series} `));
        return line === undefined ? 0 : Number(line.slice(series.length + 1));
      };
      return { batch: count("TransformBatch"), single: count("Transform") };
    };
    const before = await rpcs();
    const dry = await cli(["replay", "--json", "--dry-run", "--batch-size", "100", ...corpus.paths.slice(1)]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(summaryOf(dry).lines, 400);
    const after = await rpcs();
    const batches = after.batch - before.batch;
    // 4 full batches, maybe a few more if a stall under load made the idle flush send a partial one.
    assert.ok(batches >= 4 && batches <= 10, `${batches} TransformBatch calls for 400 lines in batches of 100`);
    assert.equal(after.single - before.single, 0, "no Transform per event");

    // The batch answers what Transform answers for each event (an invalid one: INVALID, with the same reason).
    const inputs = lineTexts.slice(0, 150).map((text) => create(EventInputSchema, { event: { case: "json", value: text } }));
    const batch = await client(svc).transformBatch({ events: inputs }, auth(EMIT_TOKEN));
    assert.equal(batch.results.length, inputs.length);
    let invalid = 0;
    for (const [i, input] of inputs.entries()) {
      const got = batch.results[i]!;
      assert.equal(got.result!.index, i);
      try {
        const one = await client(svc).transform({ event: input }, auth(EMIT_TOKEN));
        assert.deepEqual({ ...got, result: { ...got.result!, index: 0 } }, one, `line ${i}: TransformBatch and Transform disagree`);
      } catch (e) {
        if (!(e instanceof ConnectError && e.code === Code.InvalidArgument)) throw e;
        invalid++;
        assert.equal(got.result!.outcome, Outcome.INVALID);
        assert.equal(got.result!.reason.replace(/^events\[\d+\]/, "event"), e.rawMessage);
        assert.deepEqual(got.outputs, []);
      }
    }
    assert.ok(invalid > 0, "the sample holds malformed lines");
    // What --output asks for: the same statements as JSON text.
    const asJson = await client(svc).transformBatch({ events: inputs, statementsAsJson: true }, auth(EMIT_TOKEN));
    for (const [i, r] of asJson.results.entries()) {
      assert.deepEqual(
        r.outputs.map((o) => [o.statements.length, o.statementsJson.map((t) => JSON.parse(t) as unknown)]),
        batch.results[i]!.outputs.map((o) => [0, o.statements]),
      );
    }
    // What --dry-run asks for (it only counts): the same results, without the statements themselves.
    const counted = await client(svc).transformBatch({ events: inputs, omitStatements: true }, auth(EMIT_TOKEN));
    for (const [i, r] of counted.results.entries()) {
      assert.deepEqual(toJson(EventResultSchema, r.result!), toJson(EventResultSchema, batch.results[i]!.result!));
      assert.deepEqual(
        r.outputs.map((o) => [o.backend, o.routerIds, o.statements.length]),
        batch.results[i]!.outputs.map((o) => [o.backend, o.routerIds, 0]),
      );
    }
    await assert.rejects(
      client(svc).transformBatch({ events: inputs }),
      (e: ConnectError) => e.code === Code.Unauthenticated,
      "an emit token is needed, as for Transform",
    );
  });

  test("a truncated line is invalid JSON in the same words in every mode; a run that stores nothing never says published", async () => {
    const sub = mkdtempSync(join(dir, "messages-"));
    const log = join(sub, "tracking.log");
    const full = JSON.stringify(
      withTimestamp(
        JSON.parse(readFileSync(join(ERB_FIXTURES_DIR, "raw", "edx.course.enrollment.activated.json"), "utf8")) as Record<string, unknown>,
        corpusTimestamp(9, 0),
      ),
    );
    const cuts = [
      full,
      full.slice(0, full.indexOf("}") - 5), // cut before any closing brace
      full.slice(0, Math.floor(full.length / 2)), // cut after a nested object closed
      `${LOG_PREFIX}${full.slice(0, 40)}`,
    ];
    writeFileSync(log, `${cuts.join("\n")}\n`);
    const reasons = (r: CliRun) =>
      r.stderr
        .split("\n")
        .map((l) => /tracking\.log:(\d+): (.*)$/.exec(l))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => `${m[1]}: ${m[2]}`);
    const runs = {
      emit: await cli(["replay", "--no-checkpoint", log]),
      dry: await cli(["replay", "--dry-run", log]),
      output: await cli(["replay", "--output", join(sub, "out.ndjson"), log]),
      offline: await cli(["replay", "--offline", "--output", join(sub, "offline.ndjson"), log]),
    };
    for (const [mode, r] of Object.entries(runs)) {
      assert.equal(r.code, 0, `${mode}: ${r.stderr}`);
      const got = reasons(r);
      assert.deepEqual(
        got.map((g) => g.split(":")[0]),
        ["2", "3", "4"],
        `${mode}: ${r.stderr}`,
      );
      for (const g of got) assert.match(g, /^\d: invalid JSON/, `${mode}: ${g}`);
      assert.deepEqual(got, reasons(runs.emit), `${mode} reports the lines in the words of a real replay`);
      if (mode === "emit") assert.match(r.stdout, /by outcome: .*published 1/);
      else {
        assert.doesNotMatch(r.stdout, /published/, `${mode} stored nothing: ${r.stdout}`);
        assert.match(r.stdout, /by outcome: .*transformed 1/);
      }
    }
  });

  for (const signal of ["SIGINT", "SIGKILL"] as const) {
    test(`interrupted by ${signal} at about half, re-run: every statement stored exactly once, the second run reads only the rest`, async () => {
      const routerId = `lrs-${signal.toLowerCase()}`;
      await createRouter(svc, routerId);
      const corpus = smallCorpus(signal, signal === "SIGINT" ? 4 : 5);
      const expected = await referenceFor(corpus, signal === "SIGINT" ? 4 : 5);
      const checkpoint = join(dir, `${signal}.ckpt`);
      const args = [
        "replay",
        "--json",
        "--batch-size",
        "100",
        "--in-flight",
        "2",
        "--rate",
        "1500",
        "--checkpoint",
        checkpoint,
        "--router",
        routerId,
        ...corpus.paths,
      ];
      const env = { EVENT_ROUTING_TOKEN: ADMIN_TOKEN };
      const first = startCli(args, env);
      await until("half the statements", async () => (await storedFor(routerId)) >= expected.statements / 2);
      first.child.kill(signal);
      const r1 = await first.done;
      const saved = JSON.parse(readFileSync(checkpoint, "utf8")) as { inputs: Record<string, { lines: number; offset: number }> };
      const linesDone = Object.values(saved.inputs).reduce((n, e) => n + e.lines, 0);
      assert.ok(linesDone > 0 && linesDone < corpus.totalLines, `checkpoint at ${linesDone} lines`);
      if (signal === "SIGINT") {
        assert.equal(r1.code, 130, r1.stderr);
        assert.equal(summaryOf(r1).interrupted, true);
        assert.equal(summaryOf(r1).lines, linesDone, "the checkpoint holds exactly what was committed");
      } else assert.equal(r1.signal ?? "SIGKILL", "SIGKILL");

      const r2 = await cli(args, env);
      assert.equal(r2.code, 0, r2.stderr);
      assert.equal(summaryOf(r2).lines, corpus.totalLines - linesDone, "the second run reads only the rest");
      assert.match(r2.stderr, /resumed at/);
      assert.equal(await storedFor(routerId), expected.statements, "every statement stored, exactly once");
    });
  }

  test("--follow picks up appended lines and survives a rotation (and a truncation), with the checkpoint", async () => {
    await createRouter(svc, "lrs-follow");
    const template = JSON.parse(readFileSync(join(ERB_FIXTURES_DIR, "raw", "edx.course.enrollment.activated.json"), "utf8")) as Record<
      string,
      unknown
    >;
    let n = 0;
    // One xAPI statement per line: stored count = lines.
    const lines = (count: number) =>
      Array.from({ length: count }, () => `${LOG_PREFIX}${JSON.stringify(withTimestamp(template, corpusTimestamp(6, n++)))}\n`).join("");
    const sub = mkdtempSync(join(dir, "follow-"));
    const log = join(sub, "tracking.log");
    writeFileSync(log, lines(50));
    const checkpoint = join(sub, "ckpt.json");
    const run = startCli(["replay", "--json", "--follow", "--poll-ms", "50", "--checkpoint", checkpoint, "--router", "lrs-follow", log], {
      EVENT_ROUTING_TOKEN: ADMIN_TOKEN,
    });
    const stored = () => storedFor("lrs-follow");
    await until("the first 50 lines", async () => (await stored()) === 50);
    appendFileSync(log, lines(30));
    await until("30 appended lines", async () => (await stored()) === 80);
    renameSync(log, `${log}.1`);
    appendFileSync(`${log}.1`, lines(5)); // the LMS writes a last few lines to the old file before reopening
    writeFileSync(log, lines(20));
    await until("the rotated file's last lines and the new file", async () => (await stored()) === 105);
    writeFileSync(log, lines(3)); // truncated in place, then written again
    await until("the lines after the truncation", async () => (await stored()) === 108);
    run.child.kill("SIGINT");
    const r = await run.done;
    assert.equal(r.code, 130, r.stderr);
    const saved = JSON.parse(readFileSync(checkpoint, "utf8")) as { inputs: Record<string, { ino: number; lines: number }> };
    assert.equal(saved.inputs[log]!.ino, statSync(log).ino, "the checkpoint follows the new file");
    assert.equal(saved.inputs[log]!.lines, 3);
  });
});
