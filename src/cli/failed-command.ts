/**
 * `failed list|retry|purge`: the failed stream through ListFailed / RetryFailed / PurgeFailed, with the RPCs'
 * filters (--router, --event, --since, --until). retry and purge act on ids, or on a filter, or on everything
 * with --all; purge also needs --yes, as it deletes the only copy of the statements.
 */
import { parseArgs } from "node:util";
import { create, toJson } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { FailedFilterSchema, FailedStatementSchema, type FailedFilter } from "../../gen/eventrouting/v1/event_routing_service_pb.js";
import { type CommandHelp, type FlagHelp, REMOTE_ENV, REMOTE_FLAGS, renderHelp, subcommandUsage, wantsHelp } from "./help.js";
import { EXIT, UsageError } from "./exit-codes.js";
import { connectRemote, cut, guarded, isoOrEmpty, REMOTE_OPTIONS, table, type Io } from "./remote.js";

const FILTERS = {
  router: { type: "string" },
  event: { type: "string" },
  since: { type: "string" },
  until: { type: "string" },
} as const;

const FILTER_FLAGS: readonly FlagHelp[] = [
  { flag: "--router ID", text: "only this router's statements" },
  { flag: "--event NAME", text: "only statements of this edX event" },
  { flag: "--since TIME", text: "failed at or after this ISO 8601 time, e.g. 2026-01-31T12:00:00Z" },
  { flag: "--until TIME", text: "failed before this ISO 8601 time" },
];

const LIST_OPTIONS = { ...REMOTE_OPTIONS, ...FILTERS, limit: { type: "string" } } as const;
const RETRY_OPTIONS = { ...REMOTE_OPTIONS, ...FILTERS, all: { type: "boolean", default: false } } as const;
const PURGE_OPTIONS = { ...RETRY_OPTIONS, yes: { type: "boolean", default: false } } as const;
const ALL_OPTIONS = { ...LIST_OPTIONS, ...PURGE_OPTIONS } as const;

/** Each subcommand: the options its parser accepts and its --help. */
export const FAILED_COMMANDS = {
  list: {
    options: LIST_OPTIONS,
    help: {
      synopsis: ["failed list [--router ID] [--event NAME] [--since TIME] [--until TIME] [--limit N]"],
      about: "Statements kept in the failed stream: id, router, event, attempts, HTTP status, time, last error.",
      flags: [...FILTER_FLAGS, { flag: "--limit N", text: "at most N statements (default 100)" }, ...REMOTE_FLAGS],
      env: REMOTE_ENV,
    },
  },
  retry: {
    options: RETRY_OPTIONS,
    help: {
      synopsis: ["failed retry (ID... | --router ID | --event NAME | --since/--until TIME | --all)"],
      about: "Sends failed statements for delivery again: by id, by filter, or all of them.",
      flags: [...FILTER_FLAGS, { flag: "--all", text: "every failed statement" }, ...REMOTE_FLAGS],
      env: REMOTE_ENV,
    },
  },
  purge: {
    options: PURGE_OPTIONS,
    help: {
      synopsis: ["failed purge (ID... | filters | --all) --yes"],
      about: "Deletes failed statements: the only copy of business-critical statements.",
      flags: [
        ...FILTER_FLAGS,
        { flag: "--all", text: "every failed statement" },
        { flag: "--yes", text: "confirm the deletion" },
        ...REMOTE_FLAGS,
      ],
      env: REMOTE_ENV,
    },
  },
} satisfies Record<string, { options: Record<string, unknown>; help: CommandHelp }>;

type FailedSub = keyof typeof FAILED_COMMANDS;

export const FAILED_USAGE = subcommandUsage(FAILED_COMMANDS);

function time(flag: string, v: string | undefined) {
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new UsageError(`--${flag} ${v}: expected an ISO 8601 time, e.g. 2026-01-31T12:00:00Z`);
  return timestampFromDate(d);
}

