import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { promisify } from "node:util";
import { serviceArgs } from "./support/entrypoints.js";

const exec = promisify(execFile);

async function start(env: Record<string, string>, args: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [...serviceArgs(), ...args], {
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
    const child = spawn(process.execPath, serviceArgs(), {
      env: {
        ...process.env,
        NATS_URL: "",
        PORT: "0",
        DATA_DIR: dataDir,
        EMIT_TOKENS: "start-command-emit-token-0123456789",
        ADMIN_TOKENS: "start-command-admin-token-0123456789",
        SHUTDOWN_DRAIN_DELAY_MS: "0",
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

test("npm start: SIGTERM to the npm process alone stops node and its nats-server", { timeout: 120_000 }, async () => {
  const { spawn } = await import("node:child_process");
  const { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join, resolve } = await import("node:path");
  const { build } = await import("esbuild");
  const { onTestExit } = await import("./support/nats-server.js");
  // The start script as npm runs it, on a bundle built as `npm run build` builds it (its prestart is skipped).
  const app = mkdtempSync(join(tmpdir(), "er-npm-start-"));
  try {
    cpSync("package.json", join(app, "package.json"));
    symlinkSync(resolve("node_modules"), join(app, "node_modules"));
    await build({
      entryPoints: ["src/main.ts"],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "external",
      outfile: join(app, "dist", "main.js"),
      logLevel: "warning",
    });
    const npm = spawn("npm", ["start", "--ignore-scripts"], {
      cwd: app,
      env: {
        ...process.env,
        NATS_URL: "",
        PORT: "0",
        DATA_DIR: join(app, "data"),
        EMIT_TOKENS: "start-command-emit-token-0123456789",
        ADMIN_TOKENS: "start-command-admin-token-0123456789",
        SHUTDOWN_DRAIN_DELAY_MS: "0",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const pids: number[] = [];
    onTestExit(() => {
      for (const pid of [npm.pid!, ...pids]) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // gone
        }
      }
    });
    const exited = new Promise<number | null>((r) => npm.on("exit", (code) => r(code)));
    const natsPid = await new Promise<number>((resolveLine, reject) => {
      let out = "";
      npm.stdout!.on("data", (b: Buffer) => {
        out += b;
        const m = /"pid":(\d+).*started embedded nats-server[^\n]*\n[\s\S]*event-routing listening/.exec(out);
        if (m) resolveLine(Number(m[1]));
      });
      void exited.then((code) => reject(new Error(`npm exited ${code} before listening: ${out}`)));
    });
    // The service's pid is its nats-server's parent (field 4 of /proc/<pid>/stat).
    const stat = readFileSync(`/proc/${natsPid}/stat`, "utf8");
    const nodePid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    pids.push(nodePid, natsPid);
    assert.notEqual(nodePid, npm.pid);
    npm.kill("SIGTERM");
    await exited;
    assert.throws(() => process.kill(nodePid, 0), "node stopped with npm");
    assert.throws(() => process.kill(natsPid, 0), "its nats-server stopped with it");
  } finally {
    rmSync(app, { recursive: true, force: true });
  }
});
