/**
 * No secret reaches what the service writes, through the real start command under a supervisor (stdout not a
 * terminal, so every line is a shipped log line): generated tokens go to a 0600 file in DATA_DIR that the log
 * names; NATS_URL user info authenticates to a nats-server with users (and a token); a Redis URL's password, a bad
 * secret variable, a wrong NATS or Redis password are reported without the value. Every byte of stdout and stderr
 * is scanned for every secret value.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createClient as createRedisClient } from "@redis/client";
import { RouterAdminService } from "../gen/eventrouting/v1/router_admin_service_pb.js";
import { connectNats, natsConnectOptions, splitUrlCredentials } from "../src/nats/connection.js";
import { onTestExit, startNatsServer, type TestNatsServer } from "./support/nats-server.js";
import { TestRedisServer } from "./support/redis-server.js";
import { serviceArgs } from "./support/entrypoints.js";

const NATS_USER = "event-routing";
const NATS_PASSWORD = "NatsPw-7f3e9c1a5b2d";
const REDIS_PASSWORD = "RedisPw-4d8a2f6e0c1b";
const HMAC = "identity-hmac-secret-for-secrets-test";
const TOKENS = { ADMIN_TOKENS: "admin-token-for-secrets-test-0123", EMIT_TOKENS: "emit-token-for-secrets-test-0123" };

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "er-secrets-"));
  dirs.push(d);
  return d;
}

interface Run {
  readonly exited: Promise<number | null>;
  /** Everything written so far, stdout then stderr. */
  output(): string;
  stderr(): string;
  /** Resolves with the first JSON stdout line whose msg matches. */
  line(msg: RegExp): Promise<Record<string, unknown>>;
  stop(): Promise<number | null>;
}

/** The start command as a supervisor runs it: pipes, not a terminal; only the given variables and PATH. */
function start(env: Record<string, string>): Run {
  const child = spawn(process.execPath, serviceArgs(), {
    env: { PATH: process.env["PATH"] ?? "", PORT: "0", LOG_RPCS: "true", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const unhook = onTestExit(() => child.kill("SIGKILL"));
  let out = "";
  let err = "";
  child.stdout.on("data", (b: Buffer) => (out += b));
  child.stderr.on("data", (b: Buffer) => (err += b));
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      unhook();
      resolve(code);
    }),
  );
  const find = (msg: RegExp) => {
    for (const l of out.split("\n")) {
      if (!l.startsWith("{")) continue;
      const j = JSON.parse(l) as Record<string, unknown>;
      if (msg.test(String(j["msg"]))) return j;
    }
    return undefined;
  };
  return {
    exited,
    output: () => `${out}\n${err}`,
    stderr: () => err,
    line: (msg) =>
      new Promise((resolve, reject) => {
        const look = () => {
          const found = find(msg);
          if (found) resolve(found);
          return found !== undefined;
        };
        if (look()) return;
        child.stdout.on("data", look);
        void exited.then((code) => setImmediate(() => look() || reject(new Error(`exited ${code} before "${msg}": ${out}\n${err}`))));
      }),
    async stop() {
      child.kill("SIGTERM");
      return exited;
    },
  };
}

/** Fails naming the secret (not showing it) if any appears in the output, also URL-encoded or in JSON. */
function assertNoSecret(output: string, secrets: Record<string, string>): void {
  for (const [what, value] of Object.entries(secrets)) {
    for (const form of new Set([value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1)])) {
      assert.ok(!output.includes(form), `the output shows ${what}`);
    }
  }
}

const NO_NATS_AUTH = {
  natsCreds: undefined,
  natsNkeySeedFile: undefined,
  natsTlsCaFile: undefined,
  natsTlsCertFile: undefined,
  natsTlsKeyFile: undefined,
};

let nats: TestNatsServer;
let redis: TestRedisServer;
before(async () => {
  nats = await startNatsServer({ extraArgs: ["--user", NATS_USER, "--pass", NATS_PASSWORD] });
  redis = await TestRedisServer.start();
  const admin = createRedisClient({ url: redis.url });
  await admin.connect();
  await admin.configSet("requirepass", REDIS_PASSWORD);
  await admin.quit();
});
after(async () => {
  await nats?.stop();
  await redis?.close();
});

const natsUrl = (password: string) => `nats://${NATS_USER}:${password}@127.0.0.1:${new URL(nats.url).port}`;
const redisUrl = (password: string) => `redis://:${password}@127.0.0.1:${redis.port}/0`;

