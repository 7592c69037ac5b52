/**
 * The start-up banner: where the service listens and how to reach what it started, in one place. On a terminal
 * it is plain text for a person; otherwise one JSON line (the log format), so a supervisor's log keeps it whole.
 * The JSON line keeps the message "event-routing listening ..." and `address` that scripts and tests wait for.
 * The NATS URL is shown without user info, and a token value only on a terminal.
 */
import { withoutUserinfo } from "../url-userinfo.js";

export interface BannerInfo {
  readonly version: string;
  /** host:port of the gRPC / gRPC-Web / Connect listener. */
  readonly address: string;
  readonly tls: boolean;
  readonly nats: string;
  /** The embedded nats-server's monitoring URL (undefined with NATS_URL). */
  readonly monitoring: string | undefined;
  /** GET /metrics URL, undefined when METRICS_PORT is 0. */
  readonly metrics: string | undefined;
  /** The admin console's URL, undefined when CONSOLE_PORT is unset. */
  readonly console: string | undefined;
  /**
   * Tokens generated for this run (variable name -> token); empty when all were configured. Only the terminal
   * banner shows the values; the JSON line (the log) names the variables and the file holding them.
   */
  readonly generatedTokens: Readonly<Record<string, string>>;
  /** Where the generated tokens were written (src/startup/generated-tokens.ts); undefined on a terminal. */
  readonly tokensFile: string | undefined;
}

export const LISTENING_MESSAGE = "event-routing listening (gRPC, gRPC-Web, Connect)";

export function listenUrl(info: Pick<BannerInfo, "address" | "tls">): string {
  return `${info.tls ? "https" : "http"}://${info.address}`;
}

export function bannerText(info: BannerInfo): string {
  const rows: Array<[string, string]> = [
    ["Listening", `${listenUrl(info)}  (gRPC, gRPC-Web, Connect)`],
    ["NATS", withoutUserinfo(info.nats)],
    ["NATS monitoring", info.monitoring ?? "(your NATS server's own; NATS_URL is set)"],
    ["Metrics", info.metrics ?? "off (set METRICS_PORT)"],
    ["Console", info.console ?? "off (set CONSOLE_PORT)"],
  ];
  for (const [name, token] of Object.entries(info.generatedTokens)) rows.push([name, `${token}  (generated for this run only)`]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return `event-routing ${info.version}\n${rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join("\n")}\n`;
}

/** The fields of the JSON banner line (logged with LISTENING_MESSAGE). */
export function bannerFields(info: BannerInfo): Record<string, unknown> {
  return {
    version: info.version,
    address: info.address,
    url: listenUrl(info),
    tls: info.tls,
    nats: withoutUserinfo(info.nats),
    ...(info.monitoring ? { monitoring: info.monitoring } : {}),
    ...(info.metrics ? { metrics: info.metrics } : {}),
    ...(info.console ? { console: info.console } : {}),
    // Names only: this line goes to the log.
    ...(Object.keys(info.generatedTokens).length > 0 ? { generatedTokens: Object.keys(info.generatedTokens) } : {}),
    ...(info.tokensFile ? { tokensFile: info.tokensFile } : {}),
  };
}
