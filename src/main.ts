/**
 * Start command. Without NATS_URL it runs a local `nats-server -js` child (store under DATA_DIR), so the quick
 * start needs nothing else; with NATS_URL it joins an existing NATS (cluster).
 *
 * The embedded nats-server never outlives this process: every way out (a failed start, a bad setting found after
 * the child started, a port in use, an uncaught error, a signal) goes through `exit()`, which stops the child
 * first, and a synchronous exit hook SIGKILLs it if anything else ends the process. Errors an operator can fix
 * (settings, ports, files, an unreachable NATS) print one line without a stack (startup-errors.ts); only bugs
 * print a stack.
 */
import { join, resolve } from "node:path";
import { pino, type Logger } from "pino";
import { ConfigError, configHelp, loadConfig, type Config } from "./config.js";
import { NatsServerProcess } from "./nats/nats-server-process.js";
import { startService } from "./service.js";
import { bannerFields, bannerText, LISTENING_MESSAGE } from "./startup/banner.js";
import { acquireDataDirLock, type DataDirLock } from "./startup/data-dir-lock.js";
import { provideTokens } from "./startup/generated-tokens.js";
import { prettyDestination, resolveLogFormat } from "./startup/pretty-log.js";
import { limitHeapGrowth } from "./startup/heap-growth.js";
import { describeStartupError, EXIT_CONFIG, EXIT_FAILURE } from "./startup/startup-errors.js";
import { PACKAGE_VERSION } from "./version.js";

let embedded: NatsServerProcess | undefined;
let lock: DataDirLock | undefined;
let exiting = false;

// Last resort for paths that never reach exit() (process.exit elsewhere): the child dies with us.
process.once("exit", () => {
  embedded?.killNow();
  lock?.release();
});

/**
 * Stops what this process started (the nats-server child, the DATA_DIR lock), then exits with `code`. `last` runs
 * after everything is stopped, so a "stopped" log line is true when it is written.
 */
async function exit(code: number, last?: () => void): Promise<never> {
  if (!exiting) {
    exiting = true;
    await embedded?.stop({ graceMs: 3000 }).catch(() => embedded?.killNow());
    lock?.release();
  }
  last?.();
  process.exit(code);
}

async function fail(e: unknown, config: Config | undefined, logger: Logger | undefined): Promise<never> {
  const known = describeStartupError(e, config);
  if (known) {
    process.stderr.write(`event-routing: ${known.message}\n`);
    return exit(known.exitCode);
  }
  logger?.fatal({ err: e }, "event-routing failed");
  process.stderr.write(`event-routing failed: ${(e as Error)?.stack ?? String(e)}\n`);
  return exit(EXIT_FAILURE);
}

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
      return exit(EXIT_CONFIG);
    }
    throw e;
  }
  const logOptions = { level: config.logLevel, base: { svc: "event-routing" } };
  const logger =
    resolveLogFormat(config.logFormat, process.stdout.isTTY === true) === "pretty"
      ? pino(logOptions, prettyDestination(process.stdout))
      : pino(logOptions);
  limitHeapGrowth();
  process.on("uncaughtException", (e) => void fail(e, config, logger));
  process.on("unhandledRejection", (e) => void fail(e, config, logger));

  try {
    let natsUrl = config.natsUrl;
    if (!natsUrl) {
      // Before the child starts: a second service on this store directory must not start another server on it.
      lock = acquireDataDirLock(config.dataDir);
      const storeDir = resolve(join(config.dataDir, "nats"));
      embedded = await NatsServerProcess.start({
        bin: config.natsServerBin,
        storeDir,
        ...(config.natsMonitorPort !== undefined ? { monitorPort: config.natsMonitorPort } : {}),
      });
      natsUrl = embedded.url;
      logger.info(
        { nats: natsUrl, monitoring: embedded.monitorUrl, store: storeDir, pid: embedded.pid },
        "started embedded nats-server (set NATS_URL to use your own)",
      );
    }

    // Generated tokens are shown by the terminal banner, or written to a file only this user reads; never logged.
    const terminal = process.stdout.isTTY === true;
    const tokens = provideTokens(config, terminal, logger);
    const service = await startService({ ...config, natsUrl, emitTokens: tokens.emitTokens, adminTokens: tokens.adminTokens }, logger);
    const info = {
      version: PACKAGE_VERSION,
      address: `${config.host}:${service.port}`,
      tls: config.tlsCertFile !== undefined,
      nats: natsUrl,
      monitoring: embedded?.monitorUrl,
      metrics: service.metricsUrl,
      console:
        service.consolePort === undefined
          ? undefined
          : `${config.tlsCertFile !== undefined ? "https" : "http"}://${config.host}:${service.consolePort}/`,
      generatedTokens: tokens.generated,
      tokensFile: tokens.tokensFile,
    };
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, "shutting down");
      const started = Date.now();
      try {
        await service.close();
      } catch (e) {
        logger.error({ err: (e as Error).message }, "error while shutting down");
      }
      // The last line: an operator (or a supervisor's log) sees the shutdown completed, not just began.
      await exit(0, () => logger.info({ signal, durationMs: Date.now() - started }, "stopped"));
    };
    // Installed before the banner is printed: whoever waits for the banner may signal at once, and a signal before
    // the handlers exist kills the process without stopping its nats-server child. `on`, not `once`: a second
    // signal while shutting down must not take the default action either; `stop` runs once.
    process.on("SIGTERM", () => void stop("SIGTERM"));
    process.on("SIGINT", () => void stop("SIGINT"));

    if (terminal) process.stdout.write(bannerText(info));
    else logger.info(bannerFields(info), LISTENING_MESSAGE);
  } catch (e) {
    await fail(e, config, logger);
  }
}

main().catch((e: unknown) => fail(e, undefined, undefined));