describe("a start under a supervisor writes no secret", () => {
  test("generated tokens go to a 0600 file the log names; NATS_URL and Redis passwords authenticate and are never shown", async () => {
    const dataDir = tempDir();
    const run = start({
      DATA_DIR: dataDir,
      NATS_URL: natsUrl(NATS_PASSWORD),
      EVENT_BUS_REDIS_CONNECTION_URL: redisUrl(REDIS_PASSWORD),
      IDENTITY_HMAC_SECRET: HMAC,
    });
    let tokens: Record<string, string> = {};
    try {
      const banner = await run.line(/event-routing listening/);
      const file = join(dataDir, "generated-tokens.env");
      assert.equal(banner["tokensFile"], file);
      assert.deepEqual(banner["generatedTokens"], ["EMIT_TOKENS", "ADMIN_TOKENS"]);
      assert.equal(banner["nats"], `nats://***@127.0.0.1:${new URL(nats.url).port}`);
      const warning = await run.line(/no tokens configured/);
      assert.equal(warning["file"], file);
      assert.equal(statSync(file).mode & 0o777, 0o600, "readable by the service's user only");
      tokens = Object.fromEntries(
        [...readFileSync(file, "utf8").matchAll(/^([A-Z_]+)=(.+)$/gm)].map((m) => [m[1]!, m[2]!] as [string, string]),
      );
      assert.deepEqual(Object.keys(tokens).sort(), ["ADMIN_TOKENS", "EMIT_TOKENS"]);
      // The file's admin token is the service's.
      const admin = createClient(RouterAdminService, createGrpcTransport({ baseUrl: String(banner["url"]) }));
      await admin.listRouters({}, { headers: { authorization: `Bearer ${tokens["ADMIN_TOKENS"]}` } });
      // The Redis password in the URL authenticated (the input would otherwise retry with a warning).
      await run.line(/event bus: consuming from Redis/);
    } finally {
      assert.equal(await run.stop(), 0);
    }
    assertNoSecret(run.output(), {
      "the generated ADMIN_TOKENS": tokens["ADMIN_TOKENS"]!,
      "the generated EMIT_TOKENS": tokens["EMIT_TOKENS"]!,
      "the NATS password": NATS_PASSWORD,
      "the Redis password": REDIS_PASSWORD,
      IDENTITY_HMAC_SECRET: HMAC,
    });
  });

  test("bad secret variables stop start-up naming each variable and the rule, never the value (exit 2)", async () => {
    const secrets = {
      ADMIN_TOKENS: "Sh0rt-admin-t0ken",
      EMIT_TOKENS: "change-me-emit",
      IDENTITY_HMAC_SECRET: "Sh0rt-hmac",
      "the Redis password": REDIS_PASSWORD,
      "the NATS password": NATS_PASSWORD,
    };
    const run = start({
      DATA_DIR: tempDir(),
      ADMIN_TOKENS: secrets.ADMIN_TOKENS,
      EMIT_TOKENS: secrets.EMIT_TOKENS,
      IDENTITY_HMAC_SECRET: secrets.IDENTITY_HMAC_SECRET,
      EVENT_BUS_REDIS_CONNECTION_URL: `redis://:${REDIS_PASSWORD}@redis:notaport/0`,
      NATS_URL: `nats://${NATS_USER}:${NATS_PASSWORD}@nats:4222/not-a-path`,
    });
    assert.equal(await run.exited, 2);
    for (const name of ["ADMIN_TOKENS", "EMIT_TOKENS", "IDENTITY_HMAC_SECRET", "EVENT_BUS_REDIS_CONNECTION_URL", "NATS_URL"]) {
      assert.match(run.stderr(), new RegExp(`^  ${name}\\b`, "m"), `names ${name}`);
    }
    assert.match(run.stderr(), /EVENT_BUS_REDIS_CONNECTION_URL="redis:\/\/\*\*\*@redis:notaport\/0"/);
    assertNoSecret(run.output(), secrets);
  });

  test("a wrong NATS password: exit 3 naming NATS_URL without the password, and the server's refusal", async () => {
    const wrong = "WrongNatsPw-0b1c2d3e";
    const run = start({ DATA_DIR: tempDir(), NATS_URL: natsUrl(wrong), ...TOKENS });
    assert.equal(await run.exited, 3);
    assert.match(run.stderr(), /NATS_URL=nats:\/\/\*\*\*@127\.0\.0\.1:\d+: cannot connect \(.*authorization/i);
    assertNoSecret(run.output(), { "the wrong NATS password": wrong });
  });

  test("a wrong Redis password: the input retries with a warning that shows no password", async () => {
    const wrong = "WrongRedisPw-9a8b7c6d";
    const run = start({
      DATA_DIR: tempDir(),
      NATS_URL: natsUrl(NATS_PASSWORD),
      EVENT_BUS_REDIS_CONNECTION_URL: redisUrl(wrong),
      ...TOKENS,
    });
    try {
      // Signal handlers are installed before the banner: wait for it, so the SIGTERM below is a clean stop.
      await run.line(/event-routing listening/);
      const warning = await run.line(/event bus: Redis unreachable; retrying/);
      assert.match(String(warning["err"]), /WRONGPASS|invalid/i);
    } finally {
      assert.equal(await run.stop(), 0);
    }
    assertNoSecret(run.output(), { "the wrong Redis password": wrong, "the NATS password": NATS_PASSWORD });
  });
});

// util-linux `script` runs a command on a pseudo-terminal: the start as a person at a terminal sees it.
const SCRIPT = ["/usr/bin/script", "/bin/script"].find((p) => existsSync(p));

test("on a terminal the generated tokens are shown once, in the banner, and no file is written", {
  skip: SCRIPT === undefined,
}, async () => {
  const dataDir = tempDir();
  const child = spawn(SCRIPT!, ["-qfec", [process.execPath, ...serviceArgs()].join(" "), "/dev/null"], {
    env: { PATH: process.env["PATH"] ?? "", PORT: "0", DATA_DIR: dataDir, NATS_URL: natsUrl(NATS_PASSWORD), IDENTITY_HMAC_SECRET: HMAC },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const unhook = onTestExit(() => child.kill("SIGKILL"));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  let out = "";
  const banner = new Promise<RegExpExecArray>((resolve, reject) => {
    const look = (b: Buffer) => {
      out += b;
      const m = /EMIT_TOKENS\s+(\S+)\s+\(generated[^\n]*\n\s*ADMIN_TOKENS\s+(\S+)\s+\(generated/.exec(out);
      if (m) resolve(m);
    };
    child.stdout.on("data", look);
    child.stderr.on("data", look);
    void exited.then(() => reject(new Error(`exited before the banner: ${out}`)));
  });
  try {
    const [, emit, admin] = await banner;
    assert.match(emit!, /^[A-Za-z0-9][A-Za-z0-9_-]{42}$/);
    // A terminal gets the pretty log lines (LOG_FORMAT's default there), so the message is matched in any format.
    assert.match(out, /no tokens configured: generated tokens shown once in the banner/);
    for (const token of [emit!, admin!]) assert.equal(out.split(token).length - 1, 1, "shown exactly once");
    assert.equal(existsSync(join(dataDir, "generated-tokens.env")), false);
  } finally {
    child.kill("SIGTERM");
    await exited;
    unhook();
  }
});

describe("NATS_URL user info is used as the nats CLI uses it", () => {
  test("user:pass is a user and password, a lone user a token, percent-decoded; the URLs keep none of it", () => {
    assert.deepEqual(splitUrlCredentials("nats://us%40r:p%3As%2Fs@n1:4222, nats://us%40r:p%3As%2Fs@n2:4222"), {
      servers: ["nats://n1:4222", "nats://n2:4222"],
      credentials: { user: "us@r", pass: "p:s/s" },
    });
    assert.deepEqual(splitUrlCredentials("s3cr3t@n1:4222"), { servers: ["nats://n1:4222"], credentials: { token: "s3cr3t" } });
    assert.deepEqual(splitUrlCredentials("nats://n1:4222,tls://n2:4443"), {
      servers: ["nats://n1:4222", "tls://n2:4443"],
      credentials: undefined,
    });
  });

  test("nats://token@host authenticates to a nats-server with a token; without it the server refuses", async () => {
    const token = "NatsToken-5e6f7a8b9c0d";
    const withToken = await startNatsServer({ extraArgs: ["--auth", token] });
    try {
      const port = new URL(withToken.url).port;
      const nc = await connectNats(natsConnectOptions(NO_NATS_AUTH, `nats://${token}@127.0.0.1:${port}`));
      await nc.flush();
      await nc.close();
      await assert.rejects(connectNats(natsConnectOptions(NO_NATS_AUTH, `nats://127.0.0.1:${port}`)), /authorization/i);
    } finally {
      await withToken.stop();
    }
  });
});
