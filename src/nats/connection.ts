/** Connecting to NATS with the options a long-running service needs (reconnect forever, named connection). */
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { readFileSync } from "node:fs";

export interface NatsConnectOptions {
  readonly servers: string;
  readonly name?: string;
  readonly credsFile?: string;
}

export async function connectNats(opts: NatsConnectOptions): Promise<NatsConnection> {
  return connect({
    servers: opts.servers.split(",").map((s) => s.trim()),
    name: opts.name ?? "event-routing",
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    ...(opts.credsFile ? { authenticator: credsAuthenticator(readFileSync(opts.credsFile)) } : {}),
  });
}
