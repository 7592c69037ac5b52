/**
 * `inspect` against a real `npm start`-style service (src/main.ts with its embedded nats-server) whose DATA_DIR is
 * not the default: with that DATA_DIR (or --data-dir) it finds the service's NATS and lists every stream and
 * consumer, the ingest and rejected ones included; with another one it says where it looked.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { waitUntil } from "./support/http-endpoints.js";
import { runCli, serviceArgs } from "./support/entrypoints.js";

let dir: string;
let dataDir: string;
let service: ChildProcess;
let exited: Promise<number | null>;
let address: string;
let nc: NatsConnection;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "er-inspect-"));
  dataDir = join(dir, "custom-data");
  service = spawn(process.execPath, serviceArgs(), {
    env: {
      ...process.env,
      NATS_URL: "",
      PORT: "0",
      DATA_DIR: dataDir,
      EMIT_TOKENS: "test-emit-token-0123456789abcdef",
      ADMIN_TOKENS: "test-admin-token-0123456789abcdef",
      NATS_INGEST_ENABLED: "true",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  exited = new Promise((resolve) => service.on("exit", resolve));
  address = await new Promise<string>((resolve, reject) => {
    let out = "";
    service.stdout!.on("data", (b: Buffer) => {
      out += b;
      const m = /"address":"([^"]+)".*event-routing listening/.exec(out);
      if (m) resolve(m[1]!);
    });
    void exited.then((code) => reject(new Error(`exited ${code} before listening: ${out}`)));
  });
  const portsFile = readdirSync(join(dataDir, "nats")).find((f) => f.endsWith(".ports"))!;
  nc = await connect({ servers: (JSON.parse(readFileSync(join(dataDir, "nats", portsFile), "utf8")) as { nats: string[] }).nats[0]! });
});

after(async () => {
  await nc?.close();
  service?.kill("SIGTERM");
  await exited;
  rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCli(args, {
    ...process.env,
    NATS_URL: "",
    EVENT_ROUTING_URL: `http://${address}`,
    EVENT_ROUTING_TOKEN: "test-admin-token-0123456789abcdef",
    ...env,
  });
}

test("with the service's DATA_DIR inspect finds its nats-server and lists every stream and consumer, ingest and rejected included", async () => {
  const router = await cli(["routers", "create", "--id", "lrs", "--backend", "xapi", "--endpoint-url", "http://127.0.0.1:1/xapi"], {});
  assert.equal(router.code, 0, router.stderr);
  // A malformed event on the ingest subject: the service keeps it in the rejected stream.
  await jetstream(nc).publish("eventrouting.ingest.test", "not json");
  const jsm = await jetstreamManager(nc);
  await waitUntil(async () => (await jsm.streams.info("EVENTROUTING_REJECTED")).state.messages === 1, 30_000, "the entry is rejected");
  await waitUntil(
    async () => {
      for await (const c of jsm.consumers.list("EVENTROUTING_DELIVERY")) if (c.name === "deliver-lrs") return true;
      return false;
    },
    30_000,
    "the router's consumer exists",
  );

  for (const how of [
    { env: { DATA_DIR: dataDir }, args: [] },
    { env: { DATA_DIR: "" }, args: ["--data-dir", dataDir] },
  ]) {
    const r = await cli(["inspect", ...how.args], how.env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^NATS nats://127\\.0\\.0\\.1:\\d+ \\(the embedded nats-server of ${join(dataDir, "nats")}\\)`));
    for (const stream of ["EVENTROUTING_DELIVERY", "EVENTROUTING_FAILED", "EVENTROUTING_ADVISORIES", "EVENTROUTING_INGEST"])
      assert.match(r.stdout, new RegExp(`^stream ${stream}: \\d+ messages`, "m"), stream);
    assert.match(r.stdout, /^stream EVENTROUTING_REJECTED: 1 messages/m);
    assert.match(r.stdout, /^ {2}eventrouting\.rejected\.nats: 1$/m);
    assert.match(r.stdout, /^ {2}consumer ingest: pending 0/m);
    assert.match(r.stdout, /^ {2}consumer deliver-lrs: pending \d+/m);
    assert.match(r.stdout, /^ {2}consumer failed-sweeper: /m);
    assert.match(r.stdout, /^stream KV_eventrouting_routers: 1 messages/m);
  }
});

test("with another DATA_DIR inspect says where it looked and how to point it at the service", async () => {
  const elsewhere = join(dir, "elsewhere");
  const r = await cli(["inspect"], { DATA_DIR: elsewhere });
  assert.equal(r.code, 2);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, new RegExp(`no embedded nats-server runs in ${join(elsewhere, "nats")} \\(DATA_DIR=${elsewhere}\\)`));
  assert.match(r.stderr, /--data-dir/);
});
