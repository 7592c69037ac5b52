/**
 * `rejected list|purge`: the rejected stream (malformed input the event-bus and NATS inputs refused, with the
 * reason) through ListRejected / PurgeRejected, so an operator reads it without the nats CLI. list shows each
 * entry's time, input, id and reason, and the input itself (cut to one line; --json has it whole). purge deletes
 * ids, or everything with --all; both need --yes, as the copies are the only trace of what was refused.
 */
import { parseArgs } from "node:util";
import { toJson } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { IngestAdminService, RejectedEntrySchema, type RejectedEntry } from "../../gen/eventrouting/v1/ingest_admin_service_pb.js";
import { connectRemote, cut, DEFAULT_URL, EXIT, guarded, isoOrEmpty, REMOTE_OPTIONS, table, UsageError, type Io } from "./remote.js";

export const REJECTED_USAGE = `  npm run cli -- rejected list [--source event-bus-redis|nats] [--limit N]
  npm run cli -- rejected purge (ID... | --all) --yes
`;

export const REJECTED_HELP = `Usage: npm run cli -- rejected list|purge [options]
  The rejected stream: copies of malformed input (bad Avro, missing fields, invalid JSON) that the event-bus
  and NATS inputs acknowledged to keep flowing, each with the reason and the time it was refused.
  list                   oldest first: ID, TIME, SOURCE, SOURCE_ID, REASON, INPUT (cut; --json shows it whole)
    --source NAME        only copies from this input: event-bus-redis or nats
    --limit N            at most N entries (default 100)
  purge ID...            delete these entries (the ID column of list)
  purge --all            delete every entry stored now
    --yes                required: the copies are the only trace of what was refused
  --url URL              service URL (default $EVENT_ROUTING_URL, else ${DEFAULT_URL})
  --token TOKEN          admin token (default $EVENT_ROUTING_TOKEN; one of the service's ADMIN_TOKENS)
  --json                 JSON instead of a table          --debug   show the cause of a failure
Exit codes: 0 ok, 1 usage, 2 not found (every id given), 3 unavailable, 4 not allowed, 5 refused, 6 other.
`;

const OPTIONS = {
  ...REMOTE_OPTIONS,
  source: { type: "string" },
  limit: { type: "string" },
  all: { type: "boolean", default: false },
  yes: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

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
  if (sub === undefined || sub === "--help" || sub === "-h") {
    (sub ? io.out : io.err).write(REJECTED_HELP);
    return sub ? EXIT.ok : EXIT.usage;
  }
  const { values, positionals } = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true, strict: true });
  if (values.help) {
    io.out.write(REJECTED_HELP);
    return EXIT.ok;
  }
  return guarded(io, values.debug, async () => {
    const connect = () => {
      const remote = connectRemote(values, io.env);
      // connectRemote checked the URL and the token; IngestAdminService is not among its clients.
      const url = values.url ?? io.env["EVENT_ROUTING_URL"] ?? DEFAULT_URL;
      const ingest = createClient(IngestAdminService, createGrpcTransport({ baseUrl: new URL(url).toString().replace(/\/$/, "") }));
      return { ingest, callOptions: remote.callOptions, json: remote.json };
    };
    switch (sub) {
      case "list": {
        if (positionals.length > 0) throw new UsageError(`rejected list takes no ids (got ${positionals.join(" ")})`);
        const limit = values.limit === undefined ? 100 : Number(values.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit ${values.limit}: expected a whole number above 0`);
        const remote = connect();
        const rows: RejectedEntry[] = [];
        let pageToken = "";
        do {
          const res = await remote.ingest.listRejected(
            { source: values.source ?? "", pageSize: Math.min(1000, limit - rows.length), pageToken },
            remote.callOptions,
          );
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
        const remote = connect();
        const res = await remote.ingest.purgeRejected({ ids: idList, all: values.all }, remote.callOptions);
        if (remote.json) io.out.write(`${JSON.stringify({ purged: res.purged, notFound: res.notFound.map(String) })}\n`);
        else io.out.write(`purged ${res.purged}${res.notFound.length > 0 ? `; not found: ${res.notFound.join(", ")}` : ""}\n`);
        return idList.length > 0 && res.notFound.length === idList.length ? EXIT.notFound : EXIT.ok;
      }
      default:
        throw new UsageError(`rejected: expected list or purge\n${REJECTED_USAGE}`);
    }
  });
}
