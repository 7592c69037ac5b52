/**
 * `--help` for every command: one description per flag and per environment variable, rendered the same way for
 * each. Each command file keeps its help next to its parseArgs options, so adding a flag without describing it
 * shows up in test/cli-help.test.ts (which checks every option of every parser appears in its help). Help asked
 * for goes to stdout with exit 0 (it pipes into less and grep); a usage error prints the usage on stderr.
 */

export interface FlagHelp {
  /** `--name VALUE` as typed, with `-x` for a short form. */
  readonly flag: string;
  readonly text: string;
}

export interface CommandHelp {
  /** One or more synopsis lines, without the program name. */
  readonly synopsis: readonly string[];
  readonly about: string;
  readonly flags: readonly FlagHelp[];
  readonly env: ReadonlyArray<readonly [name: string, text: string]>;
}

export const PROGRAM = "event-routing";

/** `--help` / `-h` before a `--` (after it, they are operands). */
export function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf("--");
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === "--help" || a === "-h");
}

/** The usage lines of a command with subcommands (`failed list|retry|purge`): every synopsis of every subcommand. */
export function subcommandUsage(commands: Record<string, { readonly help: CommandHelp }>): string {
  return Object.values(commands)
    .flatMap((c) => c.help.synopsis.map((s) => `  ${PROGRAM} ${s}\n`))
    .join("");
}

export function renderHelp(h: CommandHelp): string {
  const col = (rows: ReadonlyArray<readonly [string, string]>) => {
    const width = Math.min(30, Math.max(...rows.map(([k]) => k.length)));
    return rows.map(([k, t]) => (k.length > width ? `  ${k}\n  ${"".padEnd(width)}  ${t}` : `  ${k.padEnd(width)}  ${t}`)).join("\n");
  };
  const parts = [`Usage:\n${h.synopsis.map((s) => `  ${PROGRAM} ${s}`).join("\n")}`, h.about];
  if (h.flags.length > 0) parts.push(`Options:\n${col([...h.flags.map((f) => [f.flag, f.text] as const), ["-h, --help", "this help"]])}`);
  if (h.env.length > 0) parts.push(`Environment:\n${col(h.env)}`);
  return `${parts.join("\n\n")}\n`;
}

/** The flags and variables every command that talks to a running service shares (remote.ts REMOTE_OPTIONS). */
export const REMOTE_FLAGS: readonly FlagHelp[] = [
  { flag: "--url URL", text: "the service (default $EVENT_ROUTING_URL, else http://127.0.0.1:8080)" },
  { flag: "--token TOKEN", text: "an admin token (default $EVENT_ROUTING_TOKEN)" },
  { flag: "--json", text: "JSON for scripts instead of a table" },
  { flag: "--debug", text: "add the cause to the error line" },
];

export const REMOTE_ENV: ReadonlyArray<readonly [string, string]> = [
  ["EVENT_ROUTING_URL", "the service's URL (default http://127.0.0.1:8080)"],
  ["EVENT_ROUTING_TOKEN", "one of the service's ADMIN_TOKENS"],
];

export const EXIT_CODES =
  "Exit codes: 0 ok, 1 usage, 2 not found, 3 unavailable, 4 not allowed (token), 5 refused (invalid, exists, conflict), 6 other.";
