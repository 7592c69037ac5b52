/**
 * Transport security through the real service: TLS on the service's port (h2 and HTTP/1.1 by ALPN, for clients
 * that trust the CA), TLS and mutual TLS to a TLS-only nats-server, NKey authentication, and the NATS
 * connection's disconnect/reconnect log lines across a nats-server restart.
 */
import assert from "node:assert/strict";
import { EventEmitter, once } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { createUser } from "@nats-io/nkeys";
import { pino, type Logger } from "pino";
import { RouterAdminService } from "../gen/eventrouting/v1/router_admin_service_pb.js";
import { loadConfig } from "../src/config.js";
import { startService, type RunningService } from "../src/service.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";
import { makeTlsFiles, type TlsFiles } from "./support/tls-files.js";

const ADMIN_TOKEN = "admin-token-for-transport-security";
const call = { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } };
const silent = pino({ level: "silent" });

function service(natsUrl: string, env: Record<string, string>, logger: Logger = silent): Promise<RunningService> {
  const config = loadConfig({
    NATS_URL: natsUrl,
    PORT: "0",
    ADMIN_TOKENS: ADMIN_TOKEN,
    EMIT_TOKENS: "emit-token-unused-0123456789",
    DELIVERY_ENABLED: "false",
    SHUTDOWN_GRACE_MS: "1000",
    ...env,
  });
  return startService({ ...config, natsUrl }, logger);
}

async function startFails(p: Promise<RunningService>, pattern: RegExp): Promise<void> {
  let started: RunningService | undefined;
  try {
    started = await p;
  } catch (e) {
    assert.match(String((e as Error).message ?? e), pattern);
    return;
  }
  await started.close();
  assert.fail("the service started");
}

let pki: TlsFiles;
before(() => {
  pki = makeTlsFiles();
});

describe("TLS on the service port and to a TLS-only nats-server (mutual TLS)", () => {
  let nats: TestNatsServer;
  let svc: RunningService;
  const natsTls = () => ["--tlsverify", "--tlscert", pki.certFile, "--tlskey", pki.keyFile, "--tlscacert", pki.caFile];

  before(async () => {
    nats = await startNatsServer({ extraArgs: natsTls() });
    svc = await service(nats.url, {
      TLS_CERT_FILE: pki.certFile,
      TLS_KEY_FILE: pki.keyFile,
      NATS_TLS_CA_FILE: pki.caFile,
      NATS_TLS_CERT_FILE: pki.clientCertFile,
      NATS_TLS_KEY_FILE: pki.clientKeyFile,
    });
  });
  after(async () => {
    await svc?.close();
    await nats?.stop();
  });

  // The server runs with --tlsverify: connecting at all proves the client certificate was presented.
  test("the service connected to NATS over mutual TLS and stores routers there", async () => {
    const info = svc.nc.info!;
    assert.equal(info.tls_required || info.tls_verify, true);
    const transport = createGrpcTransport({ baseUrl: `https://localhost:${svc.port}`, nodeOptions: { ca: readFileSync(pki.caFile) } });
    const admin = createClient(RouterAdminService, transport);
    await admin.createRouter({ router: { id: "over-tls", backend: 1, endpointUrl: "https://lrs.example/xapi", enabled: true } }, call);
    assert.equal(svc.routers.get("over-tls")?.id, "over-tls");
  });

  const trusting = () => ({ ca: readFileSync(pki.caFile) });
  for (const [name, transport] of [
    ["gRPC over h2", () => createGrpcTransport({ baseUrl: `https://localhost:${svc.port}`, nodeOptions: trusting() })],
    [
      "Connect over HTTP/1.1",
      () => createConnectTransport({ baseUrl: `https://localhost:${svc.port}`, httpVersion: "1.1", nodeOptions: trusting() }),
    ],
    [
      "Connect over h2",
      () => createConnectTransport({ baseUrl: `https://127.0.0.1:${svc.port}`, httpVersion: "2", nodeOptions: trusting() }),
    ],
  ] as const) {
    test(`${name} with a client that trusts the CA`, async () => {
      const admin = createClient(RouterAdminService, transport());
      const res = await admin.listRouters({}, call);
      assert.ok(Array.isArray(res.routers));
    });
  }

  test("a client that does not trust the CA, and a cleartext client, get no answer", async () => {
    const untrusted = createClient(
      RouterAdminService,
      createConnectTransport({ baseUrl: `https://localhost:${svc.port}`, httpVersion: "1.1" }),
    );
    const e1 = ConnectError.from(
      await untrusted.listRouters({}, call).then(
        () => assert.fail("answered"),
        (e: unknown) => e,
      ),
    );
    assert.match(e1.message, /certificate/i);
    const cleartext = createClient(
      RouterAdminService,
      createConnectTransport({ baseUrl: `http://127.0.0.1:${svc.port}`, httpVersion: "1.1" }),
    );
    const e2 = ConnectError.from(
      await cleartext.listRouters({}, call).then(
        () => assert.fail("answered"),
        (e: unknown) => e,
      ),
    );
    assert.notEqual(e2.code, Code.Unauthenticated, "a cleartext request reached the handlers");
  });

  test("without the CA (system trust only) the service refuses the server's certificate", async () => {
    await startFails(service(nats.url, { NATS_TLS_CERT_FILE: pki.clientCertFile, NATS_TLS_KEY_FILE: pki.clientKeyFile }), /certificate/i);
  });
});

describe("TLS to NATS is required once configured", () => {
  test("a cleartext nats-server is refused when NATS_TLS_CA_FILE is set", async () => {
    const plain = await startNatsServer();
    try {
      await startFails(service(plain.url, { NATS_TLS_CA_FILE: pki.caFile }), /tls/i);
    } finally {
      await plain.stop();
    }
  });
});

