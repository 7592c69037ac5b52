/**
 * `inspect`: what an operator would ask `nats stream ls` / `nats consumer ls` for, where natscli is not installed:
 * every stream of the service (delivery, failed, advisories, ingest, rejected, the KV buckets) and every consumer.
 * Finds NATS the way the service does: NATS_URL (or --nats-url), else the embedded nats-server that `npm start`
 * runs in DATA_DIR/nats (or --data-dir), found through the ports file it writes there. When none runs, it says
 * where it looked, since a service started with another DATA_DIR is invisible from here.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Writable } from "node:stream";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { type CommandHelp, renderHelp, wantsHelp } from "./help.js";
import { loadConfig } from "../config.js";
import { connectNats, natsConnectOptions } from "../nats/connection.js";
import { ingestNames, natsNames } from "../nats/names.js";

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"; // alive, another user's
  }
}

/** The client URL of a live nats-server whose ports file is in `dir` (stale files of dead servers skipped). */
export function embeddedNatsUrl(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  for (const f of readdirSync(dir).filter((n) => n.endsWith(".ports"))) {
    const pid = Number(/_(\d+)\.ports$/.exec(f)?.[1]);
    if (!Number.isInteger(pid) || !running(pid)) continue;
    try {
      const ports = JSON.parse(readFileSync(join(dir, f), "utf8")) as { nats?: string[] };
      if (ports.nats?.[0]) return ports.nats[0];
    } catch {
      // Half written by a server starting right now: as good as absent.
    }
  }
  return undefined;
}

/** The service's streams in the order an operator reads them, then any other of its streams (KV buckets). */
async function streamNames(jsm: JetStreamManager, prefix: string): Promise<string[]> {
  const names = natsNames(prefix);
  const ingest = ingestNames(prefix);
  const known = [names.deliveryStream, names.failedStream, names.advisoryStream, ingest.ingestStream, ingest.rejectedStream];
  const others: string[] = [];
  for await (const name of jsm.streams.names()) {
    if (known.includes(name)) continue;
    if (name.startsWith(`${prefix.toUpperCase()}_`) || name.startsWith(`KV_${prefix}_`)) others.push(name);
  }
  return [...known, ...others.sort()];
}

export const INSPECT_COMMAND = {
  options: { "nats-url": { type: "string" }, "data-dir": { type: "string" } } as const,
  help: {
    synopsis: ["inspect [--nats-url URL | --data-dir DIR]"],
    about:
      "Every stream of the service (delivery, failed, advisories, ingest, rejected, KV buckets) and its consumers\n" +
      "(pending, in flight, redelivered), through the service's own NATS client, where the nats CLI is not installed.",
    flags: [
      { flag: "--nats-url URL", text: "the NATS to read (default $NATS_URL, else the embedded server of `npm start`)" },
      { flag: "--data-dir DIR", text: "the DATA_DIR the service was started with (default $DATA_DIR, else .data)" },
    ],
    env: [
      ["NATS_URL", "the service's NATS (unset: the embedded nats-server found through DATA_DIR)"],
      ["DATA_DIR", "the service's data directory (default .data), where the embedded server writes its ports"],
      ["NATS_PREFIX", "the names' prefix, as the service has it"],
      ["NATS_CREDS, NATS_NKEY_SEED_FILE, NATS_TLS_*", "NATS authentication and TLS, as for the service"],
    ],
  },
} satisfies { options: Record<string, unknown>; help: CommandHelp };

export async function runInspect(args: string[], out: Writable, err: Writable): Promise<number> {
  if (wantsHelp(args)) {
    out.write(renderHelp(INSPECT_COMMAND.help));
    return 0;
  }
  const { values } = parseArgs({ args, options: INSPECT_COMMAND.options });
  const config = loadConfig(values["data-dir"] !== undefined ? { ...process.env, DATA_DIR: values["data-dir"] } : process.env);
  const natsDir = resolve(config.dataDir, "nats");
  const given = values["nats-url"] ?? config.natsUrl;
  const url = given ?? embeddedNatsUrl(natsDir);
  if (!url) {
    err.write(
      `no NATS to inspect: NATS_URL is unset and no embedded nats-server runs in ${natsDir} (DATA_DIR=${config.dataDir}). ` +
        "Set DATA_DIR (or --data-dir) as the service has it, or NATS_URL (or --nats-url); or start the service with `npm start`.\n",
    );
    return 2;
  }
  const nc = await connectNats(natsConnectOptions(config, url, "event-routing-inspect"));
  try {
    out.write(`NATS ${url} (${given ? "NATS_URL" : `the embedded nats-server of ${natsDir}`})\n`);
    const jsm = await jetstreamManager(nc);
    for (const stream of await streamNames(jsm, config.natsPrefix)) {
      let info;
      try {
        info = await jsm.streams.info(stream, stream.startsWith("KV_") ? {} : { subjects_filter: ">" });
      } catch {
        out.write(`stream ${stream}: not created yet\n`);
        continue;
      }
      out.write(
        `stream ${stream}: ${info.state.messages} messages, ${info.state.bytes} bytes, seq ${info.state.first_seq}..${info.state.last_seq}\n`,
      );
      for (const [subject, n] of Object.entries(info.state.subjects ?? {})) out.write(`  ${subject}: ${n}\n`);
      for await (const c of jsm.consumers.list(stream)) {
        out.write(
          `  consumer ${c.name}: pending ${c.num_pending}, in flight ${c.num_ack_pending}, redelivered ${c.num_redelivered}, ` +
            `delivered up to stream seq ${c.delivered.stream_seq}\n`,
        );
      }
    }
    return 0;
  } finally {
    await nc.close();
  }
}
