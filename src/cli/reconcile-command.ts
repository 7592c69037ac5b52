/**
 * `reconcile --router ID --since TIME [--until TIME] [--resend]`: asks the service to check that the router's LRS
 * holds every statement stored for it in the window (ReconcileRouter, a server stream), with a progress bar on a
 * terminal (stderr, so stdout keeps the report), then the report: found, missing (with ids), pending, unknown.
 * Exit 0 when nothing is missing or unknown, 5 (refused) when statements are missing (a script can alert on it),
 * 3 when the LRS left some unknown. --resend stores the missing ones again for delivery.
 */
import { parseArgs } from "node:util";
import { toJson } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import cliProgress from "cli-progress";
import { type ReconcileProgress, type ReconcileReport, ReconcileReportSchema } from "../../gen/eventrouting/v1/router_admin_service_pb.js";
import { DurationError, DURATION_FORMS, formatDuration, parseDuration } from "./duration.js";
import { EXIT, UsageError } from "./exit-codes.js";
import { type CommandHelp, REMOTE_ENV, REMOTE_FLAGS, renderHelp, wantsHelp } from "./help.js";
import { connectRemote, guarded, type Io, isoOrEmpty, REMOTE_OPTIONS, type Remote } from "./remote.js";

const OPTIONS = {
  ...REMOTE_OPTIONS,
  router: { type: "string" },
  since: { type: "string" },
  until: { type: "string" },
  resend: { type: "boolean", default: false },
  concurrency: { type: "string" },
  timeout: { type: "string" },
  "no-progress": { type: "boolean", default: false },
} as const;

/** The whole run's deadline unless --timeout says otherwise: 100k statements take minutes (docs/benchmarks.md). */
const DEFAULT_TIMEOUT = "1h";
/** Missing ids printed in the table form; --json lists every id the service reported. */
const SHOWN_IDS = 50;

export const RECONCILE_COMMAND = {
  options: OPTIONS,
  help: {
    synopsis: ["reconcile --router ID --since TIME [--until TIME] [--resend] [--json]"],
    about:
      "Checks that the router's LRS holds every statement stored for the router in [since, until): each id is\n" +
      "looked up with GET statements?statementId= (the router's credentials). The delivery stream keeps statements\n" +
      "DELIVERY_MAX_AGE_HOURS: an older window is clipped and the report says so. xAPI routers only.\n" +
      "Exit 0 when the LRS holds them all, 5 when some are missing, 3 when the LRS left some unknown.",
    flags: [
      { flag: "--router ID", text: "the router to check" },
      { flag: "--since TIME", text: "window start: an ISO 8601 time (2026-01-31T00:00:00Z) or how long ago (24h, 90m)" },
      { flag: "--until TIME", text: "window end (exclusive), same forms; default now" },
      { flag: "--resend", text: "store the missing statements again for delivery (same ids)" },
      { flag: "--concurrency N", text: "look-ups in flight at once (default 16, at most 64)" },
      { flag: "--timeout DURATION", text: `give up after this long (default ${DEFAULT_TIMEOUT}; ${DURATION_FORMS})` },
      { flag: "--no-progress", text: "no progress bar (it is shown only on a terminal anyway)" },
      ...REMOTE_FLAGS,
    ],
    env: REMOTE_ENV,
  } satisfies CommandHelp,
};

/** An ISO 8601 time, or a duration meaning that long before `now`. */
export function parseWhen(flag: string, text: string, now: Date): Date {
  if (/^\d+(\.\d+)?(h|m|s|ms)/.test(text) && !/^\d{4}-/.test(text)) {
    try {
      return new Date(now.getTime() - Number(parseDuration(text, `--${flag}`) / 1_000_000n));
    } catch (e) {
      if (e instanceof DurationError) throw new UsageError(e.message);
      throw e;
    }
  }
  const d = new Date(text);
  if (Number.isNaN(d.getTime()))
    throw new UsageError(`--${flag} ${text}: expected an ISO 8601 time (2026-01-31T12:00:00Z) or how long ago (24h, 90m)`);
  return d;
}

function timeoutMs(text: string | undefined): number {
  try {
    return Number(parseDuration(text ?? DEFAULT_TIMEOUT, "--timeout") / 1_000_000n);
  } catch (e) {
    if (e instanceof DurationError) throw new UsageError(e.message);
    throw e;
  }
}

