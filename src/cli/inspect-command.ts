/**
 * `inspect`: what an operator would ask `nats stream ls` / `nats consumer ls` for, where natscli is not installed.
 * Connects to NATS_URL, or finds the embedded nats-server of `npm start` through its ports file in DATA_DIR.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Writable } from "node:stream";
import { jetstreamManager } from "@nats-io/jetstream";
import { type CommandHelp, renderHelp, wantsHelp } from "./help.js";
import { loadConfig } from "../config.js";
import { connectNats, natsConnectOptions } from "../nats/connection.js";
import { natsNames } from "../nats/names.js";

function embeddedNatsUrl(dataDir: string): string | undefined {
  const dir = resolve(dataDir, "nats");
  if (!existsSync(dir)) return undefined;
  for (const f of readdirSync(dir).filter((n) => n.endsWith(".ports"))) {
    const pid = Number(/_(\d+)\.ports$/.exec(f)?.[1]);
    try {
      process.kill(pid, 0);
    } catch {
      continue; // a stale file from a previous run
    }
    const ports = JSON.parse(readFileSync(join(dir, f), "utf8")) as { nats?: string[] };
    if (ports.nats?.[0]) return ports.nats[0];
  }
  return undefined;
}

export const INSPECT_COMMAND = {
  options: { "nats-url": { type: "string" } } as const,
  help: {
    synopsis: ["inspect [--nats-url URL]"],
    about:
      "Every stream of the service and its consumers (messages, pending, in flight, redelivered), through the\n" +
      "service's own NATS client: for where the nats CLI is not installed.",
    flags: [{ flag: "--nats-url URL", text: "the NATS to read (default $NATS_URL, else the embedded server of `npm start`)" }],
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
  const config = loadConfig();
  const url = values["nats-url"] ?? config.natsUrl ?? embeddedNatsUrl(config.dataDir);
  if (!url) {
    err.write("no NATS to inspect: set NATS_URL (or --nats-url), or start the service with `npm start` first\n");
    return 2;
  }
  const nc = await connectNats(natsConnectOptions(config, url, "event-routing-inspect"));
  try {
    const jsm = await jetstreamManager(nc);
    const names = natsNames(config.natsPrefix);
    for (const stream of [names.deliveryStream, names.failedStream, names.advisoryStream]) {
      let info;
      try {
        info = await jsm.streams.info(stream, { subjects_filter: ">" });
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
