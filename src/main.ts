/**
 * Start command. Without NATS_URL it runs a local `nats-server -js` child (store under DATA_DIR), so the quick
 * start needs nothing else; with NATS_URL it joins an existing NATS (cluster).
 */
import { join, resolve } from "node:path";
import { pino } from "pino";
import { ConfigError, configHelp, loadConfig, type Config } from "./config.js";
import { NatsServerNotFoundError, NatsServerProcess } from "./nats/nats-server-process.js";
import { startService } from "./service.js";

async function main(): Promise<void> {
  if (process.argv.includes("--help") || process.argv.includes("-h")) {
    process.stdout.write(configHelp());
    return;
  }
  let config: Config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\nRun with --help for every variable and its default.\n`);
      process.exit(2);
    }
    throw e;
  }
  const logger = pino({ level: config.logLevel, base: { svc: "event-routing" } });

  let embedded: NatsServerProcess | undefined;
  let natsUrl = config.natsUrl;
  if (!natsUrl) {
    try {
      embedded = await NatsServerProcess.start({ bin: config.natsServerBin, storeDir: resolve(join(config.dataDir, "nats")) });
    } catch (e) {
      if (e instanceof NatsServerNotFoundError) {
        process.stderr.write(`${e.message}\n`);
        process.exit(1);
      }
      throw e;
    }
    natsUrl = embedded.url;
    logger.info(
      { nats: natsUrl, monitoring: embedded.monitorUrl, store: resolve(config.dataDir, "nats") },
      "started embedded nats-server (set NATS_URL to use your own)",
    );
  }

  const service = await startService({ ...config, natsUrl }, logger);
  logger.info(
    { address: `${config.host}:${service.port}`, tls: config.tlsCertFile !== undefined, nats: natsUrl },
    "event-routing listening (gRPC, gRPC-Web, Connect)",
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    try {
      await service.close();
      await embedded?.stop();
    } finally {
      process.exit(0);
    }
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
  // The embedded server is a child: make sure it never outlives us, even on a crash.
  process.once("exit", () => embedded?.killNow());
}

main().catch((e: unknown) => {
  process.stderr.write(`event-routing failed to start: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(1);
});