describe("NKey authentication", () => {
  test("the service authenticates with NATS_NKEY_SEED_FILE; without it the server refuses", async () => {
    const user = createUser();
    const conf = join(pki.dir, "nkey.conf");
    writeFileSync(conf, `authorization { users = [ { nkey: ${user.getPublicKey()} } ] }\n`);
    const seedFile = join(pki.dir, "user.nk");
    writeFileSync(seedFile, `${new TextDecoder().decode(user.getSeed())}\n`, { mode: 0o600 });
    const nats = await startNatsServer({ extraArgs: ["-c", conf] });
    try {
      const svc = await service(nats.url, { NATS_NKEY_SEED_FILE: seedFile });
      try {
        const admin = createClient(RouterAdminService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${svc.port}` }));
        await admin.createRouter({ router: { id: "with-nkey", backend: 1, endpointUrl: "https://lrs.example/xapi", enabled: true } }, call);
      } finally {
        await svc.close();
      }
      await startFails(service(nats.url, {}), /authorization/i);
    } finally {
      await nats.stop();
    }
  });
});

describe("NATS credentials rotated on the server", () => {
  test("the service keeps reconnecting through authorization errors, logs them at error, and recovers from the rewritten seed file", {
    timeout: 120_000,
  }, async () => {
    const [oldUser, newUser] = [createUser(), createUser()];
    const conf = join(pki.dir, "rotating.conf");
    const users = (u: typeof oldUser) => `authorization { users = [ { nkey: ${u.getPublicKey()} } ] }\n`;
    writeFileSync(conf, users(oldUser));
    const seedFile = join(pki.dir, "rotating.nk");
    const seed = (u: typeof oldUser) => `${new TextDecoder().decode(u.getSeed())}\n`;
    writeFileSync(seedFile, seed(oldUser), { mode: 0o600 });
    const nats = await startNatsServer({ extraArgs: ["-c", conf] });
    const log = eventLogger();
    const svc = await service(nats.url, { NATS_NKEY_SEED_FILE: seedFile }, log.logger);
    try {
      let authErrors = 0;
      const refusedThrice = (async () => {
        for await (const s of svc.nc.status()) {
          if (s.type === "error" && /authorization/i.test(s.error.message) && ++authErrors === 3) return;
        }
      })();
      // The server comes back knowing only the new user: every attempt with the old seed is refused. (A restart, not
      // a reload: nats-server 2.9 turns off JetStream enabled by -js when it reloads a configuration file.)
      writeFileSync(conf, users(newUser));
      await nats.restart();
      // nats.js's default gives up for good after two refusals in a row; the third must come.
      await Promise.race([
        refusedThrice,
        svc.nc.closed().then(() => assert.fail(`the NATS connection was closed after ${authErrors} authorization errors`)),
      ]);
      assert.equal(svc.nc.isClosed(), false);
      const refused = await log.next((l) => /refuses this service's credentials/.test(String(l["msg"])));
      assert.equal(refused["level"], 50);
      writeFileSync(seedFile, seed(newUser), { mode: 0o600 });
      await log.next((l) => l["msg"] === "NATS reconnected");
      const admin = createClient(RouterAdminService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${svc.port}` }));
      await admin.createRouter(
        { router: { id: "after-rotation", backend: 1, endpointUrl: "https://lrs.example/xapi", enabled: true } },
        call,
      );
    } finally {
      await svc.close();
      await nats.stop();
    }
  });
});

/** A pino logger whose lines are also events, so a test can await a line instead of polling. */
type LogLine = Record<string, unknown>;

function eventLogger(): { logger: Logger; lines: LogLine[]; next(match: (l: LogLine) => boolean): Promise<LogLine> } {
  const lines: Array<Record<string, unknown>> = [];
  const events = new EventEmitter();
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk
        .toString("utf8")
        .split("\n")
        .filter((s) => s !== "")) {
        const line = JSON.parse(l) as Record<string, unknown>;
        lines.push(line);
        events.emit("line", line);
      }
      cb();
    },
  });
  return {
    logger: pino({ level: "info" }, sink),
    lines,
    async next(match) {
      const seen = lines.find(match);
      if (seen) return seen;
      for (;;) {
        const [line] = (await once(events, "line")) as [Record<string, unknown>];
        if (match(line)) return line;
      }
    },
  };
}

/** A generous deadline, so a missing line fails the test and still lets `finally` stop the service. */
function guard<T>(p: Promise<T>, ms = 30_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no such log line within ${ms} ms`)), ms)));
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

describe("NATS connection status is logged", () => {
  test("a nats-server restart logs a disconnect (warn) and a reconnect (info) with the server address", { timeout: 60_000 }, async () => {
    const nats = await startNatsServer();
    const log = eventLogger();
    const svc = await service(nats.url, { LOG_RPCS: "false" }, log.logger);
    try {
      const address = `127.0.0.1:${new URL(nats.url).port}`;
      const disconnected = guard(log.next((l) => l["msg"] === "NATS disconnected; reconnecting (Emit answers Unavailable meanwhile)"));
      const reconnected = guard(log.next((l) => l["msg"] === "NATS reconnected"));
      await nats.restart();
      const down = await disconnected;
      const up = await reconnected;
      assert.equal(down["level"], 40, "warn");
      assert.equal(up["level"], 30, "info");
      assert.equal(down["server"], address);
      assert.equal(up["server"], address);
      assert.ok(log.lines.indexOf(down) < log.lines.indexOf(up));
    } finally {
      await svc.close();
      await nats.stop();
    }
  });
});
