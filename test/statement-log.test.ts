/**
 * Statement logs: the pure grouping (one line per statement with its routers), and the service writing a
 * size-rotated file for every statement it newly stores (not again for a duplicate); stdout in a child process
 * beside pino's lines.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { Backend, EventInputSchema } from "../gen/eventrouting/v1/event_pb.js";
import { EventRoutingService } from "../gen/eventrouting/v1/event_routing_service_pb.js";
import { RouterAdminService } from "../gen/eventrouting/v1/router_admin_service_pb.js";
import { loadConfig } from "../src/config.js";
import { natsNames } from "../src/nats/names.js";
import { statementLogLines } from "../src/output/statement-log.js";
import { deliveryMessages } from "../src/routing/statement-routing.js";
import { startService, type RunningService } from "../src/service.js";
import type { EdxEvent } from "../src/transform/edx-event.js";
import { makeRouter } from "./support/delivery-harness.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";
import { corpusTemplates, corpusTimestamp, withTimestamp } from "./support/tracking-corpus.js";

const TOKEN = "statement-log-admin-token";
const auth = { headers: { authorization: `Bearer ${TOKEN}` } };
const names = natsNames("unit");
const event = { name: "edx.course.enrollment.activated" } as EdxEvent;
const routerA = makeRouter("a", "http://127.0.0.1:9/a");
const routerB = makeRouter("b", "http://127.0.0.1:9/b", { overrideArgs: { extra: 1 } });

test("one line per statement with every router it was stored for; backends apart; the body as stored", () => {
  const messages = [
    ...deliveryMessages(names, "xapi", event, [{ id: "s1" }, { id: "s2" }], [routerA, routerB]),
    ...deliveryMessages(names, "caliper", event, [{ id: "c1" }], [routerA]),
  ];
  const lines = statementLogLines(messages, "2026-01-01T00:00:00.000Z");
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
  await svc.close();
  svc = undefined;

  const files = [file, ...Array.from({ length: 20 }, (_, i) => `${file}.${i + 1}`)].filter(existsSync);
  assert.ok(files.length >= 2, "rotated at least once");
  const lines = files
    .flatMap((f) =>
      readFileSync(f, "utf8")
        .split("\n")
        .filter((l) => l !== ""),
    )
    .map((l) => JSON.parse(l) as { statement_id: string; router_ids: string[]; backend: string; statement: { id: string } });
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
    import { StatementLog } from "./src/output/statement-log.ts";
    import { deliveryMessages } from "./src/routing/statement-routing.ts";
    import { natsNames } from "./src/nats/names.ts";
    const log = pino();
    const sl = new StatementLog({ destinations: { xapi: "stdout" }, maxBytes: 1000, maxFiles: 1 });
    const router = { id: "r", backend: "xapi", enabled: true, overrideArgs: {} };
    for (let i = 0; i < 200; i++) {
      log.info({ i }, "working");
      sl.record(deliveryMessages(natsNames("x"), "xapi", { name: "n" }, [{ id: "s" + i, pad: "x".repeat(5000) }], [router]));
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
