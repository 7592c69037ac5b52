/**
 * The operator CLI as an operator runs it (`node dist/cli/main.js`, or src/ under tsx when run alone: support/entrypoints.ts; a child process) against a real
 * service: routers from YAML or flags with secrets from the environment and never echoed, status, the failed
 * stream, imports, and the exit code and single stderr line of each kind of failure.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { readFileSync } from "node:fs";
import { jetstream } from "@nats-io/jetstream";
import { EventInputSchema } from "../gen/eventrouting/v1/event_pb.js";
import { freePort } from "./support/free-port.js";
import { ERB_FIXTURES_DIR } from "./support/erb-fixtures.js";
import { FaultEndpoint, waitUntil } from "./support/http-endpoints.js";
import { ADMIN_TOKEN, emitAuth, startServiceUnderTest, type ServiceUnderTest } from "./support/service-under-test.js";
import { runCli } from "./support/entrypoints.js";

const SECRET = "s3cret-password-never-echoed";
let sut: ServiceUnderTest;
let ok: FaultEndpoint;
let refusing: FaultEndpoint;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "er-cli-op-"));
  ok = await FaultEndpoint.start();
  refusing = await FaultEndpoint.start(() => ({ status: 400 }));
  sut = await startServiceUnderTest({
    DELIVERY_ENABLED: "true",
    CALIPER_ENABLED: "false",
    LOG_LEVEL: "info",
    DELIVERY_BATCH_INTERVAL_MS: "50",
  });
});
after(async () => {
  await sut?.close();
  await ok?.close();
  await refusing?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCli(args, { ...process.env, EVENT_ROUTING_URL: sut.baseUrl, EVENT_ROUTING_TOKEN: ADMIN_TOKEN, ...env });
}

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const oneLine = (s: string) => assert.equal(s.trimEnd().split("\n").length, 1, `one line: ${s}`);

test("routers create from YAML (secret from the environment), list and get as a table and as JSON; the secret is never printed", async () => {
  const yaml = file(
    "lrs.yaml",
    `id: lrs-yaml\nbackend: BACKEND_XAPI\nendpoint_url: ${ok.url}\nenabled: true\nauth:\n  basic:\n    username: alice\n`,
  );
  const created = await cli(["routers", "create", "-f", yaml], { EVENT_ROUTING_ROUTER_PASSWORD: SECRET });
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /^ID\s+BACKEND\s+ENABLED\s+ENDPOINT\s+AUTH/);
  assert.match(created.stdout, /lrs-yaml\s+xapi\s+yes\s+\S+\s+basic \(alice\)/);
  const list = await cli(["routers", "list", "--json"]);
  assert.equal(list.code, 0);
  const routers = JSON.parse(list.stdout) as Array<{ id: string; auth: { hasSecret?: boolean } }>;
  assert.equal(routers.find((r) => r.id === "lrs-yaml")?.auth.hasSecret, true);
  const get = await cli(["routers", "get", "lrs-yaml"]);
  assert.match(get.stdout, /lrs-yaml/);
  for (const out of [created, list, get]) assert.ok(!`${out.stdout}${out.stderr}`.includes(SECRET), "secret echoed");
  assert.ok(!JSON.stringify(sut.logLines()).includes(SECRET), "secret logged");
  assert.ok(sut.logLines().some((l) => l["msg"] === "router created" && l["routerId"] === "lrs-yaml"));
});

test("routers update sends only the given fields and the change is logged by field name", async () => {
  await cli(["routers", "create", "--id", "upd", "--backend", "xapi", "--endpoint-url", ok.url, "--enabled"]);
  const r = await cli(["routers", "update", "upd", "--disabled", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const router = JSON.parse(r.stdout) as { enabled?: boolean; endpointUrl: string };
  assert.equal(router.enabled ?? false, false);
  assert.equal(router.endpointUrl, ok.url);
  const line = sut.logLines().find((l) => l["msg"] === "router updated" && l["routerId"] === "upd");
  assert.deepEqual(line?.["changed"], ["enabled"]);
});

test("usage, not found, refused, not allowed and unavailable each have their exit code and one line", async () => {
  const noSecret = await cli([
    "routers",
    "create",
    "--id",
    "nosecret",
    "--backend",
    "xapi",
    "--endpoint-url",
    ok.url,
    "--auth",
    "basic",
    "--username",
    "u",
  ]);
  assert.equal(noSecret.code, 1);
  assert.match(noSecret.stderr, /EVENT_ROUTING_ROUTER_PASSWORD/);
  oneLine(noSecret.stderr);

  const typo = await cli([
    "routers",
    "create",
    "-f",
    file("typo.yaml", `id: typo\nbackend: BACKEND_XAPI\nendpoint_url: ${ok.url}\nenabeld: true\n`),
  ]);
  assert.equal(typo.code, 1);
  assert.match(typo.stderr, /enabeld/);

  const missing = await cli(["routers", "get", "no-such-router"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^not found: .*no-such-router/);
  oneLine(missing.stderr);

  const statements = await cli(["routers", "create", "--id", "stmts", "--backend", "xapi", "--endpoint-url", `${ok.url}/xapi/statements`]);
  assert.equal(statements.code, 5);
  assert.match(statements.stderr, new RegExp(`^refused: .*Enter ${ok.url}/xapi instead`));
  oneLine(statements.stderr);

  const wrongToken = await cli(["routers", "list"], { EVENT_ROUTING_TOKEN: "wrong" });
  assert.equal(wrongToken.code, 4);
  oneLine(wrongToken.stderr);

  const down = await cli(["status"], { EVENT_ROUTING_URL: `http://127.0.0.1:${await freePort()}` });
  assert.equal(down.code, 3);
  assert.match(down.stderr, /^service unavailable: .*EVENT_ROUTING_URL/);
  oneLine(down.stderr);

  const noYes = await cli(["routers", "delete", "upd"]);
  assert.equal(noYes.code, 1);
  assert.match(noYes.stderr, /--yes/);
  assert.equal((await cli(["nonsense"])).code, 1);
});

test("durations as people write them: 200ms, 1m30s in a router file and a flag; a bare number names the accepted forms", async () => {
  const yaml = file(
    "durations.yaml",
    `id: durations\nbackend: BACKEND_XAPI\nendpoint_url: ${ok.url}\ndelivery:\n  batch_interval: 200ms\n  countdown: 1m30s\n` +
      "  backoff: [10s, 1m]\n  http_timeout: 0.5s\n",
  );
  const created = await cli(["routers", "create", "-f", yaml, "--json"]);
  assert.equal(created.code, 0, created.stderr);
  const delivery = (JSON.parse(created.stdout) as { delivery: Record<string, unknown> }).delivery;
  assert.deepEqual(
    {
      batchInterval: delivery["batchInterval"],
      countdown: delivery["countdown"],
      backoff: delivery["backoff"],
      httpTimeout: delivery["httpTimeout"],
    },
    { batchInterval: "0.200s", countdown: "90s", backoff: ["10s", "60s"], httpTimeout: "0.500s" },
  );
  const updated = await cli(["routers", "update", "durations", "--countdown", "2m", "--batch-size", "7", "--json"]);
  assert.equal(updated.code, 0, updated.stderr);
  const after = (JSON.parse(updated.stdout) as { delivery: Record<string, unknown> }).delivery;
  assert.equal(after["countdown"], "120s");
  assert.equal(after["batchSize"], 7);
  assert.equal(after["batchInterval"], "0.200s", "only the flags given change");

  const bare = await cli([
    "routers",
    "create",
    "-f",
    file("bare.yaml", `id: bare\nbackend: BACKEND_XAPI\nendpoint_url: ${ok.url}\ndelivery:\n  countdown: 30\n`),
  ]);
  assert.equal(bare.code, 1);
  assert.match(bare.stderr, /delivery\.countdown: 30 has no unit; write .*200ms, 30s, 1m30s/);
  oneLine(bare.stderr);
  const flag = await cli(["routers", "update", "durations", "--http-timeout", "5 secs"]);
  assert.equal(flag.code, 1);
  assert.match(flag.stderr, /^--http-timeout: "5 secs" is not a duration; write .*1m30s/);
});

test("an OAuth 2 router with a rate limit from YAML: the client secret from the environment, never printed; --rate-limit", async () => {
  const CLIENT_SECRET = "oauth-client-secret-never-echoed-42";
  const yaml = file(
    "oauth.yaml",
    `id: lrs-oauth\nbackend: BACKEND_XAPI\nendpoint_url: ${ok.url}\nauth:\n  oauth2:\n    token_url: https://idp.school.example/oauth/token\n` +
      "    client_id: event-routing\n    scope: statements/write\n    audience: https://lrs.school.example/xapi\n" +
      "delivery:\n  rate_limit:\n    requests: 3000\n    period: 1m\n",
  );
  const created = await cli(["routers", "create", "-f", yaml, "--json"], { EVENT_ROUTING_ROUTER_CLIENT_SECRET: CLIENT_SECRET });
  assert.equal(created.code, 0, created.stderr);
  const json = JSON.parse(created.stdout) as { auth: Record<string, unknown>; delivery: Record<string, unknown> };
  assert.deepEqual(json.auth, {
    oauth2: {
      tokenUrl: "https://idp.school.example/oauth/token",
      clientId: "event-routing",
      scope: "statements/write",
      audience: "https://lrs.school.example/xapi",
    },
    hasSecret: true,
  });
  assert.deepEqual(json.delivery["rateLimit"], { requests: 3000, period: "60s" });
  const stored = sut.service.routers.get("lrs-oauth")!;
  assert.equal(stored.auth.kind === "oauth2" && stored.auth.clientSecret, CLIENT_SECRET);
  const get = await cli(["routers", "get", "lrs-oauth"]);
  assert.match(get.stdout, /auth:\s+oauth2, client event-routing at https:\/\/idp\.school\.example\/oauth\/token, scope statements\/write/);
  assert.match(get.stdout, /rate limit:\s+3000 requests per 1m\b/);
  for (const out of [created, get]) assert.ok(!`${out.stdout}${out.stderr}`.includes(CLIENT_SECRET), "the secret was printed");

  const faster = await cli(["routers", "update", "lrs-oauth", "--rate-limit", "50/1s", "--json"]);
  assert.equal(faster.code, 0, faster.stderr);
  assert.deepEqual((JSON.parse(faster.stdout) as { delivery: Record<string, unknown> }).delivery["rateLimit"], {
    requests: 50,
    period: "1s",
  });
  assert.equal((await cli(["routers", "update", "lrs-oauth", "--rate-limit", "none"])).code, 0);
  assert.equal(sut.service.routers.get("lrs-oauth")!.delivery.rateLimit, undefined);
  const bad = await cli(["routers", "update", "lrs-oauth", "--rate-limit", "fast"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^--rate-limit fast: expected REQUESTS\/DURATION/);
});

/** A real HTTP receiver for probes: /about answers with versions for the right credentials, 401 quoting them else. */
async function probeReceiver(expectedAuth: string): Promise<{
  url: string;
  seen: Array<{ method: string; path: string; headers: Record<string, unknown>; body: string }>;
  close(): Promise<void>;
}> {
  const seen: Array<{ method: string; path: string; headers: Record<string, unknown>; body: string }> = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (b: Buffer) => (body += b));
    req.on("end", () => {
      seen.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers, body });
      if (req.headers.authorization !== expectedAuth) {
        res.writeHead(401, { "content-type": "text/plain" }).end(`bad credentials: ${req.headers.authorization}`);
      } else if (req.method === "GET" && req.url === "/xapi/about") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ version: ["1.0.3", "1.0.2"] }));
      } else if (req.method === "POST" && req.url === "/caliper") {
        res.writeHead(200).end();
      } else res.writeHead(404).end("no such resource");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

