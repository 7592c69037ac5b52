/**
 * Test harness: a real nats-server per test file (random ports, temp store), killed on exit even when a test
 * crashes, restartable on the same ports and store for fault tests. NATS_SERVER_BIN overrides the binary.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connectNats } from "../../src/nats/connection.js";
import type { NatsNames } from "../../src/nats/names.js";
import { NatsServerProcess } from "../../src/nats/nats-server-process.js";
import { ensureStreams } from "../../src/nats/streams.js";

const live = new Set<{ server: NatsServerProcess; dir: string }>();
const exitHooks = new Set<() => void>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", () => {
    for (const { server, dir } of live) {
      server.killNow();
      if (!process.env["KEEP_NATS_DIRS"]) rmSync(dir, { recursive: true, force: true });
    }
    for (const h of exitHooks) h();
  });
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => process.exit(130));
}

/**
 * Runs `kill` (synchronous: a SIGKILL, a temp dir removal) when the test process exits, even after a crash, like the
 * servers above; for other children the fault tests start. Returns the unregister function.
 */
export function onTestExit(kill: () => void): () => void {
  hookExit();
  exitHooks.add(kill);
  return () => exitHooks.delete(kill);
}

export interface TestNatsServer {
  readonly server: NatsServerProcess;
  readonly url: string;
  readonly monitorUrl: string;
  restart(opts?: { crash?: boolean; downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

/** `extraArgs` go to nats-server as they are (TLS flags, `-c config`). */
export async function startNatsServer(opts: { extraArgs?: readonly string[] } = {}): Promise<TestNatsServer> {
  hookExit();
  const dir = mkdtempSync(join(tmpdir(), "er-nats-"));
  const server = await NatsServerProcess.start({
    bin: process.env["NATS_SERVER_BIN"] ?? "nats-server",
    storeDir: join(dir, "js"),
    portsDir: dir,
    ...(opts.extraArgs ? { extraArgs: opts.extraArgs } : {}),
  });
  const entry = { server, dir };
  live.add(entry);
  return {
    server,
    get url() {
      return server.url;
    },
    get monitorUrl() {
      return server.monitorUrl;
    },
    restart: (opts) => server.restart(opts),
    async stop() {
      await server.stop();
      live.delete(entry);
      if (!process.env["KEEP_NATS_DIRS"]) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A test nats-server with a connection and the service's streams provisioned: the usual start of a test file. */
export async function startJetStream(names: NatsNames) {
  const nats = await startNatsServer();
  const nc = await connectNats({ servers: nats.url });
  await ensureStreams(nc, names, { replicas: 1, deliveryMaxAgeHours: 1 });
  return { nats, nc, js: jetstream(nc), jsm: await jetstreamManager(nc) };
}