function filterOf(v: {
  router?: string | undefined;
  event?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
}): FailedFilter | undefined {
  const startTime = time("since", v.since);
  const endTime = time("until", v.until);
  if (!v.router && !v.event && !startTime && !endTime) return undefined;
  return create(FailedFilterSchema, {
    routerId: v.router ?? "",
    eventName: v.event ?? "",
    ...(startTime ? { startTime } : {}),
    ...(endTime ? { endTime } : {}),
  });
}

function ids(positionals: readonly string[]): bigint[] {
  return positionals.map((p) => {
    if (!/^\d+$/.test(p)) throw new UsageError(`${p}: expected a failed statement id (the ID column of failed list)`);
    return BigInt(p);
  });
}

export async function runFailed(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  const known = sub !== undefined && Object.hasOwn(FAILED_COMMANDS, sub) ? (sub as FailedSub) : undefined;
  if (wantsHelp(args)) {
    io.out.write(known ? renderHelp(FAILED_COMMANDS[known].help) : `Usage:\n${FAILED_USAGE}\nfailed SUBCOMMAND --help for its flags.\n`);
    return EXIT.ok;
  }
  const { values, positionals } = parseArgs({
    args: rest,
    // Typed as the union of every subcommand's options; at run time only the subcommand's own are accepted.
    options: (known ? FAILED_COMMANDS[known].options : REMOTE_OPTIONS) as typeof ALL_OPTIONS,
    allowPositionals: true,
    strict: true,
  });
  return guarded(io, values.debug, async () => {
    const filter = filterOf(values);
    switch (sub) {
      case "list": {
        const limit = values.limit === undefined ? 100 : Number(values.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit ${values.limit}: expected a whole number above 0`);
        const remote = connectRemote(values, io.env);
        const rows = [];
        let pageToken = "";
        do {
          const res = await remote.events.listFailed({
            ...(filter ? { filter } : {}),
            pageSize: Math.min(1000, limit - rows.length),
            pageToken,
          });
          rows.push(...res.failed);
          pageToken = res.nextPageToken;
        } while (pageToken !== "" && rows.length < limit);
        if (remote.json) {
          io.out.write(`${JSON.stringify(rows.map((f) => toJson(FailedStatementSchema, f)))}\n`);
        } else {
          io.out.write(
            table(
              ["ID", "ROUTER", "EVENT", "STATEMENT", "ATTEMPTS", "HTTP", "FAILED_AT", "LAST_ERROR"],
              rows.map((f) => [
                String(f.id),
                f.routerId,
                f.eventName,
                f.statementId,
                String(f.attempts),
                String(f.lastHttpStatus || ""),
                isoOrEmpty(f.failedTime),
                cut(f.lastError),
              ]),
            ),
          );
          if (pageToken !== "") io.err.write(`(first ${rows.length} shown; --limit N for more)\n`);
        }
        return EXIT.ok;
      }
      case "retry":
      case "purge": {
        const idList = ids(positionals);
        const choices = [idList.length > 0, filter !== undefined, values.all === true].filter(Boolean).length;
        if (choices !== 1) throw new UsageError(`failed ${sub}: give ids, or filters, or --all (exactly one of them)`);
        if (sub === "purge" && !values.yes) throw new UsageError("failed purge deletes the only copy of these statements: add --yes");
        const remote = connectRemote(values, io.env);
        const req = { ids: idList, ...(filter ? { filter } : {}), all: values.all === true };
        const res = sub === "retry" ? await remote.events.retryFailed(req) : await remote.events.purgeFailed(req);
        const count = "retried" in res ? res.retried : res.purged;
        if (remote.json)
          io.out.write(`${JSON.stringify({ [sub === "retry" ? "retried" : "purged"]: count, notFound: res.notFound.map(String) })}\n`);
        else
          io.out.write(
            `${sub === "retry" ? "retried" : "purged"} ${count}${res.notFound.length > 0 ? `; not found: ${res.notFound.join(", ")}` : ""}\n`,
          );
        // Every id asked for was gone: nothing was done, which a script should see.
        return idList.length > 0 && res.notFound.length === idList.length ? EXIT.notFound : EXIT.ok;
      }
      default:
        throw new UsageError(`failed: expected list, retry or purge\n${FAILED_USAGE}`);
    }
  });
}
