/**
 * `mappings list|get|apply|delete|test`: custom event mappings (MappingAdminService). apply takes a file or a
 * directory of YAML/JSON mapping files (mapping-input.ts) and creates each mapping or updates the stored one with
 * every field of the file, so a directory kept in git is the source of truth and applying it twice changes nothing;
 * each mapping is checked by the service on its samples, and a refused one is reported and the others still
 * applied. get prints the mapping as a file `apply` takes back (output-only fields as comments). test runs a
 * stored mapping, or one from a file without storing it, on an event file and prints the statements.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Code, ConnectError } from "@connectrpc/connect";
import { toJson } from "@bufbuild/protobuf";
import { stringify as toYaml } from "yaml";
import { Backend } from "../../gen/eventrouting/v1/event_pb.js";
import {
  MappingSchema,
  type ListMappingsResponse,
  type Mapping,
  type TestMappingResponse,
  TestMappingResponseSchema,
} from "../../gen/eventrouting/v1/mapping_admin_service_pb.js";
import { type CommandHelp, REMOTE_ENV, REMOTE_FLAGS, renderHelp, subcommandUsage, wantsHelp } from "./help.js";
import { EXIT, UsageError } from "./exit-codes.js";
import { readMappings } from "./mapping-input.js";
import { connectRemote, cut, failure, guarded, isoOrEmpty, REMOTE_OPTIONS, table, type Io, type Remote } from "./remote.js";

const LIST_OPTIONS = { ...REMOTE_OPTIONS, event: { type: "string" } } as const;
const APPLY_OPTIONS = { ...REMOTE_OPTIONS, file: { type: "string", short: "f" } } as const;
const TEST_OPTIONS = { ...APPLY_OPTIONS, event: { type: "string" } } as const;
const ALL_OPTIONS = { ...LIST_OPTIONS, ...TEST_OPTIONS } as const;

/** Each subcommand: the options its parser accepts and its --help (test/cli-help.test.ts holds them together). */
export const MAPPINGS_COMMANDS = {
  list: {
    options: LIST_OPTIONS,
    help: {
      synopsis: ["mappings list [--event NAME]"],
      about:
        "Every custom mapping: id, backend, events (names, /pattern/), whether it replaces a built-in, enabled,\n" +
        "revision, and the built-in events it overlaps. With --event: the mappings that handle that event and the\n" +
        "transformer active for it per backend (builtin, mapping:<id>, or none).",
      flags: [{ flag: "--event NAME", text: "only mappings handling this event name, and who handles it" }, ...REMOTE_FLAGS],
      env: REMOTE_ENV,
    },
  },
  get: {
    options: REMOTE_OPTIONS,
    help: {
      synopsis: ["mappings get ID"],
      about: "One mapping as YAML that `mappings apply -f` takes back (revision, times and overlaps as comments).",
      flags: REMOTE_FLAGS,
      env: REMOTE_ENV,
    },
  },
  apply: {
    options: APPLY_OPTIONS,
    help: {
      synopsis: ["mappings apply -f FILE|DIR"],
      about:
        "Creates each mapping of the file (or of every *.yaml, *.yml, *.json file of the directory), or replaces the\n" +
        "stored one with it. The service runs each mapping on its samples and refuses it unless every statement is\n" +
        "valid; a refused mapping is reported with the reason and the others are still applied (exit 5 if any was).",
      flags: [
        { flag: "-f, --file FILE|DIR", text: "a mapping file (one mapping, a list, or YAML --- documents) or a directory of them" },
        ...REMOTE_FLAGS,
      ],
      env: REMOTE_ENV,
    },
  },
  delete: {
    options: REMOTE_OPTIONS,
    help: {
      synopsis: ["mappings delete ID"],
      about: "Deletes the mapping: its events go back to the built-in transformer, or to NO_TRANSFORMER.",
      flags: REMOTE_FLAGS,
      env: REMOTE_ENV,
    },
  },
  test: {
    options: TEST_OPTIONS,
    help: {
      synopsis: ["mappings test (ID | -f FILE [ID]) --event EVENT.json"],
      about:
        "Runs a stored mapping, or one from a file (not stored; ID picks one when the file has several), on one\n" +
        "event (either tracking-log shape) and prints the statements as JSON. Exit 0 when it built valid\n" +
        "statements, 5 when it skipped the event or a statement is invalid (the reason and problems on stderr).",
      flags: [
        { flag: "-f, --file FILE", text: "test this mapping file instead of a stored mapping" },
        { flag: "--event FILE", text: "the event, as JSON or one tracking-log line" },
        ...REMOTE_FLAGS,
      ],
      env: REMOTE_ENV,
    },
  },
} satisfies Record<string, { options: Record<string, unknown>; help: CommandHelp }>;

