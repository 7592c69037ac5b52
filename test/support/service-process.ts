/**
 * The service as its own OS process (`node --import tsx src/main.ts`), for fault tests that must SIGKILL it: an
 * in-process service cannot be killed without killing the test. The child's pino lines are parsed and kept across
 * restarts, so a test can read what every incarnation logged (e.g. the ids of statements dropped by policy).
 * The child is SIGKILLed when the test process exits, even after a crash.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { EventRoutingService } from "../../gen/eventrouting/v1/event_routing_service_pb.js";
import { RouterAdminService } from "../../gen/eventrouting/v1/router_admin_service_pb.js";
import { onTestExit } from "./nats-server.js";
import { serviceArgs } from "./entrypoints.js";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export const FAULT_TOKEN = "fault-suite-token-cccccccccccccccc";
export const authed = { headers: { authorization: `Bearer ${FAULT_TOKEN}` } };

/** Short delivery timings so retries, exhaustion and redelivery after a crash all happen within seconds. */
export const FAST_DELIVERY_ENV: Record<string, string> = {
  DELIVERY_BATCH_SIZE: "20",
  DELIVERY_BATCH_INTERVAL_MS: "50",
  DELIVERY_MAX_RETRIES: "5",
  DELIVERY_COUNTDOWN_MS: "1000",
  DELIVERY_HTTP_TIMEOUT_MS: "400",
};

export interface ServiceClients {
  readonly events: Client<typeof EventRoutingService>;
  readonly admin: Client<typeof RouterAdminService>;
}

export type LogLine = Record<string, unknown> & { msg?: string };

export class ServiceProcess {
  /** Every JSON log line of every incarnation, in order. */
  readonly lines: LogLine[] = [];
  private child: ChildProcess | undefined;
  private cached: (ServiceClients & { port: number }) | undefined;
  private exited: Promise<void> = Promise.resolve();
  private unhook: () => void = () => {};
  port = 0;
  /** How many times it was started. */
  starts = 0;

  private constructor(private readonly env: Record<string, string>) {}

  /** Starts the service against `natsUrl` (comma-separated for a cluster) with test tokens and fast delivery. */
  static async start(natsUrl: string, env: Record<string, string> = {}): Promise<ServiceProcess> {
    const s = new ServiceProcess({
      NATS_URL: natsUrl,
      PORT: "0",
      EMIT_TOKENS: FAULT_TOKEN,
      ADMIN_TOKENS: FAULT_TOKEN,
      IDENTITY_HMAC_SECRET: "fault-suite-hmac-secret-0123456789",
      LOG_RPCS: "false",
      SHUTDOWN_GRACE_MS: "1000",
      SHUTDOWN_DRAIN_DELAY_MS: "0",
      ...FAST_DELIVERY_ENV,
      ...env,
    });
    await s.spawn();
    return s;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Clients of the current incarnation (the port changes on every start). */
  clients(): ServiceClients {
    if (this.cached?.port !== this.port) {
      const transport = createGrpcTransport({ baseUrl: this.url });
      this.cached = {
        port: this.port,
        events: createClient(EventRoutingService, transport),
        admin: createClient(RouterAdminService, transport),
      };
    }
    return this.cached;
  }

  private async spawn(): Promise<void> {
    const child = spawn(process.execPath, serviceArgs(), {
      cwd: REPO_ROOT,
      env: { ...process.env, ...this.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    this.starts++;
    this.unhook();
    this.unhook = onTestExit(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
    this.exited = new Promise((r) => child.once("exit", () => r()));
    let stderr = "";
    child.stderr!.on("data", (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-4000);
    });
    const listening = new Promise<number>((resolve, reject) => {
      let buf = "";
      child.stdout!.on("data", (b: Buffer) => {
        buf += b.toString("utf8");
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
          const text = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!text.trim()) continue;
          let line: LogLine;
          try {
            line = JSON.parse(text) as LogLine;
          } catch {
            continue;
          }
          line["incarnation"] = this.starts;
          this.lines.push(line);
          const m = line.msg?.startsWith("event-routing listening") ? /:(\d+)$/.exec(String(line["address"])) : null;
          if (m) resolve(Number(m[1]));
        }
      });
      child.once("exit", (code, signal) => reject(new Error(`service exited (${code ?? signal}) before listening: ${stderr.trim()}`)));
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    try {
      this.port = await listening;
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL: no shutdown path runs, whatever the service held is left to JetStream's ack wait. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child!.kill("SIGKILL");
    await this.exited;
  }

  /** Starts a new incarnation with the same environment. */
  async restart(): Promise<void> {
    await this.kill();
    await this.spawn();
  }

  /** SIGTERM (graceful), then SIGKILL after 10 s. */
  async stop(): Promise<void> {
    if (!this.running) return;
    const timer = setTimeout(() => this.child?.kill("SIGKILL"), 10_000);
    this.child!.kill("SIGTERM");
    await this.exited;
    clearTimeout(timer);
    this.unhook();
  }

  /** Statement ids the service logged as dropped by policy (non-critical and exhausted), by any incarnation. */
  droppedIds(routerId: string): Set<string> {
    const out = new Set<string>();
    for (const l of this.lines) {
      if (l["routerId"] !== routerId || !/dropped/.test(l.msg ?? "")) continue;
      const ids = l["statementIds"];
      if (Array.isArray(ids)) for (const id of ids) out.add(String(id));
    }
    return out;
  }

  /** Log lines at error level or above (pino level 50+), for the failure message of a test. */
  errors(): LogLine[] {
    return this.lines.filter((l) => Number(l["level"]) >= 50);
  }
}
