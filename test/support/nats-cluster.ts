/**
 * Test harness: a 3-node NATS cluster with JetStream (one store dir and server_name per node), on loopback ports
 * found free at start, for fault tests that kill a stream leader. Each node gets a config file (the cluster block
 * and server_name need one); a node can be SIGKILLed and started again on the same ports and store. start()
 * resolves once every node reports the same JetStream meta leader. Nodes are SIGKILLed and their dirs removed when
 * the test process exits, even after a crash. NATS_SERVER_BIN overrides the binary.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveNatsServerBin } from "../../src/nats/nats-server-process.js";
import { freePort } from "./free-port.js";
import { waitUntil } from "./http-endpoints.js";
import { onTestExit } from "./nats-server.js";

const CLUSTER_NAME = "fault-cluster";

export class ClusterNode {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stderr = "";

  constructor(
    readonly name: string,
    private readonly exe: string,
    private readonly configFile: string,
    readonly port: number,
    readonly monitorPort: number,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get monitorUrl(): string {
    return `http://127.0.0.1:${this.monitorPort}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Spawns the node; resolves once its monitoring port answers (cluster readiness is the cluster's job). */
  async start(): Promise<void> {
    const child = spawn(this.exe, ["-c", this.configFile], { stdio: ["ignore", "ignore", "pipe"] });
    this.child = child;
    this.stderr = "";
    child.stderr!.on("data", (b: Buffer) => {
      this.stderr = (this.stderr + b.toString()).slice(-4000);
    });
    this.exited = new Promise((r) => child.once("exit", () => r()));
    await waitUntil(
      async () => {
        if (!this.running) throw new Error(`nats-server ${this.name} exited: ${this.stderr.trim()}`);
        return fetch(`${this.monitorUrl}/varz`).then(
          (r) => r.ok,
          () => false,
        );
      },
      20_000,
      `nats-server ${this.name} monitoring port`,
    );
  }

  /** SIGKILL: no leadership hand-off, no flush. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child!.kill("SIGKILL");
    await this.exited;
  }

  killNow(): void {
    if (this.running) this.child!.kill("SIGKILL");
  }

  /** This node's view of the JetStream meta group: leader name, or undefined while there is none. */
  async metaLeader(): Promise<string | undefined> {
    try {
      const jsz = (await (await fetch(`${this.monitorUrl}/jsz`)).json()) as { meta_cluster?: { leader?: string } };
      return jsz.meta_cluster?.leader || undefined;
    } catch {
      return undefined;
    }
  }

  async healthy(): Promise<boolean> {
    return fetch(`${this.monitorUrl}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
  }
}

export interface NatsCluster {
  readonly nodes: readonly ClusterNode[];
  /** Every node's client URL, comma-separated (NATS_URL for the service). */
  readonly urls: string;
  node(name: string): ClusterNode;
  /** Every running node agrees on one meta leader and answers /healthz. */
  waitReady(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  const exe = resolveNatsServerBin(process.env["NATS_SERVER_BIN"] ?? "nats-server");
  if (!exe) throw new Error("nats-server not found (apt-get install -y nats-server, or set NATS_SERVER_BIN)");
  const dir = mkdtempSync(join(tmpdir(), "er-natscluster-"));
  const ports = await Promise.all(Array.from({ length: size * 3 }, freePort));
  const specs = Array.from({ length: size }, (_, i) => ({
    name: `n${i + 1}`,
    port: ports[i * 3]!,
    monitor: ports[i * 3 + 1]!,
    cluster: ports[i * 3 + 2]!,
  }));
  const nodes = specs.map((s) => {
    const store = join(dir, s.name);
    mkdirSync(store, { recursive: true });
    const routes = specs.filter((o) => o !== s).map((o) => `nats-route://127.0.0.1:${o.cluster}`);
    const config = [
      `server_name: ${s.name}`,
      `listen: 127.0.0.1:${s.port}`,
      `http: 127.0.0.1:${s.monitor}`,
      `jetstream { store_dir: "${store}", max_memory_store: 256MB, max_file_store: 2GB }`,
      `cluster { name: ${CLUSTER_NAME}, listen: 127.0.0.1:${s.cluster}, routes: [${routes.join(", ")}] }`,
    ].join("\n");
    const file = join(dir, `${s.name}.conf`);
    writeFileSync(file, `${config}\n`);
    return new ClusterNode(s.name, exe, file, s.port, s.monitor);
  });
  const unhook = onTestExit(() => {
    for (const n of nodes) n.killNow();
    if (!process.env["KEEP_NATS_DIRS"]) rmSync(dir, { recursive: true, force: true });
  });
  const cluster: NatsCluster = {
    nodes,
    urls: nodes.map((n) => n.url).join(","),
    node(name) {
      const n = nodes.find((x) => x.name === name);
      if (!n) throw new Error(`no cluster node ${name}`);
      return n;
    },
    async waitReady(timeoutMs = 60_000) {
      await waitUntil(
        async () => {
          const up = nodes.filter((n) => n.running);
          const leaders = await Promise.all(up.map((n) => n.metaLeader()));
          if (leaders.some((l) => l === undefined) || new Set(leaders).size !== 1) return false;
          return (await Promise.all(up.map((n) => n.healthy()))).every(Boolean);
        },
        timeoutMs,
        "JetStream meta leader agreed by every running node",
      );
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.kill()));
      unhook();
      if (!process.env["KEEP_NATS_DIRS"]) rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(nodes.map((n) => n.start()));
    await cluster.waitReady();
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}