type MappingsSub = keyof typeof MAPPINGS_COMMANDS;

export const MAPPINGS_USAGE = subcommandUsage(MAPPINGS_COMMANDS);

const backendName = (b: Backend) => Backend[b]?.toLowerCase() ?? "unspecified";

function eventsOf(m: Mapping): string {
  return [...m.eventNames, ...(m.eventPattern !== "" ? [`/${m.eventPattern}/`] : [])].join(",");
}

function printList(remote: Remote, io: Io, res: ListMappingsResponse, eventName: string | undefined): void {
  if (remote.json) {
    io.out.write(`${JSON.stringify(res.mappings.map((m) => toJson(MappingSchema, m)))}\n`);
    return;
  }
  io.out.write(
    table(
      ["ID", "BACKEND", "EVENTS", "REPLACES BUILTIN", "ENABLED", "REVISION", "OVERLAPS BUILTIN"],
      res.mappings.map((m) => [
        m.id,
        backendName(m.backend),
        cut(eventsOf(m), 50),
        m.replaceBuiltin ? "yes" : "no",
        m.disabled ? "no" : "yes",
        String(m.revision),
        cut(m.builtinOverlap.join(","), 40),
      ]),
    ),
  );
  if (eventName === undefined) return;
  const active = res.active.map((a) => `${backendName(a.backend)}: ${a.transformer || "none (NO_TRANSFORMER)"}`);
  io.out.write(`active for ${eventName}: ${active.join(", ") || "none"}\n`);
}

/** The mapping as a file `apply` takes back: writable fields as YAML, output-only ones as comments. */
export function mappingYaml(m: Mapping): string {
  const doc = toJson(MappingSchema, m, { useProtoFieldName: true }) as Record<string, unknown>;
  for (const k of ["create_time", "update_time", "revision", "builtin_overlap"]) delete doc[k];
  const notes = [
    `# revision ${m.revision}, created ${isoOrEmpty(m.createTime) || "-"}, updated ${isoOrEmpty(m.updateTime) || "-"}`,
    ...(m.builtinOverlap.length > 0
      ? [`# built-in events it ${m.replaceBuiltin ? "replaces" : "leaves to the built-in"}: ${m.builtinOverlap.join(", ")}`]
      : []),
  ];
  return `${notes.join("\n")}\n${toYaml(doc, { lineWidth: 0 })}`;
}

function warn(io: Io, id: string, warnings: readonly string[]): void {
  for (const w of warnings) io.err.write(`warning: ${id}: ${w}\n`);
}

/** Creates the mapping, or replaces the stored one (an empty update mask: every writable field). */
async function applyOne(remote: Remote, mapping: Mapping): Promise<{ verb: string; mapping?: Mapping; warnings: string[] }> {
  try {
    const res = await remote.mappings.createMapping({ mapping });
    return { verb: "created", ...(res.mapping ? { mapping: res.mapping } : {}), warnings: res.warnings };
  } catch (e) {
    if (ConnectError.from(e).code !== Code.AlreadyExists) throw e;
  }
  const res = await remote.mappings.updateMapping({ mapping });
  return { verb: "updated", ...(res.mapping ? { mapping: res.mapping } : {}), warnings: res.warnings };
}

async function runApply(values: ParsedValues, io: Io): Promise<number> {
  if (values.file === undefined) throw new UsageError("mappings apply needs -f FILE|DIR");
  const sources = readMappings(values.file);
  const remote = connectRemote(values, io.env);
  let code: number = EXIT.ok;
  const applied: unknown[] = [];
  for (const { mapping, where } of sources) {
    try {
      const r = await applyOne(remote, mapping);
      warn(io, mapping.id, r.warnings);
      if (remote.json) applied.push({ result: r.verb, mapping: r.mapping ? toJson(MappingSchema, r.mapping) : null, warnings: r.warnings });
      else io.out.write(`${r.verb} ${mapping.id} (revision ${r.mapping?.revision ?? "?"})\n`);
    } catch (e) {
      const f = failure(e, values.debug);
      // Unavailable or not allowed will not get better for the next mapping: stop there.
      if (f.code === EXIT.unavailable || f.code === EXIT.notAllowed) throw e;
      io.err.write(`${where}: ${mapping.id || "(no id)"}: ${f.line}\n`);
      if (code === EXIT.ok) code = f.code;
    }
  }
  if (remote.json) io.out.write(`${JSON.stringify(applied)}\n`);
  return code;
}