test("routers get shows every setting; routers test sends one probe with the router's credentials and reports the answer", async () => {
  const basic = `Basic ${Buffer.from(`probe:${SECRET}`).toString("base64")}`;
  const lrs = await probeReceiver(basic);
  try {
    const yaml = file(
      "probe.yaml",
      `id: probe\nbackend: BACKEND_XAPI\nendpoint_url: ${lrs.url}/xapi\nenabled: false\nauth:\n  basic:\n    username: probe\n` +
        "headers:\n  X-Tenant: tenant-key-123\nmatch_params:\n  - path: context.org_id\n    patterns: [edX, MITx]\n" +
        "delivery:\n  batch_size: 20\n  countdown: 1m30s\n  critical_events: [edx.course.enrollment.activated]\n" +
        "  exhausted: keep-critical\n",
    );
    assert.equal((await cli(["routers", "create", "-f", yaml], { EVENT_ROUTING_ROUTER_PASSWORD: SECRET })).code, 0);
    const get = await cli(["routers", "get", "probe"]);
    assert.equal(get.code, 0, get.stderr);
    for (const line of [
      /^auth: +basic, user probe \(secret stored\)$/m,
      /^headers: +X-Tenant \(values hidden\)$/m,
      /^match params: +context\.org_id ~ edX \| MITx$/m,
      /^batch size: +20$/m,
      /^countdown: +1m30s$/m,
      /^http timeout: +\(service default\)$/m,
      /^critical events: +edx\.course\.enrollment\.activated$/m,
      /^enabled: +no$/m,
      /^exhausted: +keep-critical \(only critical events' statements go to the failed stream\)$/m,
      /^incarnation: +0$/m,
    ])
      assert.match(get.stdout, line);
    assert.ok(!get.stdout.includes("tenant-key-123"), "header values stay hidden");
    const keepAll = await cli(["routers", "update", "probe", "--exhausted", "keep-all", "--json"]);
    assert.equal(keepAll.code, 0, keepAll.stderr);
    assert.equal((JSON.parse(keepAll.stdout) as { delivery: { exhausted: string } }).delivery.exhausted, "EXHAUSTED_STATEMENTS_KEEP_ALL");
    assert.match((await cli(["routers", "get", "probe"])).stdout, /^exhausted: +keep-all \(every statement/m);
    const badExhausted = await cli(["routers", "update", "probe", "--exhausted", "keep-some"]);
    assert.equal(badExhausted.code, 1);
    assert.match(badExhausted.stderr, /^--exhausted keep-some: expected keep-all or keep-critical/);

    const ok = await cli(["routers", "test", "probe"]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, new RegExp(`^GET ${lrs.url}/xapi/about\nHTTP 200 in \\d+ ms: an xAPI LRS answered`));
    assert.match(ok.stdout, /^xAPI versions: 1\.0\.3, 1\.0\.2$/m);
    // Creation read /about once (the version check), routers test once: both as delivery sends.
    assert.equal(lrs.seen.length, 2, "one request at creation, one probe");
    for (const seen of lrs.seen) {
      assert.equal(seen.headers["x-experience-api-version"], "1.0.3");
      assert.equal(seen.headers["x-tenant"], "tenant-key-123");
    }

    // Wrong credentials: refused, exit 5, and the answer (which quotes the Authorization header) is redacted.
    const changed = await cli(["routers", "update", "probe", "--auth", "basic", "--username", "probe"], {
      EVENT_ROUTING_ROUTER_PASSWORD: "wrong-password",
    });
    assert.equal(changed.code, 0, changed.stderr);
    const refused = await cli(["routers", "test", "probe", "--json"]);
    assert.equal(refused.code, 5, refused.stdout + refused.stderr);
    const res = JSON.parse(refused.stdout) as { httpStatus: number; ok: boolean; verdict: string; detail: string };
    assert.deepEqual([res.httpStatus, res.ok], [401, false]);
    assert.match(res.verdict, /credentials refused/);
    assert.match(res.detail, /^bad credentials: \[redacted\]/);
    assert.ok(!refused.stdout.includes(Buffer.from("probe:wrong-password").toString("base64")));

    // Caliper: POST of an envelope with no events.
    await cli(
      [
        "routers",
        "create",
        "--id",
        "cal-probe",
        "--backend",
        "caliper",
        "--endpoint-url",
        `${lrs.url}/caliper`,
        "--auth",
        "basic",
        "--username",
        "probe",
      ],
      {
        EVENT_ROUTING_ROUTER_PASSWORD: SECRET,
      },
    );
    const cal = await cli(["routers", "test", "cal-probe"]);
    assert.equal(cal.code, 0, cal.stdout + cal.stderr);
    const envelope = JSON.parse(lrs.seen.at(-1)!.body) as { data: unknown[]; dataVersion: string };
    assert.deepEqual(envelope.data, []);
    assert.match(envelope.dataVersion, /caliper/);
  } finally {
    await lrs.close();
  }
  // Nothing listening: no answer, exit 3.
  const closed = `http://127.0.0.1:${await freePort()}/xapi`;
  await cli(["routers", "create", "--id", "nowhere", "--backend", "xapi", "--endpoint-url", closed]);
  const none = await cli(["routers", "test", "nowhere"]);
  assert.equal(none.code, 3);
  assert.match(none.stdout, /^no answer in \d+ ms: no answer/m);
  assert.match(none.stdout, /ECONNREFUSED/);
});

test("a Caliper router while Caliper is disabled is created with a warning", async () => {
  const r = await cli(["routers", "create", "--id", "cal", "--backend", "caliper", "--endpoint-url", ok.url]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^warning: CALIPER_ENABLED is false on this service/);
});

test("status shows each router's state and counts; failed list, retry and purge work on the failed stream", async () => {
  await cli(["routers", "create", "--id", "refuses", "--backend", "xapi", "--endpoint-url", refusing.url, "--enabled"]);
  await waitUntil(() => sut.service.routers.get("refuses") !== undefined, 10_000, "router seen");
  await sut.service.delivery!.settled();
  const raw = readFileSync(join(ERB_FIXTURES_DIR, "raw", "edx.course.enrollment.activated.json"), "utf8");
  await sut.events.emit({ event: create(EventInputSchema, { event: { case: "json", value: raw } }) }, emitAuth);
  let list = await cli(["failed", "list", "--router", "refuses", "--json"]);
  await waitUntil(
    async () => {
      list = await cli(["failed", "list", "--router", "refuses", "--json"]);
      return (JSON.parse(list.stdout) as unknown[]).length === 1;
    },
    30_000,
    "the refused critical statement is in the failed stream",
  );
  const [failed] = JSON.parse(list.stdout) as Array<{ id: string; eventName: string }>;
  assert.equal(failed!.eventName, "edx.course.enrollment.activated");
  const table = await cli(["failed", "list"]);
  assert.match(table.stdout, new RegExp(`^${failed!.id}\\s+refuses\\s+edx\\.course\\.enrollment\\.activated`, "m"));

  const status = await cli(["status"]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^service: SERVING/);
  assert.match(status.stdout, /^refuses\s+\w+\s+\d+\s+\d+\s+0\s+1\s+0\s+1\s/m);
  assert.match(status.stdout, /^lrs-yaml\s+active\s/m);

  const retried = await cli(["failed", "retry", failed!.id]);
  assert.equal(retried.code, 0, retried.stderr);
  assert.match(retried.stdout, /^retried 1/);
  const again = await cli(["failed", "retry", failed!.id]);
  assert.equal(again.code, 2, "the id is gone once retried");

  assert.equal((await cli(["failed", "purge", "--all"])).code, 1, "purge needs --yes");
  const purged = await cli(["failed", "purge", "--all", "--yes"]);
  assert.equal(purged.code, 0, purged.stderr);
  assert.match(purged.stdout, /^purged \d+/);
});

test("status names failed (stored), dropped and what the failed stream holds apart, in the table and in --json", async () => {
  const created = await cli([
    "routers",
    "create",
    "--id",
    "drops",
    "--backend",
    "xapi",
    "--endpoint-url",
    refusing.url,
    "--enabled",
    "--exhausted",
    "keep-critical",
  ]);
  assert.equal(created.code, 0, created.stderr);
  await waitUntil(() => sut.service.routers.get("drops") !== undefined, 10_000, "router seen");
  await sut.service.delivery!.settled();
  for (const name of ["edx.course.enrollment.activated", "edx.forum.thread.created"]) {
    const raw = readFileSync(join(ERB_FIXTURES_DIR, "raw", `${name}.json`), "utf8");
    await sut.events.emit({ event: create(EventInputSchema, { event: { case: "json", value: raw } }) }, emitAuth);
  }
  type Json = { statuses: Array<Record<string, unknown> & { routerId: string; thisInstance: Record<string, number> }> };
  let drops: Json["statuses"][number] | undefined;
  await waitUntil(
    async () => {
      const r = await cli(["status", "--json", "drops"]);
      drops = (JSON.parse(r.stdout) as Json).statuses[0];
      return drops?.thisInstance["failed"] === 1 && drops.thisInstance["dropped"] === 1 && drops["failedStored"] === "1";
    },
    30_000,
    "the critical statement stored, the other dropped",
  );
  // The API's own fields as they are (failed counts the dropped too), zeros included; thisInstance as the metrics.
  assert.equal(drops!["failed"], "2");
  assert.equal(drops!["dropped"], "1");
  assert.equal(drops!["discarded"], "0");
  assert.deepEqual(drops!.thisInstance, { delivered: 0, failed: 1, dropped: 1, discarded: 0 });

  const table = await cli(["status", "drops"]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(
    table.stdout,
    /^ROUTER\s+STATE\s+PENDING\s+IN_FLIGHT\s+DELIVERED\s+FAILED\s+DROPPED\s+IN_FAILED_STREAM\s+LAST_SUCCESS\s+LAST_ERROR$/m,
  );
  assert.match(table.stdout, /^drops\s+\w+\s+\d+\s+\d+\s+0\s+1\s+1\s+1\s/m);
  assert.match(table.stdout, /DROPPED \(failed, not stored/);
  assert.match(table.stdout, /IN_FAILED_STREAM: kept now/);
  assert.equal((await cli(["failed", "purge", "--router", "drops", "--yes"])).code, 0);
});

test("status without a router id shows the inputs: read, stored, duplicate statements (not stored again) and the backlog", async () => {
  const event = JSON.parse(readFileSync(join(ERB_FIXTURES_DIR, "raw", "edx.forum.thread.created.json"), "utf8")) as object;
  const text = JSON.stringify({ ...event, timestamp: "2031-01-02T03:04:05.000006+00:00" });
  const js = jetstream(sut.service.nc);
  // The same event twice: the second one's statements are already stored under their ids.
  await js.publish("eventrouting.ingest.lms", text);
  await js.publish("eventrouting.ingest.lms", text);
  type Input = {
    kind: string;
    entriesRead: string;
    statementsStored: string;
    statementsDuplicate: string;
    pending: string;
    backlogUnknown: boolean;
  };
  let nats: Input | undefined;
  await waitUntil(
    async () => {
      const r = await cli(["status", "--json"]);
      nats = (JSON.parse(r.stdout) as { inputs: Input[] }).inputs.find((i) => i.kind === "INGEST_INPUT_KIND_NATS");
      return nats?.entriesRead === "2" && nats.pending === "0" && nats.statementsDuplicate !== "0";
    },
    30_000,
    "both messages read, the second one's statements found stored",
  );
  assert.equal(nats!.statementsDuplicate, nats!.statementsStored);
  assert.equal(nats!.backlogUnknown, false, "backlogUnknown is there, also when false");
  const table = await cli(["status"]);
  assert.match(table.stdout, /^INPUT\s+STATE\s+READ\s+STORED\s+DUPLICATE\s+REJECTED\s+PENDING\s+LAG\s+LAST_ERROR$/m);
  assert.match(
    table.stdout,
    new RegExp(`^nats\\s+serving\\s+2\\s+${nats!.statementsStored}\\s+${nats!.statementsDuplicate}\\s+0\\s+0\\s+0\\s`, "m"),
  );
  assert.doesNotMatch(table.stdout, /^event-bus-redis/m, "a disabled input is not shown");
  assert.doesNotMatch((await cli(["status", "drops"])).stdout, /^INPUT/m, "one router's status is about the router");
});

test("identities import and courses import send the CSV to the service", async () => {
  const ids = await cli(["identities", "import", file("ids.csv", "user_id,username,external_id,email\n7,bob,ext-7,bob@example.com\n")]);
  assert.equal(ids.code, 0, ids.stderr);
  assert.equal(ids.stdout, "imported 1 identities\n");
  const courses = await cli(["courses", "import", file("courses.csv", "course_id,name\ncourse-v1:X+Y+Z,Zed\n"), "--json"]);
  assert.equal(courses.code, 0, courses.stderr);
  assert.deepEqual(JSON.parse(courses.stdout), { imported: 1 });
  const bad = await cli(["courses", "import", file("bad.csv", "nope\n")]);
  assert.equal(bad.code, 5);
  oneLine(bad.stderr);
});

test("routers delete --yes removes the router", async () => {
  const r = await cli(["routers", "delete", "upd", "--yes"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await cli(["routers", "get", "upd"])).code, 2);
});

test("transform takes IDENTITY_HMAC_SECRET like the service (same derived learner ids) and says plainly when it is unset", async () => {
  const fixture = join(ERB_FIXTURES_DIR, "raw", "edx.course.enrollment.activated.json");
  const event = create(EventInputSchema, { event: { case: "json", value: readFileSync(fixture, "utf8") } });
  const fromService = await sut.events.transform({ event }, emitAuth);
  const serviceActor = JSON.stringify(fromService.outputs[0]!.statements[0]!["actor"]);
  const args = ["transform", "--backend", "xapi", "--lms-root-url", "http://localhost:18000", fixture];
  const same = await cli(args, { IDENTITY_HMAC_SECRET: "hostile-input-test-secret-0123456789" });
  assert.equal(same.code, 0, same.stderr);
  // One line per input: {input, event, statements}.
  const firstActor = (stdout: string) =>
    JSON.stringify((JSON.parse(stdout) as { statements: Array<Record<string, unknown>> }).statements[0]!["actor"]);
  assert.equal(firstActor(same.stdout), serviceActor);
  assert.doesNotMatch(same.stderr, /IDENTITY_HMAC_SECRET/);
  const unset = await cli(args, { IDENTITY_HMAC_SECRET: "" });
  assert.match(unset.stderr, /IDENTITY_HMAC_SECRET is not set; learners missing from --identities get ids that differ from the service's/);
  assert.notEqual(firstActor(unset.stdout), serviceActor);
});
