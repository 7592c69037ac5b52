/**
 * Start command. Without NATS_URL it runs a local `nats-server -js` child (store under DATA_DIR), so the quick
 * start needs nothing else; with NATS_URL it joins an existing NATS (cluster).
 *
 * The embedded nats-server never outlives this process: every way out (a failed start, a bad setting found after
 * the child started, a port in use, an uncaught error, a signal) goes through `exit()`, which stops the child
 * first, and a synchronous exit hook SIGKILLs it if anything else ends the process. When nothing in this process
 * runs any more (SIGKILL, the OOM killer), the kernel's parent-death signal stops the child, and the next start
 * stops any server still left on the store before it starts its own (orphaned-nats-server.ts). Errors an operator can fix
 * (settings, ports, files, an unreachable NATS) print one line without a stack (startup-errors.ts); only bugs
 * print a stack.
 */
import { join, resolve } from "node:path";
import { pino, type Logger } from "pino";
import { ConfigError, configHelp, loadConfig, type Config } from "./config.js";
import { NatsServerProcess } from "./nats/nats-server-process.js";
import { type RunningService, startService } from "./service.js";
import { bannerFields, bannerText, type BannerInfo, LISTENING_MESSAGE } from "./startup/banner.js";
import { acquireDataDirLock, type DataDirLock } from "./startup/data-dir-lock.js";
import { provideTokens } from "./startup/generated-tokens.js";
import { prettyDestination, resolveLogFormat } from "./startup/pretty-log.js";
import { limitHeapGrowth } from "./startup/heap-growth.js";
import { stopOrphanedNatsServers } from "./startup/orphaned-nats-server.js";
import { describeStartupError, EXIT_CONFIG, EXIT_FAILURE } from "./startup/startup-errors.js";
import { PACKAGE_VERSION } from "./version.js";

let embedded: NatsServerProcess | undefined;
let lock: DataDirLock | undefined;
let exiting = false;
// Set once the service serves: from then on a failure is a runtime error, never a configuration one, even when it
// looks like one (an ENOENT from a file removed while running is not a setting to fix).
let startedUp = false;

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
  const known = startedUp ? undefined : describeStartupError(e, config);
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
  const config = await loadConfigOrExit();
  const logger = createLogger(config);
  limitHeapGrowth();
  process.on("uncaughtException", (e) => void fail(e, config, logger));
  process.on("unhandledRejection", (e) => void fail(e, config, logger));

  try {
    const natsUrl = config.natsUrl || (await startEmbeddedNats(config, logger));
    // Generated tokens are shown by the terminal banner, or written to a file only this user reads; never logged.
    const terminal = process.stdout.isTTY === true;
    const tokens = provideTokens(config, terminal, logger);
    const service = await startService({ ...config, natsUrl, emitTokens: tokens.emitTokens, adminTokens: tokens.adminTokens }, logger);
    // Installed before the banner is printed: whoever waits for the banner may signal at once, and a signal before
    // the handlers exist kills the process without stopping its nats-server child.
    stopOnSignalOrNatsLoss(service, config, logger);

    startedUp = true;
    const info = bannerInfo(config, service, natsUrl, tokens);
    if (terminal) process.stdout.write(bannerText(info));
    else logger.info(bannerFields(info), LISTENING_MESSAGE);
  } catch (e) {
    await fail(e, config, logger);
  }
}

/** The configuration from the environment; a bad setting exits with EXIT_CONFIG and a pointer to --help. */
async function loadConfigOrExit(): Promise<Config> {
  try {
    return loadConfig();
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`${e.message}\nRun with --help for every variable and its default.\n`);
    return exit(EXIT_CONFIG);
  }
}

function createLogger(config: Config): Logger {
  const logOptions = { level: config.logLevel, base: { svc: "event-routing" } };
  return resolveLogFormat(config.logFormat, process.stdout.isTTY === true) === "pretty"
    ? pino(logOptions, prettyDestination(process.stdout))
    : pino(logOptions);
}

/** Starts the nats-server child on DATA_DIR's store (NATS_URL unset) and returns its URL. */
async function startEmbeddedNats(config: Config, logger: Logger): Promise<string> {
  // Before the child starts: a second service on this store directory must not start another server on it.
  lock = await acquireDataDirLock(config.dataDir);
  const storeDir = resolve(join(config.dataDir, "nats"));
  // The lock is ours, so a nats-server still on the store was left by a killed service: stop it first.
  for (const pid of await stopOrphanedNatsServers(storeDir, storeDir)) {
    logger.warn({ pid, store: storeDir }, "stopped a nats-server left running by a killed event-routing");
  }
  embedded = await NatsServerProcess.start({
    bin: config.natsServerBin,
    storeDir,
    dieWithParent: true,
    ...(config.natsMonitorPort !== undefined ? { monitorPort: config.natsMonitorPort } : {}),
  });
  logger.info(
    { nats: embedded.url, monitoring: embedded.monitorUrl, store: storeDir, pid: embedded.pid },
    "started embedded nats-server (set NATS_URL to use your own)",
  );
  return embedded.url;
}

/**
 * SIGTERM and SIGINT stop the service and exit 0; a NATS connection ended for good stops it and exits non-zero.
 * `stop` runs once.
 */
function stopOnSignalOrNatsLoss(service: RunningService, config: Config, logger: Logger): void {
  let stopping = false;
  const stop = async (signal: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    // After a signal, health turns NOT_SERVING and the ports stay open SHUTDOWN_DRAIN_DELAY_MS, so load balancers
    // and Kubernetes endpoints stop routing here before connections are refused; a lost NATS connection skips it.
    const drainDelayMs = code === 0 ? config.shutdownDrainDelayMs : 0;
    logger.info({ signal, drainDelayMs }, "shutting down");
    const started = Date.now();
    try {
      await service.close({ drainDelayMs });
    } catch (e) {
      logger.error({ err: (e as Error).message }, "error while shutting down");
    }
    // The last line: an operator (or a supervisor's log) sees the shutdown completed, not just began.
    await exit(code, () => logger.info({ signal, durationMs: Date.now() - started }, "stopped"));
  };
  // The client reconnects forever, but nats.js can still end the connection for good (a fatal protocol error).
  // An instance without NATS must not stay up NOT_SERVING forever: it exits non-zero so its supervisor restarts it.
  void service.nc.closed().then((err) => {
    if (stopping) return;
    logger.error({ err: err?.message }, "NATS connection closed for good; exiting so the supervisor restarts the service");
    void stop("NATS connection closed", EXIT_FAILURE);
  });
  // `on`, not `once`: a second signal while shutting down must not take the default action either.
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

function bannerInfo(config: Config, service: RunningService, natsUrl: string, tokens: ReturnType<typeof provideTokens>): BannerInfo {
  return {
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
}

main().catch((e: unknown) => fail(e, undefined, undefined));
