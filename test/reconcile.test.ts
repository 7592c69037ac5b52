/**
 * Reconcile against a REAL LRS (xapi-statements, in memory) behind a real HTTP proxy that loses statements: the
 * proxy answers 200 to every statement POST but forwards only the statements it does not drop, the silent loss
 * operators measured in real pipelines. 100 statements are delivered by the real service; the proxy drops 7 chosen
 * ids; ReconcileRouter finds exactly those 7, the CLI's --resend stores them again, the LRS then holds all 100,
 * and a last reconcile finds nothing missing (and the metric says 0). Caliper routers are refused with the reason;
 * an LRS whose /about lists only 1.0.0 gets a warning at router creation and in TestRouter.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Backend } from "../gen/eventrouting/v1/event_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ReconcileReport, ReconcileRouterRequestSchema } from "../gen/eventrouting/v1/router_admin_service_pb.js";
import { connectNats } from "../src/nats/connection.js";
import { natsNames } from "../src/nats/names.js";
import { fakeStatement, publishStatements } from "./support/delivery-harness.js";
import { freePort } from "./support/free-port.js";
import { waitUntil } from "./support/http-endpoints.js";
import { lrsInstalled, startLrs, type TestLrs } from "./support/lrs.js";
import { ADMIN_TOKEN, adminAuth, startServiceUnderTest, type ServiceUnderTest } from "./support/service-under-test.js";
import { runCli } from "./support/entrypoints.js";

const skip = lrsInstalled() ? false : "run: npm ci --prefix test/lrs --ignore-scripts";
const names = natsNames("eventrouting");

/** Forwards everything to the LRS, but takes the `drop` ids out of statement POSTs (once each) and answers 200. */
class DroppingProxy {
  readonly dropped: string[] = [];
  private readonly server: Server;
  url = "";

  constructor(
    private readonly target: string,
    private readonly drop: Set<string>,
  ) {
    this.server = createServer((req, res) => void this.handle(req, res).catch((e) => res.writeHead(502).end(String(e))));
  }

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers))
      if (typeof v === "string" && !["host", "connection", "content-length"].includes(k)) headers[k] = v;
    let body: string | undefined = chunks.length > 0 ? Buffer.concat(chunks).toString("utf8") : undefined;
    if (req.method === "POST" && req.url?.startsWith("/xAPI/statements") && body) {
      const statements = JSON.parse(body) as { id: string }[];
      const kept = statements.filter((s) => {
        if (!this.drop.delete(s.id)) return true;
        this.dropped.push(s.id);
        return false;
      });
      if (kept.length === 0) {
        res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(statements.map((s) => s.id)));
        return;
      }
      body = JSON.stringify(kept);
      const up = await fetch(`${this.target}${req.url}`, { method: "POST", headers, body });
      await up.text();
      // The sender is told every statement was stored: the loss is silent.
      res.writeHead(up.status, { "Content-Type": "application/json" }).end(JSON.stringify(statements.map((s) => s.id)));
      return;
    }
    const up = await fetch(`${this.target}${req.url}`, { method: req.method ?? "GET", headers, ...(body ? { body } : {}) });
    res.writeHead(up.status, { "Content-Type": up.headers.get("content-type") ?? "application/json" }).end(await up.text());
  }
}

let sut: ServiceUnderTest;
let lrs: TestLrs;
let proxy: DroppingProxy;
let nc: NatsConnection;
let about: Server;

before(async () => {
  sut = await startServiceUnderTest({
    DELIVERY_ENABLED: "true",
    DELIVERY_BATCH_INTERVAL_MS: "50",
    DELIVERY_MAX_AGE_HOURS: "1",
    DELIVERY_DUPLICATE_WINDOW_HOURS: "1",
    METRICS_PORT: String(await freePort()),
    LOG_LEVEL: "info",
  });
  nc = await connectNats({ servers: sut.nats.url });
  if (lrsInstalled()) lrs = await startLrs();
});

after(async () => {
  await nc?.close();
  await sut?.close();
  await proxy?.close();
  await lrs?.stop();
  about?.closeAllConnections();
  await new Promise<void>((r) => (about ? about.close(() => r()) : r()));
});

type Request = MessageInitShape<typeof ReconcileRouterRequestSchema>;

