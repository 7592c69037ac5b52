/**
 * A real LRS for end-to-end tests: Learning Locker's statements service (npm xapi-statements@5.0.1, GPL-3.0, a
 * test tool only, installed in test/lrs with its own lockfile: `npm ci --prefix test/lrs --ignore-scripts`).
 * It runs in memory (no MongoDB/Redis) with test auth, on a random 127.0.0.1 port forced by a preload
 * (XAPI-CALIPER-VALIDATION.md §1.4). Killed on process exit.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const LRS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../lrs");
const ENTRY = join(LRS_DIR, "node_modules/xapi-statements/dist/index.js");
const PRELOAD = join(LRS_DIR, "loopback-preload.cjs");

export function lrsInstalled(): boolean {
  return existsSync(ENTRY);
}

export interface TestLrs {
  /** xAPI base URL, e.g. http://127.0.0.1:PORT/xAPI (a router's endpoint_url). */
  readonly xapiUrl: string;
  /** GET one statement by id; undefined on 404. */
  getStatement(id: string): Promise<Record<string, unknown> | undefined>;
  /** Every statement stored, following `more` links. */
  allStatements(): Promise<Record<string, unknown>[]>;
  stop(): Promise<void>;
}

const XAPI_HEADERS = { "X-Experience-API-Version": "1.0.3", Authorization: "Basic dGVzdDp0ZXN0" };

export async function startLrs(): Promise<TestLrs> {
  if (!lrsInstalled()) throw new Error(`xapi-statements is not installed; run: npm ci --prefix test/lrs --ignore-scripts`);
  const dir = mkdtempSync(join(tmpdir(), "er-lrs-"));
  const child: ChildProcess = spawn(process.execPath, ["-r", PRELOAD, ENTRY], {
    cwd: dir,
    stdio: ["ignore", "ignore", "pipe", "ipc"],
    env: {
      ...process.env,
      EXPRESS_PORT: "1",
      AUTH_REPO: "test",
      EVENTS_REPO: "test",
      MODELS_REPO: "memory",
      STORAGE_REPO: "local",
      FS_LOCAL_STORAGE_DIR: join(dir, "storage"),
      EXPRESS_MORGAN_DIRECTORY: join(dir, "storage/accessLogs"),
      WINSTON_CONSOLE_LEVEL: "error",
      SERVICE_AWAIT_UPDATES: "true",
      AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE: "1",
    },
  });
  const kill = () => child.kill("SIGKILL");
  process.once("exit", kill);
  let stderr = "";
  child.stderr?.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`LRS did not start in 30 s: ${stderr}`)), 30_000);
    child.on("message", (m: { lrsPort?: number }) => {
      if (m.lrsPort) {
        clearTimeout(timer);
        resolvePort(m.lrsPort);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`LRS exited (${code}): ${stderr}`));
    });
  });
  const base = `http://127.0.0.1:${port}/xAPI`;
  const deadline = Date.now() + 20_000;
  while (
    !(await fetch(`${base}/about`)
      .then((r) => r.ok)
      .catch(() => false))
  ) {
    if (Date.now() > deadline) throw new Error(`LRS not answering: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    xapiUrl: base,
    async getStatement(id) {
      const r = await fetch(`${base}/statements?statementId=${encodeURIComponent(id)}`, { headers: XAPI_HEADERS });
      if (r.status === 404) return undefined;
      if (!r.ok) throw new Error(`GET statement ${id}: HTTP ${r.status} ${await r.text()}`);
      return (await r.json()) as Record<string, unknown>;
    },
    async allStatements() {
      const out: Record<string, unknown>[] = [];
      let next: string | undefined = `${base}/statements?limit=100`;
      while (next) {
        const r = await fetch(next, { headers: XAPI_HEADERS });
        if (!r.ok) throw new Error(`GET statements: HTTP ${r.status} ${await r.text()}`);
        const body = (await r.json()) as { statements: Record<string, unknown>[]; more?: string };
        out.push(...body.statements);
        next = body.more ? new URL(body.more, `http://127.0.0.1:${port}`).toString() : undefined;
      }
      return out;
    },
    async stop() {
      process.removeListener("exit", kill);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((r) => child.once("exit", () => r()));
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 3000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
