/**
 * Log formats: LOG_FORMAT=pretty prints one readable line per entry (pure formatter tested here), JSON stays the
 * default when stdout is not a terminal, and a real service (src/main.ts with its embedded nats-server) ends
 * with a "stopped" line after SIGTERM, in either format.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { formatLogLine, resolveLogFormat } from "../src/startup/pretty-log.js";
import { serviceArgs } from "./support/entrypoints.js";

test("a pino line becomes time, level, message and key=value fields; errors keep their stack; other lines pass", () => {
  const time = new Date(2026, 11, 7, 16, 47, 48, 123).getTime();
  const line = JSON.stringify({
    level: 30,
    time,
    pid: 1,
    hostname: "h",
    svc: "event-routing",
    msg: "router created",
    routerId: "my-lrs",
    revision: 3,
    note: "two words",
    changed: ["enabled"],
  });
  assert.equal(
    formatLogLine(line, false),
    '16:47:48.123 INFO  router created routerId=my-lrs revision=3 note="two words" changed=["enabled"]',
  );
  assert.ok(formatLogLine(line, true).startsWith("16:47:48.123 \u001b[32mINFO \u001b[0m router created"), "the level in colour");
  const err = JSON.stringify({
    level: 50,
    time,
    msg: "failed",
    err: { type: "Error", message: "boom", stack: "Error: boom\n    at f (x.ts:1:1)" },
  });
  assert.equal(formatLogLine(err, false), "16:47:48.123 ERROR failed\n    Error: boom\n        at f (x.ts:1:1)");
  const statement = '{"time":"2026-12-01T16:00:00.000Z","statement_id":"x"}';
  assert.equal(formatLogLine(statement, false), statement, "statement log lines (no level) pass unchanged");
  assert.equal(formatLogLine("not json", false), "not json");
});

test("pretty only for a terminal unless LOG_FORMAT says", () => {
  assert.equal(resolveLogFormat(undefined, true), "pretty");
  assert.equal(resolveLogFormat(undefined, false), "json");
  assert.equal(resolveLogFormat("json", true), "json");
  assert.equal(resolveLogFormat("pretty", false), "pretty");
});

/** Starts the service, waits for its listening line, sends SIGTERM, and returns every stdout line. */
async function runAndStop(env: Record<string, string>, listening: RegExp): Promise<{ code: number | null; lines: string[] }> {
  const dataDir = mkdtempSync(join(tmpdir(), "er-logfmt-"));
  try {
    const child = spawn(process.execPath, serviceArgs(), {
      env: {
        ...process.env,
        NATS_URL: "",
        PORT: "0",
        DATA_DIR: dataDir,
        EMIT_TOKENS: "test-emit-token-0123456789abcdef",
        ADMIN_TOKENS: "test-admin-token-0123456789abcdef",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", () => listening.test(out) && resolve());
      void exited.then((code) => reject(new Error(`exited ${code} before listening: ${out}`)));
    });
    child.kill("SIGTERM");
    const code = await exited;
    return { code, lines: out.trimEnd().split("\n") };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

test("LOG_FORMAT=pretty: readable lines from start to the final stopped line", { timeout: 120_000 }, async () => {
  const { code, lines } = await runAndStop({ LOG_FORMAT: "pretty" }, /INFO {2}event-routing listening .*address=\S+/);
  assert.equal(code, 0);
  assert.ok(
    lines.every((l) => !l.startsWith("{")),
    lines.join("\n"),
  );
  assert.ok(lines.some((l) => /^\d\d:\d\d:\d\d\.\d{3} INFO {2}started embedded nats-server/.test(l)));
  assert.match(lines.at(-1)!, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}stopped signal=SIGTERM durationMs=\d+$/);
});

test("JSON by default on a pipe, and the last line says the service stopped", { timeout: 120_000 }, async () => {
  const { code, lines } = await runAndStop({ LOG_FORMAT: "" }, /"msg":"event-routing listening/);
  assert.equal(code, 0);
  const parsed = lines.map((l) => JSON.parse(l) as { msg: string; signal?: string });
  assert.equal(parsed.at(-1)!.msg, "stopped");
  assert.equal(parsed.at(-1)!.signal, "SIGTERM");
  assert.ok(parsed.findIndex((l) => l.msg === "shutting down") < parsed.length - 1);
});