/** The whole stream of one call: the progress messages and the final report. */
async function reconcile(req: Request): Promise<{ report: ReconcileReport; progress: number }> {
  let report: ReconcileReport | undefined;
  let progress = 0;
  for await (const res of sut.admin.reconcileRouter(req, adminAuth)) {
    if (res.update.case === "progress") progress++;
    if (res.update.case === "report") report = res.update.value;
  }
  assert.ok(report, "a report ends the stream");
  return { report, progress };
}

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCli(args, { ...process.env, EVENT_ROUTING_URL: sut.baseUrl, EVENT_ROUTING_TOKEN: ADMIN_TOKEN });
}

async function deliveredAll(routerId: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await waitUntil(
    async () => {
      const ci = await jsm.consumers.info(names.deliveryStream, names.deliveryConsumer(routerId));
      return ci.num_pending === 0 && ci.num_ack_pending === 0;
    },
    30_000,
    "every statement delivered",
  );
}

test("reconcile finds exactly the 7 statements the LRS lost of 100, --resend delivers them, a second run finds none", {
  skip,
}, async () => {
  const statements = Array.from({ length: 100 }, () => fakeStatement());
  const ids = statements.map((s) => String(s["id"]));
  const lost = [3, 11, 12, 40, 41, 77, 99].map((i) => ids[i]!);
  proxy = new DroppingProxy(lrs.xapiUrl.replace(/\/xAPI$/, ""), new Set(lost));
  await proxy.listen();
  const since = new Date(Date.now() - 2 * 3600_000);
  await sut.createRouter({
    id: "lossy",
    backend: Backend.XAPI,
    endpointUrl: `${proxy.url}/xAPI`,
    enabled: true,
    auth: { kind: { case: "basic", value: { username: "test", password: "test-password-for-reconcile" } } },
    delivery: { batchSize: 20 },
  });
  await sut.service.delivery?.settled();
  await publishStatements(jetstream(nc), names, "lossy", statements);
  await deliveredAll("lossy");
  assert.deepEqual(new Set(proxy.dropped), new Set(lost), "the proxy dropped the 7 chosen statements");
  assert.equal((await lrs.allStatements()).length, 93);

  // 1. Over the API: exactly the 7, and the window is clipped to what the stream holds (max age 1 h, since 2 h ago).
  const first = await reconcile({ id: "lossy", since: timestampFromDate(since), concurrency: 8 });
  const r1 = first.report;
  assert.deepEqual([r1.checked, r1.found, r1.missing, r1.pending, r1.unknown, r1.resent], [100n, 93n, 7n, 0n, 0n, 0n]);
  assert.deepEqual(new Set(r1.missingIds), new Set(lost));
  assert.equal(r1.windowClipped, true);
  assert.match(r1.clipReason, /DELIVERY_MAX_AGE_HOURS \(1 h\)/);

  // 2. The CLI with --resend: the same 7, stored again for delivery under the same statement ids.
  const resent = await cli(["reconcile", "--router", "lossy", "--since", "2h", "--resend", "--json"]);
  assert.equal(resent.code, 0, resent.stderr);
  const r2 = JSON.parse(resent.stdout) as { missing: string; resent: string; missingIds: string[] };
  assert.equal(r2.missing, "7");
  assert.equal(r2.resent, "7");
  assert.deepEqual(new Set(r2.missingIds), new Set(lost));
  await deliveredAll("lossy");
  for (const id of lost) assert.equal((await lrs.getStatement(id))?.["id"], id, `resent ${id} is in the LRS`);
  assert.equal((await lrs.allStatements()).length, 100, "each statement stored once");

  // 3. Nothing missing any more; the resent copies do not count twice.
  const third = await cli(["reconcile", "--router", "lossy", "--since", since.toISOString()]);
  assert.equal(third.code, 0, third.stderr);
  assert.match(third.stdout, /checked 100: found 100, missing 0, pending 0, unknown 0/);
  const metrics = await (await fetch(sut.service.metricsUrl!)).text();
  assert.match(metrics, /event_routing_reconcile_missing_statements\{router="lossy"\} 0/);
  assert.match(metrics, /event_routing_reconcile_found_statements\{router="lossy"\} 100/);
});

