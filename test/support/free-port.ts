/**
 * A TCP port free right now on 127.0.0.1, for settings that take a fixed port (0 means "off" for METRICS_PORT), and
 * for servers that cannot pick their own (redis-server, a NATS cluster's routes).
 *
 * Chosen below the kernel's ephemeral range, not by listening on port 0: port 0 hands out an ephemeral port, the
 * range every outgoing connection of every concurrent test takes its local port from, so between this check and
 * the server's own bind a client socket could take it (CI saw a service exit 3, NATS_MONITOR_PORT in use). Below
 * the range only another test's explicit choice can collide, and a random pick from ~20,000 makes that rare.
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

const LOWEST = 10_000;

/** The first port of the kernel's ephemeral range (32768 when it cannot be read). */
export function ephemeralLow(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > LOWEST + 1000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  const high = ephemeralLow();
  for (let tries = 0; tries < 200; tries++) {
    const port = LOWEST + Math.floor(Math.random() * (high - LOWEST));
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port between ${LOWEST} and ${high - 1} on 127.0.0.1`);
}