/** The mapping to test from a file: the only one, or the one named by `id`. */
function mappingToTest(file: string, id: string | undefined): Mapping {
  const all = readMappings(file).map((s) => s.mapping);
  if (id === undefined) {
    if (all.length === 1) return all[0]!;
    throw new UsageError(`${file} holds ${all.length} mappings: name one (${all.map((m) => m.id).join(", ")})`);
  }
  const found = all.find((m) => m.id === id);
  if (!found) throw new UsageError(`${file} has no mapping ${id} (it has ${all.map((m) => m.id).join(", ")})`);
  return found;
}

function readEvent(path: string | undefined): string {
  if (path === undefined) throw new UsageError("mappings test needs --event FILE");
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as Error).message}`);
  }
}

function printTest(remote: Remote, io: Io, res: TestMappingResponse): number {
  const bad = res.skipped || res.problems.length > 0;
  if (remote.json) {
    io.out.write(`${JSON.stringify(toJson(TestMappingResponseSchema, res, { alwaysEmitImplicit: true }))}\n`);
    return bad ? EXIT.refused : EXIT.ok;
  }
  if (!res.matches) io.err.write("note: the event's name is not one of the mapping's events (it would not be used for it)\n");
  if (res.skipped) io.err.write(`skipped: ${res.reason}\n`);
  for (const p of res.problems) io.err.write(`invalid: ${p}\n`);
  if (!res.skipped) io.out.write(`${JSON.stringify(res.statements, null, 2)}\n`);
  return bad ? EXIT.refused : EXIT.ok;
}

export async function runMappings(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  const known = sub !== undefined && Object.hasOwn(MAPPINGS_COMMANDS, sub) ? (sub as MappingsSub) : undefined;
  if (wantsHelp(args)) {
    io.out.write(
      known ? renderHelp(MAPPINGS_COMMANDS[known].help) : `Usage:\n${MAPPINGS_USAGE}\nmappings SUBCOMMAND --help for its flags.\n`,
    );
    return EXIT.ok;
  }
  const { values, positionals } = parseMappingsArgs(rest, known);
  return guarded(io, values.debug, async () => {
    if (known === undefined) throw new UsageError(`mappings: expected ${Object.keys(MAPPINGS_COMMANDS).join(", ")}\n${MAPPINGS_USAGE}`);
    const id = positionals[0];
    const needId = () => {
      if (!id) throw new UsageError(`mappings ${sub} needs a mapping id`);
      return id;
    };
    return RUN_SUBCOMMAND[known]({ values, io, id, needId });
  });
}

function parseMappingsArgs(args: string[], known: MappingsSub | undefined) {
  return parseArgs({
    args,
    // Typed as the union of every subcommand's options; at run time only the subcommand's own are accepted.
    options: (known ? MAPPINGS_COMMANDS[known].options : REMOTE_OPTIONS) as typeof ALL_OPTIONS,
    allowPositionals: true,
    strict: true,
  });
}

type ParsedValues = ReturnType<typeof parseMappingsArgs>["values"];

/** One subcommand's call: its flags, and its mapping id (`needId` throws the usage error when there is none). */
interface Invocation {
  readonly values: ParsedValues;
  readonly io: Io;
  readonly id: string | undefined;
  needId(): string;
}

const RUN_SUBCOMMAND: Record<MappingsSub, (call: Invocation) => Promise<number>> = {
  async list({ values, io }) {
    const remote = connectRemote(values, io.env);
    printList(remote, io, await remote.mappings.listMappings({ eventName: values.event ?? "" }), values.event);
    return EXIT.ok;
  },
  async get({ values, io, needId }) {
    const mappingId = needId();
    const remote = connectRemote(values, io.env);
    const res = await remote.mappings.getMapping({ id: mappingId });
    if (!res.mapping) throw new ConnectError(`mapping ${mappingId}`, Code.NotFound);
    io.out.write(remote.json ? `${JSON.stringify(toJson(MappingSchema, res.mapping))}\n` : mappingYaml(res.mapping));
    return EXIT.ok;
  },
  apply: ({ values, io }) => runApply(values, io),
  async delete({ values, io, needId }) {
    const mappingId = needId();
    const remote = connectRemote(values, io.env);
    await remote.mappings.deleteMapping({ id: mappingId });
    io.out.write(remote.json ? `${JSON.stringify({ deleted: mappingId })}\n` : `deleted ${mappingId}\n`);
    return EXIT.ok;
  },
  async test({ values, io, id }) {
    const json = readEvent(values.event);
    if (values.file === undefined && id === undefined) throw new UsageError("mappings test needs a mapping id or -f FILE");
    const inline = values.file !== undefined ? mappingToTest(values.file, id) : undefined;
    const remote = connectRemote(values, io.env);
    const event = { event: { case: "json" as const, value: json } };
    const res = await remote.mappings.testMapping(inline ? { mapping: inline, event } : { id: id!, event });
    return printTest(remote, io, res);
  },
};
