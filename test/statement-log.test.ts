/**
 * Statement logs: the pure grouping (one line per statement with its routers), and the service writing a
 * size-rotated file for every statement it newly stores (not again for a duplicate); stdout in a child process
 * beside pino's lines.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { create } from "@bufbuild/protobuf";
import { Code, type ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { JsMsg } from "@nats-io/jetstream";
import { pino } from "pino";
import { Backend, EventInputSchema } from "../gen/eventrouting/v1/event_pb.js";
import { EventRoutingService } from "../gen/eventrouting/v1/event_routing_service_pb.js";
import { RouterAdminService } from "../gen/eventrouting/v1/router_admin_service_pb.js";
import { loadConfig } from "../src/config.js";
import { natsNames } from "../src/nats/names.js";
import { statementLogLines, type StoredStatement } from "../src/output/statement-log.js";
import { storedStatement } from "../src/output/statement-log-reader.js";
import { deliveryHeaders } from "../src/routing/delivery-message.js";
import { deliveryMessages } from "../src/routing/statement-routing.js";
import { startService, type RunningService } from "../src/service.js";
import type { EdxEvent } from "../src/transform/edx-event.js";
import { makeRouter } from "./support/delivery-harness.js";
import { freePort } from "./support/free-port.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";
import { emitAuth, startServiceUnderTest } from "./support/service-under-test.js";
import { corpusTemplates, corpusTimestamp, withTimestamp } from "./support/tracking-corpus.js";

const TOKEN = "statement-log-admin-token";
const auth = { headers: { authorization: `Bearer ${TOKEN}` } };
const names = natsNames("unit");
const event = { name: "edx.course.enrollment.activated" } as EdxEvent;
const routerA = makeRouter("a", "http://127.0.0.1:9/a");
const routerB = makeRouter("b", "http://127.0.0.1:9/b", { overrideArgs: { extra: 1 } });

/** The delivery messages as the delivery stream holds them, stored at `time`. */
function stored(messages: ReturnType<typeof deliveryMessages>, time: Date): StoredStatement[] {
  return messages.map((m) => ({ ...m, storedAt: time }));
}

test("one line per statement with every router it was stored for; backends apart; the body as stored", () => {
  const messages = [
    ...deliveryMessages(names, "xapi", event, [{ id: "s1" }, { id: "s2" }], [routerA, routerB]),
    ...deliveryMessages(names, "caliper", event, [{ id: "c1" }], [routerA]),
  ];
  const lines = statementLogLines(stored(messages, new Date("2026-01-01T00:00:00.000Z")));
  const xapi = lines.get("xapi")!.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(xapi.length, 2);
  assert.deepEqual(xapi[0], {
    time: "2026-01-01T00:00:00.000Z",
    backend: "xapi",
    event_name: "edx.course.enrollment.activated",
    statement_id: "s1",
    router_ids: ["a", "b"],
    statement: { id: "s1" },
  });
  assert.deepEqual(
    lines.get("caliper")!.map((l) => (JSON.parse(l) as { router_ids: string[] }).router_ids),
    [["a"]],
  );
  assert.ok(lines.get("xapi")!.every((l) => l.endsWith("}\n") && !l.slice(0, -1).includes("\n")));
});

test("only a first store by the emit path is a log line: hand-backs and RetryFailed copies are not", () => {
  const [m] = deliveryMessages(names, "xapi", event, [{ id: "s1" }], [routerA]);
  const msg = (msgId: string) => {
    const h = deliveryHeaders(m!);
    h.set("Nats-Msg-Id", msgId);
    return { headers: h, data: m!.body, info: { timestampNanos: 1_767_225_600_000_000_000 } } as unknown as JsMsg;
  };
  assert.equal(storedStatement(msg(m!.msgId), names)?.storedAt.toISOString(), "2026-01-01T00:00:00.000Z");
  assert.equal(storedStatement(msg(`${m!.msgId}:requeue:7`), names), undefined);
  assert.equal(storedStatement(msg(`${m!.msgId}:retry:3`), names), undefined);
});

type LogLine = { statement_id: string; router_ids: string[]; backend: string; statement: { id: string } };

/** The log file and its rotated copies that exist. */
function logFiles(file: string): string[] {
  return [file, ...Array.from({ length: 20 }, (_, i) => `${file}.${i + 1}`)].filter(existsSync);
}

function readLogLines(file: string): LogLine[] {
  return logFiles(file)
    .flatMap((f) =>
      readFileSync(f, "utf8")
        .split("\n")
        .filter((l) => l !== ""),
    )
    .map((l) => JSON.parse(l) as LogLine);
}

/**
 * Waits until the log holds at least `n` lines. The log is written by a reader of the delivery stream, after the
 * call that stored the statements answered, so there is no event of the service to await: the files are polled.
 */
