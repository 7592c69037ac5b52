/**
 * Start-up failures an operator can fix, as one line naming the setting and what to do, with the exit code.
 * Anything not recognised here is a bug: main.ts prints its stack.
 *
 * Exit codes of `npm start`: 0 stopped by a signal, 1 failed (including bugs), 2 invalid configuration (a variable
 * or a file it names), 3 a dependency unavailable (NATS unreachable, a port in use, DATA_DIR locked, an orphaned
 * nats-server that would not stop).
 */
import type { Config } from "../config.js";
import { ConfigError } from "../config.js";
import { NatsUnreachableError } from "../nats/connection.js";
import { NatsServerNotFoundError } from "../nats/nats-server-process.js";
import { DataDirLockedError } from "./data-dir-lock.js";
import { OrphanedNatsServerError } from "./orphaned-nats-server.js";

export const EXIT_FAILURE = 1;
export const EXIT_CONFIG = 2;
export const EXIT_UNAVAILABLE = 3;

export interface StartupProblem {
  readonly message: string;
  readonly exitCode: number;
}

type PortConfig = Pick<Config, "port" | "metricsPort" | "consolePort" | "natsMonitorPort" | "host">;

/** The variable that set a port a listener could not take (config.ts refuses two variables with one port). */
function portVariable(port: number | undefined, config: PortConfig | undefined): string {
  if (config && port !== undefined && port > 0) {
    if (port === config.metricsPort) return "METRICS_PORT";
    if (port === config.consolePort) return "CONSOLE_PORT";
  }
  return "PORT";
}

export function describeStartupError(e: unknown, config: PortConfig | undefined): StartupProblem | undefined {
  if (e instanceof ConfigError) return { message: e.message, exitCode: EXIT_CONFIG };
  if (e instanceof NatsServerNotFoundError) return { message: e.message, exitCode: EXIT_FAILURE };
  if (e instanceof NatsUnreachableError || e instanceof DataDirLockedError || e instanceof OrphanedNatsServerError)
    return { message: e.message, exitCode: EXIT_UNAVAILABLE };
  const err = e as NodeJS.ErrnoException & { port?: number; address?: string };
  if (err?.code === "EADDRINUSE" || (err?.code === "EACCES" && err.syscall === "listen")) {
    const variable = portVariable(err.port, config);
    const what = err.code === "EADDRINUSE" ? "is already in use" : "may not be used by this user (ports below 1024 need privileges)";
    return {
      message: `${variable}=${err.port}: address ${err.address ?? config?.host}:${err.port} ${what}; choose another ${variable} or stop the process holding it`,
      exitCode: EXIT_UNAVAILABLE,
    };
  }
  // Files named by settings (TLS_CERT_FILE, NATS_CREDS, ...): Node's message carries the path.
  if ((err?.code === "ENOENT" || err?.code === "EACCES" || err?.code === "EISDIR") && typeof err.path === "string") {
    return { message: `cannot read ${err.path} (${err.code}): check the *_FILE / NATS_CREDS setting that names it`, exitCode: EXIT_CONFIG };
  }
  if (e instanceof Error && /nats-server exited during start-up/.test(e.message)) {
    const hint = /address already in use/i.test(e.message) ? " (a port is in use: check NATS_MONITOR_PORT)" : "";
    return { message: `${e.message}${hint}`, exitCode: EXIT_UNAVAILABLE };
  }
  return undefined;
}
