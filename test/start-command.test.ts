import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { promisify } from "node:util";

const exec = promisify(execFile);

async function start(env: Record<string, string>, args: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, ["--import", "tsx", "src/main.ts", ...args], { env: { ...process.env, ...env }, timeout: 30_000 });
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