test("a run with missing statements and no --resend exits 5 and names them; the report is logged", { skip }, async () => {
  const statements = Array.from({ length: 5 }, () => fakeStatement());
  const gone = String(statements[2]!["id"]);
  const lossy = new DroppingProxy(lrs.xapiUrl.replace(/\/xAPI$/, ""), new Set([gone]));
  await lossy.listen();
  try {
    await sut.createRouter({
      id: "lossy-cli",
      backend: Backend.XAPI,
      endpointUrl: `${lossy.url}/xAPI`,
      enabled: true,
      auth: { kind: { case: "basic", value: { username: "test", password: "test-password-for-reconcile" } } },
    });
    await sut.service.delivery?.settled();
    await publishStatements(jetstream(nc), names, "lossy-cli", statements);
    await deliveredAll("lossy-cli");
    const r = await cli(["reconcile", "--router", "lossy-cli", "--since", "10m", "--no-progress"]);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stdout, /found 4, missing 1/);
    assert.match(r.stdout, new RegExp(`missing:\\n  ${gone}`));
    assert.match(r.stdout, /resend them with --resend/);
    const line = sut.logLines().find((l) => l["msg"] === "router reconciled: the LRS lacks statements" && l["routerId"] === "lossy-cli");
    assert.equal(line?.["missing"], 1);
    assert.ok(!JSON.stringify(sut.logLines()).includes("test-password-for-reconcile"), "the router's password is never logged");
  } finally {
    await lossy.close();
  }
});

test("a Caliper router is refused with the reason; a bad window names the field", async () => {
  await sut.createRouter({ id: "cal", backend: Backend.CALIPER, endpointUrl: "http://127.0.0.1:9/caliper", enabled: false });
  const since = timestampFromDate(new Date(Date.now() - 60_000));
  await assert.rejects(reconcile({ id: "cal", since }), (e: unknown) => {
    const ce = ConnectError.from(e);
    assert.equal(ce.code, Code.FailedPrecondition);
    assert.match(ce.rawMessage, /Caliper endpoints have no query API/);
    return true;
  });
  await assert.rejects(
    reconcile({ id: "cal" }),
    (e: unknown) => ConnectError.from(e).code === Code.InvalidArgument && /since/.test(ConnectError.from(e).rawMessage),
  );
  await assert.rejects(
    reconcile({ id: "cal", since, until: since }),
    (e: unknown) => ConnectError.from(e).code === Code.InvalidArgument && /until/.test(ConnectError.from(e).rawMessage),
  );
  const cli1 = await cli(["reconcile", "--router", "cal", "--since", "1h"]);
  assert.equal(cli1.code, 5);
  assert.match(cli1.stderr, /^refused: router cal is a Caliper router/);
  assert.equal((await cli(["reconcile", "--router", "cal"])).code, 1, "--since is required");
});

test("an LRS whose /about does not list 1.0.3 gets a warning at creation and in TestRouter", async () => {
  about = createServer((req, res) => {
    if (req.url === "/xapi/about") res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ version: ["1.0.0"] }));
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => about.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(about.address() as AddressInfo).port}/xapi`;
  const created = await sut.admin.createRouter(
    { router: { id: "old-lrs", backend: Backend.XAPI, endpointUrl: url, enabled: false } },
    adminAuth,
  );
  assert.equal(created.warnings.length, 1);
  assert.match(created.warnings[0]!, /lists xAPI version 1\.0\.0, not 1\.0\.3/);
  const probe = await sut.admin.testRouter({ id: "old-lrs" }, adminAuth);
  assert.equal(probe.ok, true);
  assert.deepEqual(probe.xapiVersions, ["1.0.0"]);
  assert.match(probe.warnings[0] ?? "", /not 1\.0\.3/);
  const shown = await cli(["routers", "test", "old-lrs"]);
  assert.match(shown.stderr, /warning: the LRS's \/about lists xAPI version 1\.0\.0, not 1\.0\.3/);

  // An LRS listing 1.0.3 (the real one) gets none.
  if (lrsInstalled()) {
    const ok = await sut.admin.createRouter(
      { router: { id: "good-lrs", backend: Backend.XAPI, endpointUrl: lrs.xapiUrl, enabled: false } },
      adminAuth,
    );
    assert.deepEqual(ok.warnings, []);
  }
});