async function waitForLines(file: string, n: number, timeoutMs = 30_000): Promise<LogLine[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = readLogLines(file);
    if (lines.length >= n || Date.now() > deadline) return lines;
    await new Promise((r) => setTimeout(r, 50));
  }
}

let nats: TestNatsServer;
let svc: RunningService | undefined;
let dir: string;
before(async () => {
  nats = await startNatsServer();
  dir = mkdtempSync(join(tmpdir(), "er-stmtlog-"));
});
after(async () => {
  await svc?.close();
  await nats.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("the service logs each newly stored statement once, to a file rotated by size", async () => {
  const file = join(dir, "xapi.log");
  const config = loadConfig({
    NATS_URL: nats.url,
    PORT: "0",
    EMIT_TOKENS: TOKEN,
    ADMIN_TOKENS: TOKEN,
    IDENTITY_HMAC_SECRET: "statement-log-hmac-secret",
    DELIVERY_ENABLED: "false",
    LOG_RPCS: "false",
    XAPI_STATEMENT_LOG: file,
    STATEMENT_LOG_MAX_BYTES: "20000",
    STATEMENT_LOG_MAX_FILES: "20",
  });
  svc = await startService({ ...config, natsUrl: nats.url }, pino({ level: "silent" }));
  const baseUrl = `http://127.0.0.1:${svc.port}`;
  const admin = createClient(RouterAdminService, createGrpcTransport({ baseUrl }));
  for (const id of ["lrs-1", "lrs-2"]) {
    await admin.createRouter({ router: { id, backend: Backend.XAPI, endpointUrl: "http://127.0.0.1:9/x", enabled: true } }, auth);
    while (svc.routers.get(id) === undefined) await new Promise((r) => setImmediate(r));
  }
  const templates = corpusTemplates();
  const events = templates.map((t, i) =>
    create(EventInputSchema, { event: { case: "json", value: JSON.stringify(withTimestamp(t, corpusTimestamp(9, i))) } }),
  );
  const emit = createClient(EventRoutingService, createGrpcTransport({ baseUrl }));
  const first = await emit.emitBatch({ events }, auth);
  const ids = first.results.flatMap((r) => r.backends.flatMap((b) => b.statementIds));
  assert.ok(ids.length > 20);
  await emit.emitBatch({ events }, auth); // the same events again: de-duplicated, not logged again
  await waitForLines(file, ids.length);
  await svc.close();
  svc = undefined;

  const files = logFiles(file);
  assert.ok(files.length >= 2, "rotated at least once");
  const lines = readLogLines(file);
  assert.deepEqual(lines.map((l) => l.statement_id).sort(), [...ids].sort(), "every stored statement once");
  for (const l of lines) {
    assert.deepEqual(l.router_ids.sort(), ["lrs-1", "lrs-2"]);
    assert.equal(l.backend, "xapi");
    assert.equal(l.statement.id, l.statement_id);
  }
});

test("stdout: statement lines beside pino's log lines, each whole and told apart by shape", async () => {
  const script = `
    import { pino } from "pino";
    import { StatementLog, statementLogLines } from "./src/output/statement-log.ts";
    import { deliveryMessages } from "./src/routing/statement-routing.ts";
    import { natsNames } from "./src/nats/names.ts";
    const log = pino();
    const sl = new StatementLog({ destinations: { xapi: "stdout" }, maxBytes: 1000, maxFiles: 1 });
    const router = { id: "r", backend: "xapi", enabled: true, overrideArgs: {} };
    for (let i = 0; i < 200; i++) {
      log.info({ i }, "working");
      const messages = deliveryMessages(natsNames("x"), "xapi", { name: "n" }, [{ id: "s" + i, pad: "x".repeat(5000) }], [router]);
      await sl.write("xapi", statementLogLines(messages.map((m) => ({ ...m, storedAt: new Date() }))).get("xapi"));
    }
    await sl.close();
  `;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--no-warnings", "--import", "tsx", "--input-type=module", "-e", script],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const lines = stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.filter((l) => "statement_id" in l && !("level" in l)).length, 200);
  assert.equal(lines.filter((l) => "level" in l && !("statement_id" in l)).length, 200);
});

/** The xAPI statement ids of an EmitBatch answer (the service under test has Caliper on too). */
function xapiIds(res: { results: Array<{ backends: Array<{ backend: Backend; statementIds: string[] }> }> }): string[] {
  return res.results.flatMap((r) => r.backends.filter((b) => b.backend === Backend.XAPI).flatMap((b) => b.statementIds));
}

/** Ten corpus events that each give xAPI statements. */
function tenEvents(run: number) {
  return corpusTemplates()
    .slice(0, 10)
    .map((t, i) => create(EventInputSchema, { event: { case: "json", value: JSON.stringify(withTimestamp(t, corpusTimestamp(run, i))) } }));
}

test("PubAcks later than the publish timeout (nats-server paused): the statements the retry finds stored are logged", async () => {
  const logDir = mkdtempSync(join(tmpdir(), "er-stmtlog-late-"));
  const file = join(logDir, "xapi.log");
  const sut = await startServiceUnderTest({ XAPI_STATEMENT_LOG: file, LOG_LEVEL: "warn" });
  try {
    await sut.createRouter({ id: "late", backend: Backend.XAPI, endpointUrl: "http://127.0.0.1:9/x", enabled: true });
    // The same learners and courses once before: their look-ups are cached, so the paused call gets as far as publishing.
    const warm = xapiIds(await sut.events.emitBatch({ events: tenEvents(10) }, emitAuth));
    const events = tenEvents(11);
    const pid = sut.nats.server.pid!;
    // Paused longer than the publish timeout (5 s): the publishes wait in the socket, the call gives up, and the
    // server stores them when it runs again; their PubAcks arrive after the caller was told Unavailable.
    process.kill(pid, "SIGSTOP");
    let resumed = false;
    const resume = () => {
      if (!resumed) process.kill(pid, "SIGCONT");
      resumed = true;
    };
    try {
      await assert.rejects(sut.events.emitBatch({ events }, emitAuth), (e: ConnectError) => e.code === Code.Unavailable);
      await new Promise((r) => setTimeout(r, 3000)); // 8 s paused in all, as in the measurement
    } finally {
      resume();
    }
    // The caller retries (as a careful client does, again while the server catches up): everything is already
    // stored, so every statement is a duplicate of the first call.
    let retry: Awaited<ReturnType<typeof sut.events.emitBatch>> | undefined;
    for (let attempt = 1; retry === undefined; attempt++) {
      retry = await sut.events.emitBatch({ events }, emitAuth).catch((e: ConnectError) => {
        if (e.code !== Code.Unavailable || attempt >= 5) throw e;
        return undefined;
      });
    }
    const ids = xapiIds(retry);
    assert.ok(ids.length >= 10, `statements: ${ids.length}`);
    const lines = await waitForLines(file, warm.length + ids.length, 60_000);
    const logged = new Set(lines.map((l) => l.statement_id));
    const missing = ids.filter((id) => !logged.has(id)).length;
    assert.equal(missing, 0, `stored by the paused call, none missing from the log (${lines.length} lines, ${logged.size} ids)`);
    assert.deepEqual(lines.map((l) => l.statement_id).sort(), [...warm, ...ids].sort(), "every stored statement logged, once");
  } finally {
    await sut.close();
    rmSync(logDir, { recursive: true, force: true });
  }
});

test("a statement log that cannot be written: logged at error (rate-limited), counted, nothing lost once it can", async () => {
  const logDir = mkdtempSync(join(tmpdir(), "er-stmtlog-fail-"));
  // A file where the log's directory should be: every open fails (ENOTDIR), as a full disk or a permission would.
  const blocked = join(logDir, "blocked");
  writeFileSync(blocked, "");
  const file = join(blocked, "xapi.log");
  const sut = await startServiceUnderTest({ XAPI_STATEMENT_LOG: file, METRICS_PORT: String(await freePort()), LOG_LEVEL: "warn" });
  try {
    await sut.createRouter({ id: "full", backend: Backend.XAPI, endpointUrl: "http://127.0.0.1:9/x", enabled: true });
    const result = await sut.events.emitBatch({ events: tenEvents(12) }, emitAuth);
    const ids = xapiIds(result);
    assert.ok(ids.length >= 10);
    const metric = async (name: string) => {
      const text = await (await fetch(sut.service.metricsUrl!)).text();
      const m = new RegExp(`^event_routing_${name}\\{backend="xapi"\\} (\\d+)$`, "m").exec(text);
      return m ? Number(m[1]) : 0;
    };
    // Retried with backoff (250 ms doubling): a few failures within two seconds.
    const deadline = Date.now() + 20_000;
    while ((await metric("statement_log_write_errors_total")) < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok((await metric("statement_log_write_errors_total")) >= 3, "failed writes counted");
    const errors = sut.logLines().filter((l) => l["level"] === 50 && String(l["msg"]).startsWith("cannot write the statement log"));
    assert.equal(errors.length, 1, "one error line for several failures (rate-limited)");
    assert.equal(errors[0]!["backend"], "xapi");
    assert.match(String(errors[0]!["err"]), /ENOTDIR|not a directory/i);

    // The operator frees the path: the retried batch is written, nothing lost, nothing twice.
    rmSync(blocked);
    const lines = await waitForLines(file, ids.length);
    assert.deepEqual(lines.map((l) => l.statement_id).sort(), [...ids].sort());
    assert.equal(await metric("statement_log_lines_total"), ids.length);
  } finally {
    await sut.close();
    rmSync(logDir, { recursive: true, force: true });
  }
});
