/**
 * Metrics and logging. The metrics and console listeners are extra ports beside PORT: two listeners given one port
 * are refused here, rather than the second failing with "in use" after the first took it.
 */
import { z } from "zod";
import type { Rule } from "./rules.js";
import { bool, nonNegativeInt } from "./schemas.js";
import { v } from "./var-spec.js";

export const OBSERVABILITY_VARS = {
  metricsPort: v(
    "METRICS_PORT",
    "0",
    "Port serving Prometheus metrics at GET /metrics on HOST (0 = metrics off); docs/operations.md lists them.",
    nonNegativeInt.max(65535),
  ),
  logLevel: v(
    "LOG_LEVEL",
    "info",
    "pino level: fatal, error, warn, info, debug, trace, silent.",
    z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]),
  ),
  logFormat: v(
    "LOG_FORMAT",
    "(pretty on a terminal, else json)",
    "json: one JSON line per log entry (pino), for machines; pretty: one readable line each, for a developer.",
    z.enum(["json", "pretty"]).optional(),
  ),
  logRpcs: v("LOG_RPCS", "true", "Log one line per RPC.", bool),
};

interface Listeners {
  readonly port: number;
  readonly metricsPort: number;
  readonly consolePort: number | undefined;
}

/** Two listeners on one port, each pair named once. */
function portClashes(c: Listeners): string[] {
  // 0 is "off" for METRICS_PORT and "any free port" for the others: never a clash.
  const ports = (
    [
      ["PORT", c.port],
      ["METRICS_PORT", c.metricsPort],
      ["CONSOLE_PORT", c.consolePort],
    ] as Array<[string, number | undefined]>
  ).filter((p): p is [string, number] => p[1] !== undefined && p[1] > 0);
  const out: string[] = [];
  ports.forEach(([a, port], i) => {
    for (const [b, other] of ports.slice(i + 1)) {
      if (other === port) out.push(`${a} and ${b} are both ${port}: each listener needs a port of its own`);
    }
  });
  return out;
}

export const OBSERVABILITY_RULES: ReadonlyArray<Rule<Listeners>> = [{ on: "parsed", check: portClashes }];
