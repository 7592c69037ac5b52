import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { promisify } from "node:util";

const exec = promisify(execFile);

async function start(env: Record<string, string>, args: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
      env: { ...process.env, ...env },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

test("without NATS_URL and without nats-server, start says exactly what to install", async () => {
  const r = await start({ NATS_SERVER_BIN: "/nonexistent/nats-server", NATS_URL: "" });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /apt-get install -y nats-server/);
  assert.match(r.stderr, /NATS_URL/);
});

test("a bad variable stops start-up naming it", async () => {
  const r = await start({ PORT: "http" });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /PORT="http": expected a whole number/);
});

test("--help lists every variable with its default", async () => {
  const r = await start({}, ["--help"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /NATS_URL/);
  assert.match(r.stdout, /default: 8080/);
});

test("without NATS_URL, start runs its own nats-server, serves, and stops both on SIGTERM", async () => {
  const { spawn } = await import("node:child_process");
  const { mkdtempSync, readdirSync, readFileSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { createClient } = await import("@connectrpc/connect");
  const { createGrpcTransport } = await import("@connectrpc/connect-node");
  const { Health, HealthCheckResponse_ServingStatus } = await import("../gen/grpc/health/v1/health_pb.js");
  const dataDir = mkdtempSync(join(tmpdir(), "er-start-"));
  try {
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      env: {
        ...process.env,
        NATS_URL: "",
        PORT: "0",
        DATA_DIR: dataDir,
        EMIT_TOKENS: "start-command-emit-token-0123456789",
        ADMIN_TOKENS: "start-command-admin-token-0123456789",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    const address = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (b: Buffer) => {
        out += b;
        const m = /"address":"([^"]+)".*event-routing listening/.exec(out);
        if (m) resolve(m[1]!);
      });
      void exited.then((code) => reject(new Error(`exited ${code} before listening: ${out}`)));
    });
    const health = createClient(Health, createGrpcTransport({ baseUrl: `http://${address}` }));
    assert.equal((await health.check({ service: "" })).status, HealthCheckResponse_ServingStatus.SERVING);

    const portsFile = readdirSync(join(dataDir, "nats")).find((f) => f.endsWith(".ports"))!;
    const natsPid = Number(/_(\d+)\.ports$/.exec(portsFile)![1]);
    assert.ok(JSON.parse(readFileSync(join(dataDir, "nats", portsFile), "utf8")).nats[0]);
    child.kill("SIGTERM");
    assert.equal(await exited, 0);
    assert.throws(() => process.kill(natsPid, 0), "the embedded nats-server is gone");
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