export async function runReconcile(args: string[], io: Io): Promise<number> {
  if (wantsHelp(args)) {
    io.out.write(renderHelp(RECONCILE_COMMAND.help));
    return EXIT.ok;
  }
  const { values } = parseArgs({ args, options: OPTIONS, strict: true });
  return guarded(io, values.debug, async () => {
    if (!values.router) throw new UsageError("reconcile needs --router ID");
    if (!values.since) throw new UsageError("reconcile needs --since TIME (an ISO 8601 time or how long ago, e.g. 24h)");
    const now = new Date();
    const concurrency = values.concurrency === undefined ? 0 : Number(values.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 0)
      throw new UsageError(`--concurrency ${values.concurrency}: expected a whole number`);
    const limitMs = timeoutMs(values.timeout);
    // The service refuses deadlines above MAX_TIMEOUT_MS (60 s by default), and a reconcile runs for minutes: no
    // deadline is sent, the limit is kept here, and the service stops the run when this call goes away.
    const remote = connectRemote(values, io.env, { deadline: false });
    const request = {
      id: values.router,
      since: timestampFromDate(parseWhen("since", values.since, now)),
      ...(values.until ? { until: timestampFromDate(parseWhen("until", values.until, now)) } : {}),
      resend: values.resend,
      concurrency,
    };
    const report = await receive(remote, request, limitMs, progressBar(io, !remote.json && !values["no-progress"]));
    if (remote.json) io.out.write(`${JSON.stringify(toJson(ReconcileReportSchema, report, { alwaysEmitImplicit: true }))}\n`);
    else io.out.write(reportText(report));
    if (report.missing > 0n && !values.resend) return EXIT.refused;
    if (report.unknown > 0n) return EXIT.unavailable;
    return EXIT.ok;
  });
}

async function receive(
  remote: Remote,
  request: Parameters<Remote["routers"]["reconcileRouter"]>[0],
  limitMs: number,
  bar: Bar,
): Promise<ReconcileReport> {
  const limit = AbortSignal.timeout(limitMs);
  let report: ReconcileReport | undefined;
  try {
    for await (const res of remote.routers.reconcileRouter(request, { signal: limit })) {
      if (res.update.case === "progress") bar.update(res.update.value);
      else if (res.update.case === "report") report = res.update.value;
    }
  } catch (e) {
    if (limit.aborted)
      throw new ConnectError(`no report within --timeout ${limitMs} ms; the service stopped the run`, Code.DeadlineExceeded);
    throw e;
  } finally {
    bar.stop();
  }
  if (!report) throw new Error("the service ended the reconcile without a report");
  return report;
}

interface Bar {
  update(p: ReconcileProgress): void;
  stop(): void;
}

/** On a terminal (stderr) only: stdout keeps the report for pipes. */
function progressBar(io: Io, wanted: boolean): Bar {
  const tty = (io.err as NodeJS.WriteStream).isTTY === true;
  if (!wanted || !tty) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      format: "{bar} {percentage}% ETA {eta_formatted} | {value}/{total} checked | missing {missing} | unknown {unknown}",
      stream: io.err as NodeJS.WritableStream,
      hideCursor: true,
      etaBuffer: 50,
      fps: 5,
      gracefulExit: false,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(p) {
      const fields = { missing: String(p.missing), unknown: String(p.unknown) };
      if (!started) bar.start(Number(p.total), Number(p.checked), fields);
      else {
        bar.setTotal(Number(p.total));
        bar.update(Number(p.checked), fields);
      }
      started = true;
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

export function reportText(r: ReconcileReport): string {
  const lines = [
    `router ${r.routerId}: ${isoOrEmpty(r.since)} to ${isoOrEmpty(r.until)} in ${formatDuration(r.elapsed)}`,
    `checked ${r.checked}: found ${r.found}, missing ${r.missing}, pending ${r.pending}, unknown ${r.unknown}` +
      (r.resent > 0n ? `; resent ${r.resent}` : ""),
  ];
  if (r.windowClipped) lines.push(`window clipped: ${r.clipReason}`);
  if (r.missingIds.length > 0) {
    lines.push("missing:");
    for (const id of r.missingIds.slice(0, SHOWN_IDS)) lines.push(`  ${id}`);
    const more = Number(r.missing) - Math.min(SHOWN_IDS, r.missingIds.length);
    if (more > 0)
      lines.push(`  ... and ${more} more (--json lists ${r.missingIds.length}${r.missingIdsTruncated ? ", the service's cap" : ""})`);
  }
  for (const reason of r.unknownReasons) lines.push(`unknown: ${reason}`);
  if (r.pending > 0n) lines.push("pending: not in the LRS yet but still being delivered (a backlog, retries or a paused router)");
  if (r.missing > 0n && r.resent === 0n) lines.push("resend them with --resend");
  return `${lines.join("\n")}\n`;
}
