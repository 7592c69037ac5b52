/**
 * `replay`'s command line, parsed and checked in one place (pure: the environment is passed in). Flags win over
 * EVENT_ROUTING_URL / EVENT_ROUTING_TOKEN. Mode rules: --offline needs no service; --dry-run and --output store
 * nothing (through the service's Transform unless --offline); the checkpoint is on by default only when
 * storing (a dry run has nothing to resume), and never for stdin. The default checkpoint is per user, not in
 * the working directory (a checkout, or a read-only container root): in the XDG state directory, one file per
 * inputs and target, so the same command resumes and another backfill does not share its offsets.
 */
import { createHash } from "node:crypto";
import { basename, isAbsolute, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { UsageError } from "../exit-codes.js";
import { type CommandHelp, renderHelp } from "../help.js";
import { OFFLINE_ARG_OPTIONS, type OfflineOptions } from "../offline-pipeline.js";
import { serviceAddress, type ServiceTarget } from "../service-transport.js";

/** The options parseReplayArgs accepts; each has a line in REPLAY_COMMAND.help (test/cli-help.test.ts checks). */
export const REPLAY_OPTIONS = {
  url: { type: "string" },
  token: { type: "string" },
  router: { type: "string", multiple: true },
  "batch-size": { type: "string" },
  "in-flight": { type: "string" },
  rate: { type: "string" },
  "dry-run": { type: "boolean" },
  output: { type: "string" },
  offline: { type: "boolean" },
  checkpoint: { type: "string" },
  "no-checkpoint": { type: "boolean" },
  follow: { type: "boolean" },
  "poll-ms": { type: "string" },
  json: { type: "boolean" },
  "no-progress": { type: "boolean" },
  "max-line-bytes": { type: "string" },
  "timeout-ms": { type: "string" },
  "max-attempts": { type: "string" },
  ...OFFLINE_ARG_OPTIONS,
} as const;

export const REPLAY_COMMAND = {
  options: REPLAY_OPTIONS,
  help: {
    synopsis: ["replay [options] FILE|DIR|GLOB|- ..."],
    about:
      "Sends tracking-log lines (one event per line, either ERB shape, log prefix allowed; .gz read as a stream) to a\n" +
      "running service with EmitBatch, resumably; or transforms them without storing (--dry-run, --output, --offline).",
    flags: [
      { flag: "--url URL", text: "the service (default $EVENT_ROUTING_URL, else http://127.0.0.1:8080)" },
      { flag: "--token TOKEN", text: "a bearer token (default $EVENT_ROUTING_TOKEN); --router needs an admin token" },
      { flag: "--router ID", text: "store only for this router (repeatable)" },
      { flag: "--batch-size N", text: "events per EmitBatch (default 500)" },
      { flag: "--in-flight N", text: "batches at once (default 4)" },
      { flag: "--rate N", text: "at most N events/s" },
      { flag: "--dry-run", text: "transform and count through the service (TransformBatch), store nothing" },
      { flag: "--output FILE|-", text: "write the transformed statements as NDJSON instead of storing them" },
      { flag: "--offline", text: "transform in-process, no service (with the five flags below, as for transform)" },
      { flag: "--lms-root-url URL", text: "with --offline: the LMS root URL (default $LMS_ROOT_URL)" },
      { flag: "--transformer-version V", text: "with --offline: the transformer version (default $TRANSFORMER_VERSION)" },
      { flag: "--identities FILE.csv", text: "with --offline: learners (user_id,username,external_id,email)" },
      { flag: "--courses FILE.csv", text: "with --offline: course names (course_id,name)" },
      {
        flag: "--mappings DIR",
        text: "with --offline: custom mappings, every .yaml, .yml and .json file of DIR (the service's come from its bucket)",
      },
      {
        flag: "--checkpoint FILE",
        text: "resume state (default when storing: $XDG_STATE_HOME/event-routing/replay/NAME-HASH.json, else ~/.local/state/..., one per inputs and target)",
      },
      { flag: "--no-checkpoint", text: "no resume state" },
      { flag: "--follow", text: "keep reading a live log like tail -F (one plain file)" },
      { flag: "--poll-ms N", text: "how often --follow looks for new lines (default 500)" },
      { flag: "--max-attempts N", text: "tries per batch on transient errors (default 8; unlimited with --follow)" },
      { flag: "--timeout-ms N", text: "deadline of one call to the service (default 60000)" },
      { flag: "--max-line-bytes N", text: "longer lines are reported invalid (default 4194304)" },
      { flag: "--json", text: "print the summary as JSON" },
      { flag: "--no-progress", text: "no progress bar on a terminal" },
    ],
    env: [
      ["EVENT_ROUTING_URL", "the service's URL (default http://127.0.0.1:8080)"],
      ["EVENT_ROUTING_TOKEN", "an emit token (an admin token with --router)"],
      ["XDG_STATE_HOME, HOME", "where the default checkpoint goes"],
      ["IDENTITY_HMAC_SECRET, LMS_ROOT_URL", "with --offline, as for transform"],
    ],
  },
} satisfies { options: Record<string, unknown>; help: CommandHelp };

export const REPLAY_USAGE = renderHelp(REPLAY_COMMAND.help);

/** The service part (url, token, timeoutMs per call) is what service-transport.ts needs. */
export interface ReplayOptions extends ServiceTarget {
  readonly inputs: readonly string[];
  readonly routerIds: readonly string[];
  readonly batchSize: number;
  readonly inFlight: number;
  readonly rate: number | undefined;
  readonly dryRun: boolean;
  readonly output: string | undefined;
  readonly offline: boolean;
  readonly offlineOptions: OfflineOptions;
  readonly checkpoint: string | undefined;
  /** The checkpoint is the default location (errors then say how to move it). */
  readonly checkpointIsDefault: boolean;
  /** What the checkpoint's offsets are valid for: the service URL and the --router set, or offline. */
  readonly target: string;
  readonly follow: boolean;
  readonly pollMs: number;
  readonly json: boolean;
  readonly progress: boolean;
  readonly maxLineBytes: number;
  readonly maxAttempts: number;
}

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${name} must be a positive integer, got "${value}"`);
  return n;
}

/** Where the default checkpoint of earlier versions was: still found there, but no longer used by default. */
export const LEGACY_CHECKPOINT = "replay-checkpoint.json";

/**
 * The default checkpoint for these inputs and target: `$XDG_STATE_HOME/event-routing/replay/` (an absolute
 * XDG_STATE_HOME only, as the XDG spec says), else `$HOME/.local/state/event-routing/replay/`; the name is the
 * first input's and a hash of every input (absolute) and the target. Undefined when neither variable is set.
 */
export function defaultCheckpointPath(inputs: readonly string[], target: string, env: NodeJS.ProcessEnv): string | undefined {
  const xdg = env["XDG_STATE_HOME"];
  const home = env["HOME"];
  const base = xdg && isAbsolute(xdg) ? xdg : home ? join(home, ".local", "state") : undefined;
  if (base === undefined) return undefined;
  const absolute = inputs.map((i) => (i === "-" ? i : resolve(i))).sort();
  const hash = createHash("sha256")
    .update(JSON.stringify({ inputs: absolute, target }))
    .digest("hex")
    .slice(0, 16);
  const name =
    basename(inputs[0]!)
      .replace(/[^\w.-]+/g, "_")
      .slice(0, 64) || "stdin";
  return join(base, "event-routing", "replay", `${name}-${hash}.json`);
}

export function parseReplayArgs(args: readonly string[], env: NodeJS.ProcessEnv): ReplayOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: REPLAY_OPTIONS,
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const v = parsed.values;
  const inputs = parsed.positionals;
  if (inputs.length === 0) throw new UsageError("no inputs: name files, directories, globs, or - for stdin");
  const offline = v.offline === true;
  const dryRun = v["dry-run"] === true;
  const stores = !offline && !dryRun && v.output === undefined;
  const routerIds = v.router ?? [];
  if (offline && routerIds.length > 0) throw new UsageError("--router needs the service (the routers live there), not --offline");
  if (!offline && v.mappings !== undefined)
    throw new UsageError("--mappings is for --offline: the service uses the mappings in its bucket");
  const follow = v.follow === true;
  if (follow && (inputs.length !== 1 || inputs[0] === "-"))
    throw new UsageError("--follow reads exactly one file (stdin is followed anyway)");
  const rate = v.rate === undefined ? undefined : positiveInt("rate", v.rate, 1);
  const batchSize = Math.min(positiveInt("batch-size", v["batch-size"], 500), rate ?? Infinity);
  if (v.checkpoint !== undefined && v["no-checkpoint"]) throw new UsageError("--checkpoint and --no-checkpoint exclude each other");
  const { url, token } = serviceAddress(v, env);
  const target = offline ? "offline" : `${url} routers=[${[...routerIds].sort().join(",")}]`;
  // Stdin has no offsets to resume: no default checkpoint for a run that reads only stdin.
  const wantsDefault = v.checkpoint === undefined && !v["no-checkpoint"] && stores && inputs.some((i) => i !== "-");
  const defaultPath = wantsDefault ? defaultCheckpointPath(inputs, target, env) : undefined;
  if (wantsDefault && defaultPath === undefined)
    throw new UsageError(
      "no place for the default checkpoint (neither XDG_STATE_HOME nor HOME is set): pass --checkpoint FILE or --no-checkpoint",
    );
  const checkpoint = v["no-checkpoint"] ? undefined : (v.checkpoint ?? defaultPath);
  return {
    inputs,
    url,
    token,
    routerIds,
    batchSize,
    inFlight: positiveInt("in-flight", v["in-flight"], 4),
    rate,
    dryRun: dryRun || v.output !== undefined,
    output: v.output,
    offline,
    offlineOptions: {
      lmsRootUrl: v["lms-root-url"],
      transformerVersion: v["transformer-version"],
      identities: v.identities,
      courses: v.courses,
      mappings: v.mappings,
    },
    checkpoint,
    checkpointIsDefault: defaultPath !== undefined,
    target,
    follow,
    pollMs: positiveInt("poll-ms", v["poll-ms"], 500),
    json: v.json === true,
    progress: v["no-progress"] !== true,
    maxLineBytes: positiveInt("max-line-bytes", v["max-line-bytes"], 4 * 1024 * 1024),
    timeoutMs: positiveInt("timeout-ms", v["timeout-ms"], 60_000),
    // A followed log is a long-running feed: it waits for the service however long it is away.
    maxAttempts: positiveInt("max-attempts", v["max-attempts"], follow ? Number.POSITIVE_INFINITY : 8),
  };
}
