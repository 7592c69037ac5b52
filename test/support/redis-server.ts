/**
 * Test harness: a real redis-server per test file (random port, temp dir), killed on exit even when a test
 * crashes, restartable on the same port and data for fault tests. REDIS_SERVER_BIN overrides the binary.
 *
 * Persistence is on (append-only file, fsync every write) so a restart keeps the stream, its consumer groups and
 * their pending entries, as a production Redis with AOF does; without it a restart would empty the stream and a
 * "nothing lost" test would prove nothing.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sleep } from "../../src/backoff.js";
import { freePort } from "./free-port.js";

const live = new Set<TestRedisServer>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", () => {
    for (const s of live) s.killNow();
  });
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => process.exit(130));
}

async function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

export class TestRedisServer {
  private child: ChildProcess | undefined;
  private stderr = "";

  private constructor(
    readonly dir: string,
    public port: number,
  ) {}

  static async start(): Promise<TestRedisServer> {
    hookExit();
    const dir = mkdtempSync(join(tmpdir(), "er-redis-"));
    // Another process may take the port between freePort() and the bind: try a few.
    for (let attempt = 0; ; attempt++) {
      const server = new TestRedisServer(dir, await freePort());
      try {
        await server.spawn();
        live.add(server);
        return server;
      } catch (e) {
        if (attempt >= 4) {
          rmSync(dir, { recursive: true, force: true });
          throw e;
        }
      }
    }
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  private async spawn(): Promise<void> {
    const bin = process.env["REDIS_SERVER_BIN"] ?? "/usr/bin/redis-server";
    const args = [
      "--port",
      String(this.port),
      "--bind",
      "127.0.0.1",
      "--dir",
      this.dir,
      "--save",
      "",
      "--appendonly",
      "yes",
      "--appendfsync",
      "always",
      "--daemonize",
      "no",
      "--logfile",
      "",
    ];
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    this.stderr = "";
    const keep = (b: Buffer) => {
      this.stderr = (this.stderr + b.toString()).slice(-4000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    let exited = false;
    child.once("exit", () => {
      exited = true;
    });
    const deadline = Date.now() + 15_000;
    while (!(await acceptsConnections(this.port))) {
      if (exited) throw new Error(`redis-server exited during start-up: ${this.stderr.trim()}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${this.port}: ${this.stderr.trim()}`);
      await sleep(20);
    }
  }

  /** SIGTERM (Redis flushes the append-only file and exits), or SIGKILL with `crash`. */
  async stop(opts: { crash?: boolean } = {}): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill(opts.crash ? "SIGKILL" : "SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }

  /** Stops, optionally waits, and starts again on the same port and data directory. */
  async restart(opts: { crash?: boolean; downMs?: number } = {}): Promise<void> {
    await this.stop(opts);
    if (opts.downMs) await sleep(opts.downMs);
    await this.spawn();
  }

  /** Stops for good and removes the data directory. */
  async close(): Promise<void> {
    await this.stop();
    live.delete(this);
    if (!process.env["KEEP_REDIS_DIRS"]) rmSync(this.dir, { recursive: true, force: true });
  }

  killNow(): void {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    if (!process.env["KEEP_REDIS_DIRS"]) rmSync(this.dir, { recursive: true, force: true });
  }
}
