/**
 * Runs a local `nats-server -js` child: for the quick start (no NATS_URL) and for tests. Ports are chosen by the
 * server (-p -1 -m -1) and read back from its ports file, so nothing clashes with a system nats-server.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { basename, delimiter, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export interface NatsServerOptions {
  /** Binary name or path; searched on PATH, then /usr/sbin and /usr/local/bin. */
  readonly bin: string;
  /** JetStream store directory. */
  readonly storeDir: string;
  /** Where the ports file is written (defaults to storeDir). */
  readonly portsDir?: string;
  /** Fixed ports, e.g. to restart on the same ones; default random. */
  readonly port?: number;
  readonly monitorPort?: number;
  readonly startTimeoutMs?: number;
  /** More nats-server arguments, e.g. TLS flags or `-c file` (tests of TLS and authentication). */
  readonly extraArgs?: readonly string[];
  /**
   * The server gets SIGTERM when this process dies, even by SIGKILL (Linux's parent-death signal, set by util-linux
   * `setpriv` before it execs the server; without setpriv the start command's orphan sweep is the only guard).
   */
  readonly dieWithParent?: boolean;
}

export class NatsServerNotFoundError extends Error {
  override name = "NatsServerNotFoundError";
}

/** A binary by name on PATH (then the sbin directories), or the path given when it exists. */
export function resolveNatsServerBin(bin: string): string | undefined {
  if (bin.includes("/")) return existsSync(bin) ? bin : undefined;
  const dirs = [...(process.env["PATH"] ?? "").split(delimiter), "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"];
  for (const d of dirs) {
    if (d && existsSync(join(d, bin))) return join(d, bin);
  }
  return undefined;
}

export class NatsServerProcess {
  private child: ChildProcess | undefined;
  private stderr = "";
  port = 0;
  monitorPort = 0;

  private constructor(
    private readonly exe: string,
    private readonly opts: NatsServerOptions,
  ) {}

  static async start(opts: NatsServerOptions): Promise<NatsServerProcess> {
    const exe = resolveNatsServerBin(opts.bin);
    if (!exe) {
      throw new NatsServerNotFoundError(
        `nats-server not found (looked for "${opts.bin}"). Install it with: apt-get install -y nats-server ` +
          `(or set NATS_SERVER_BIN to its path), or set NATS_URL to an existing NATS server with JetStream.`,
      );
    }
    const server = new NatsServerProcess(exe, opts);
    await server.spawn(opts.port ?? -1, opts.monitorPort ?? -1);
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get monitorUrl(): string {
    return `http://127.0.0.1:${this.monitorPort}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private async spawn(port: number, monitorPort: number): Promise<void> {
    const portsDir = this.opts.portsDir ?? this.opts.storeDir;
    mkdirSync(this.opts.storeDir, { recursive: true });
    mkdirSync(portsDir, { recursive: true });
    const args = [
      "-a",
      "127.0.0.1",
      "-p",
      String(port),
      "-m",
      String(monitorPort),
      "-js",
      "-sd",
      this.opts.storeDir,
      "--ports_file_dir",
      portsDir,
      ...(this.opts.extraArgs ?? []),
    ];
    const setpriv = this.opts.dieWithParent && process.platform === "linux" ? resolveNatsServerBin("setpriv") : undefined;
    // setpriv execs the server: the child's pid, and its ports file's name, are the server's.
    const child = setpriv
      ? spawn(setpriv, ["--pdeathsig", "SIGTERM", "--", this.exe, ...args], { stdio: ["ignore", "ignore", "pipe"] })
      : spawn(this.exe, args, { stdio: ["ignore", "ignore", "pipe"] });
    this.child = child;
    this.stderr = "";
    child.stderr?.on("data", (b: Buffer) => {
      this.stderr = (this.stderr + b.toString()).slice(-4000);
    });
    const exited = new Promise<never>((_, reject) =>
      child.once("exit", (code, signal) =>
        reject(new Error(`nats-server exited during start-up (code ${code}, signal ${signal}): ${this.stderr.trim()}`)),
      ),
    );
    exited.catch(() => {});
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? 20_000);
    try {
      await Promise.race([exited, this.waitReady(portsDir, child.pid!, deadline)]);
    } catch (e) {
      // Never ready (timeout, unhealthy JetStream): the caller gets no handle to stop it, so it is stopped here.
      this.killNow();
      throw e;
    }
  }

  private async waitReady(portsDir: string, pid: number, deadline: number): Promise<void> {
    const portsFile = join(portsDir, `${basename(this.exe)}_${pid}.ports`);
    while (!existsSync(portsFile)) {
      if (Date.now() > deadline) throw new Error(`nats-server did not write ${portsFile}: ${this.stderr.trim()}`);
      await sleep(25);
    }
    let ports: { nats?: string[]; monitoring?: string[] } = {};
    while (!ports.nats?.length || !ports.monitoring?.length) {
      try {
        ports = JSON.parse(readFileSync(portsFile, "utf8")) as typeof ports;
      } catch {
        // The file may be half written; read again.
      }
      if (Date.now() > deadline) throw new Error("nats-server ports file incomplete");
      if (!ports.nats?.length) await sleep(25);
    }
    this.port = Number(new URL(ports.nats[0]!).port);
    this.monitorPort = Number(new URL(ports.monitoring[0]!).port);
    await waitTcp(this.port, deadline);
    while (true) {
      try {
        const res = await fetch(`${this.monitorUrl}/healthz?js-enabled-only=true`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`nats-server JetStream not healthy: ${this.stderr.trim()}`);
      await sleep(25);
    }
  }

  /** Stops the server: SIGTERM, then SIGKILL after graceMs. `crash` sends SIGKILL at once. */
  async stop(opts: { crash?: boolean; graceMs?: number } = {}): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill(opts.crash ? "SIGKILL" : "SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.graceMs ?? 5000);
    await exited;
    clearTimeout(timer);
  }

  /** Stops and starts again on the same ports and store: for fault tests. */
  async restart(opts: { crash?: boolean; downMs?: number } = {}): Promise<void> {
    await this.stop(opts);
    if (opts.downMs) await sleep(opts.downMs);
    const portsDir = this.opts.portsDir ?? this.opts.storeDir;
    for (const f of readdirSync(portsDir))
      if (f.endsWith(".ports")) {
        try {
          rmSync(join(portsDir, f));
        } catch {
          // already gone
        }
      }
    await this.spawn(this.port, this.monitorPort);
  }

  /** Synchronous kill for process-exit hooks. */
  killNow(): void {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }
}

async function waitTcp(port: number, deadline: number): Promise<void> {
  while (true) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = tcpConnect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nats-server port ${port} not accepting connections`);
    await sleep(25);
  }
}
