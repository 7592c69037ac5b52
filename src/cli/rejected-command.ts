/**
 * `rejected list|purge`: the rejected stream (malformed input the event-bus and NATS inputs refused, with the
 * reason) through ListRejected / PurgeRejected, so an operator reads it without the nats CLI. list shows each
 * entry's time, input, id and reason, and the input itself (cut to one line; --json has it whole). purge deletes
 * ids, or everything with --all; both need --yes, as the copies are the only trace of what was refused.
 */
import { parseArgs } from "node:util";
import { toJson } from "@bufbuild/protobuf";
import { RejectedEntrySchema, type RejectedEntry } from "../../gen/eventrouting/v1/ingest_admin_service_pb.js";
import { type CommandHelp, REMOTE_ENV, REMOTE_FLAGS, renderHelp, subcommandUsage, wantsHelp } from "./help.js";
import { EXIT, UsageError } from "./exit-codes.js";
import { connectRemote, cut, guarded, isoOrEmpty, REMOTE_OPTIONS, table, type Io } from "./remote.js";

const LIST_OPTIONS = { ...REMOTE_OPTIONS, source: { type: "string" }, limit: { type: "string" } } as const;
const PURGE_OPTIONS = { ...REMOTE_OPTIONS, all: { type: "boolean", default: false }, yes: { type: "boolean", default: false } } as const;
const ALL_OPTIONS = { ...LIST_OPTIONS, ...PURGE_OPTIONS } as const;

const ABOUT =
  "The rejected stream: copies of malformed input (bad Avro, missing fields, invalid JSON) that the event-bus and NATS\n" +
  "inputs acknowledged to keep flowing, each with the reason and the time it was refused.";

/** Each subcommand: the options its parser accepts and its --help. */
export const REJECTED_COMMANDS = {
  list: {
    options: LIST_OPTIONS,
    help: {
      synopsis: ["rejected list [--source event-bus-redis|nats] [--limit N]"],
      about: `${ABOUT}\nOldest first: ID, TIME, SOURCE, SOURCE_ID, REASON, INPUT (cut to one line; --json has it whole).`,
      flags: [
        { flag: "--source NAME", text: "only copies from this input: event-bus-redis or nats" },
        { flag: "--limit N", text: "at most N entries (default 100)" },
        ...REMOTE_FLAGS,
      ],
      env: REMOTE_ENV,
    },
  },
  purge: {
    options: PURGE_OPTIONS,
    help: {
      synopsis: ["rejected purge (ID... | --all) --yes"],
      about: `${ABOUT}\nDeletes the entries given (the ID column of list), or every entry stored now. Exit 2 when none of the ids was found.`,
      flags: [
        { flag: "--all", text: "every entry stored now" },
        { flag: "--yes", text: "required: the copies are the only trace of what was refused" },
        ...REMOTE_FLAGS,
      ],
      env: REMOTE_ENV,
    },
  },
} satisfies Record<string, { options: Record<string, unknown>; help: CommandHelp }>;

type RejectedSub = keyof typeof REJECTED_COMMANDS;

export const REJECTED_USAGE = subcommandUsage(REJECTED_COMMANDS);

/** The input as one table cell: text as is, bytes as base64 (the copy may be binary Avro). */
export function inputCell(e: RejectedEntry): string {
  const text =
    e.input.case === "inputText"
      ? e.input.value
      : e.input.case === "inputBytes"
        ? `base64:${Buffer.from(e.input.value).toString("base64")}`
        : "";
  return cut(text, 80);
}

function ids(positionals: readonly string[]): bigint[] {
  return positionals.map((p) => {
    if (!/^\d+$/.test(p)) throw new UsageError(`${p}: expected a rejected entry id (the ID column of rejected list)`);
    return BigInt(p);
  });
}

export async function runRejected(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  const known = sub !== undefined && Object.hasOwn(REJECTED_COMMANDS, sub) ? (sub as RejectedSub) : undefined;
  const groupUsage = `Usage:\n${REJECTED_USAGE}\nrejected SUBCOMMAND --help for its flags.\n`;
  if (wantsHelp(args)) {
    io.out.write(known ? renderHelp(REJECTED_COMMANDS[known].help) : groupUsage);
    return EXIT.ok;
  }
  if (sub === undefined) {
    io.err.write(groupUsage);
    return EXIT.usage;
  }
  const { values, positionals } = parseArgs({
    args: rest,
    // Typed as the union of every subcommand's options; at run time only the subcommand's own are accepted.
    options: (known ? REJECTED_COMMANDS[known].options : REMOTE_OPTIONS) as typeof ALL_OPTIONS,
    allowPositionals: true,
    strict: true,
  });
  return guarded(io, values.debug, async () => {
    switch (sub) {
      case "list": {
        if (positionals.length > 0) throw new UsageError(`rejected list takes no ids (got ${positionals.join(" ")})`);
        const limit = values.limit === undefined ? 100 : Number(values.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit ${values.limit}: expected a whole number above 0`);
        const remote = connectRemote(values, io.env);
        const rows: RejectedEntry[] = [];
        let pageToken = "";
        do {
          const res = await remote.ingest.listRejected({
            source: values.source ?? "",
            pageSize: Math.min(1000, limit - rows.length),
            pageToken,
          });
          rows.push(...res.rejected);
          pageToken = res.nextPageToken;
        } while (pageToken !== "" && rows.length < limit);
        if (remote.json) {
          io.out.write(`${JSON.stringify(rows.map((e) => toJson(RejectedEntrySchema, e)))}\n`);
        } else {
          io.out.write(
            table(
              ["ID", "TIME", "SOURCE", "SOURCE_ID", "REASON", "INPUT"],
              rows.map((e) => [String(e.id), isoOrEmpty(e.rejectedTime), e.source, e.sourceId, cut(e.reason), inputCell(e)]),
            ),
          );
          if (pageToken !== "") io.err.write(`(first ${rows.length} shown; --limit N for more)\n`);
        }
        return EXIT.ok;
      }
      case "purge": {
        const idList = ids(positionals);
        if (idList.length > 0 === values.all) throw new UsageError("rejected purge: give ids or --all (exactly one of them)");
        if (!values.yes) throw new UsageError("rejected purge deletes the only copy of the refused input: add --yes");
        const remote = connectRemote(values, io.env);
        const res = await remote.ingest.purgeRejected({ ids: idList, all: values.all });
        if (remote.json) io.out.write(`${JSON.stringify({ purged: res.purged, notFound: res.notFound.map(String) })}\n`);
        else io.out.write(`purged ${res.purged}${res.notFound.length > 0 ? `; not found: ${res.notFound.join(", ")}` : ""}\n`);
        return idList.length > 0 && res.notFound.length === idList.length ? EXIT.notFound : EXIT.ok;
      }
      default:
        throw new UsageError(`rejected ${sub}: expected list or purge`);
    }
  });
}
