/**
 * `learners forget|forgotten|progress`: the right to erasure from a terminal or an LMS retirement script.
 * forget needs --yes (it cannot be undone: the learner's undelivered statements are deleted) and waits until the
 * streams are cleared, printing progress on stderr, unless --no-wait; it always prints what a forget cannot reach.
 * forgotten lists the audit records; progress follows one forget by id.
 */
import { parseArgs } from "node:util";
import { toJson } from "@bufbuild/protobuf";
import { ForgetRecordSchema, ForgetState, type ForgetRecord } from "../../gen/eventrouting/v1/learner_admin_service_pb.js";
import { type CommandHelp, REMOTE_ENV, REMOTE_FLAGS, renderHelp, subcommandUsage, wantsHelp } from "./help.js";
import { EXIT, UsageError } from "./exit-codes.js";
import { connectRemote, guarded, isoOrEmpty, REMOTE_OPTIONS, table, type Io, type Remote } from "./remote.js";

const FORGET_OPTIONS = {
  ...REMOTE_OPTIONS,
  "user-id": { type: "string" },
  username: { type: "string" },
  "external-id": { type: "string" },
  email: { type: "string" },
  yes: { type: "boolean", default: false },
  "no-wait": { type: "boolean", default: false },
} as const;
const LIST_OPTIONS = { ...REMOTE_OPTIONS, limit: { type: "string" } } as const;
const ALL_OPTIONS = { ...FORGET_OPTIONS, ...LIST_OPTIONS } as const;

/** How often `forget` asks for progress while it waits. */
const POLL_MS = 1000;

export const LEARNERS_COMMANDS = {
  forget: {
    options: FORGET_OPTIONS,
    help: {
      synopsis: ["learners forget --user-id ID [--username NAME] [--external-id ID] [--email EMAIL] --yes"],
      about:
        "Forgets a learner (ForgetLearner): their later events are skipped on every instance, their identity rows\n" +
        "are deleted, and their statements are removed from the delivery and failed streams. Cannot be undone.\n" +
        "Waits until the streams are cleared (progress on stderr) and prints the counts per router.",
      flags: [
        { flag: "--user-id ID", text: "the LMS user id (this or --username is required; give both when known)" },
        { flag: "--username NAME", text: "the LMS username" },
        { flag: "--external-id ID", text: "the learner's xAPI external id, when known (older statements are found by it)" },
        { flag: "--email EMAIL", text: "the learner's email, for mbox actors the identity table does not know" },
        { flag: "--yes", text: "confirm: the learner's undelivered statements are deleted" },
        { flag: "--no-wait", text: "answer at once with the forget id (learners progress ID follows it)" },
        ...REMOTE_FLAGS,
      ],
      env: REMOTE_ENV,
    },
  },
  progress: {
    options: REMOTE_OPTIONS,
    help: {
      synopsis: ["learners progress FORGET_ID"],
      about: "One forget: RUNNING with what it has read so far, or DONE with its counts.",
      flags: REMOTE_FLAGS,
      env: REMOTE_ENV,
    },
  },
  forgotten: {
    options: LIST_OPTIONS,
    help: {
      synopsis: ["learners forgotten [--limit N]"],
      about: "The audit records of every forget, newest first: when, which admin token, the counts. No learner identifiers.",
      flags: [{ flag: "--limit N", text: "at most N records (default 100, at most 1000)" }, ...REMOTE_FLAGS],
      env: REMOTE_ENV,
    },
  },
} satisfies Record<string, { options: Record<string, unknown>; help: CommandHelp }>;

type LearnersSub = keyof typeof LEARNERS_COMMANDS;

export const LEARNERS_USAGE = subcommandUsage(LEARNERS_COMMANDS);

const stateName = (f: ForgetRecord) => (f.state === ForgetState.DONE ? "done" : "running");

function totals(f: ForgetRecord): { delivery: bigint; failed: bigint } {
  let delivery = 0n;
  let failed = 0n;
  for (const r of f.routers) {
    delivery += r.delivery;
    failed += r.failed;
  }
  return { delivery, failed };
}

function printRecords(remote: Remote, io: Io, records: readonly ForgetRecord[], one: boolean): void {
  if (remote.json) {
    const json = records.map((r) => toJson(ForgetRecordSchema, r));
    io.out.write(`${JSON.stringify(one ? json[0] : json)}\n`);
    return;
  }
  io.out.write(
    table(
      ["FORGET ID", "STATE", "REQUESTED", "BY", "DELIVERY", "FAILED", "IDENTITY ROWS"],
      records.map((f) => {
        const t = totals(f);
        return [
          f.forgetId,
          stateName(f),
          isoOrEmpty(f.requestedTime),
          f.requestedBy,
          String(t.delivery),
          String(t.failed),
          f.identityRecordsDeleted,
        ];
      }),
    ),
  );
}

/** The counts per router and what no forget reaches, after a forget. */
function printForget(remote: Remote, io: Io, f: ForgetRecord): void {
  if (remote.json) {
    printRecords(remote, io, [f], true);
    return;
  }
  io.out.write(`forget ${f.forgetId}: ${stateName(f)} (${f.scanned}/${f.toScan} messages read)\n`);
  io.out.write(
    table(
      ["ROUTER", "DELIVERY", "FAILED"],
      f.routers.map((r) => [r.routerId, String(r.delivery), String(r.failed)]),
    ),
  );
  io.out.write(`identity rows deleted: ${f.identityRecordsDeleted}\nout of reach:\n${f.outOfReach.map((s) => `  - ${s}\n`).join("")}`);
}

async function waitDone(remote: Remote, io: Io, first: ForgetRecord): Promise<ForgetRecord> {
  let f = first;
  while (f.state !== ForgetState.DONE) {
    io.err.write(`forget ${f.forgetId}: ${f.scanned}/${f.toScan} messages read\n`);
    await new Promise((r) => setTimeout(r, POLL_MS));
    f = (await remote.learners.getForgetProgress({ forgetId: f.forgetId })).forget!;
  }
  return f;
}

type Values = ReturnType<typeof parseLearnersArgs>["values"];

const RUN_SUBCOMMAND: Record<LearnersSub, (values: Values, io: Io, positionals: string[]) => Promise<number>> = {
  async forget(values, io) {
    if (!values["user-id"] && !values.username) throw new UsageError("learners forget needs --user-id or --username");
    if (!values.yes) throw new UsageError("learners forget deletes the learner's undelivered statements: add --yes to confirm");
    const remote = connectRemote(values, io.env);
    const res = await remote.learners.forgetLearner({
      userId: values["user-id"] ?? "",
      username: values.username ?? "",
      externalId: values["external-id"] ?? "",
      email: values.email ?? "",
      noWait: values["no-wait"] === true,
    });
    const f = values["no-wait"] ? res.forget! : await waitDone(remote, io, res.forget!);
    printForget(remote, io, f);
    return EXIT.ok;
  },
  async progress(values, io, positionals) {
    const id = positionals[0];
    if (!id) throw new UsageError("learners progress needs a forget id");
    const remote = connectRemote(values, io.env);
    printForget(remote, io, (await remote.learners.getForgetProgress({ forgetId: id })).forget!);
    return EXIT.ok;
  },
  async forgotten(values, io) {
    const limit = values.limit === undefined ? 0 : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 0) throw new UsageError("--limit expects a whole number");
    const remote = connectRemote(values, io.env);
    printRecords(remote, io, (await remote.learners.listForgottenLearners({ limit })).forgets, false);
    return EXIT.ok;
  },
};

function parseLearnersArgs(args: string[], known: LearnersSub | undefined) {
  return parseArgs({
    args,
    // Typed as the union of every subcommand's options; at run time only the subcommand's own are accepted.
    options: (known ? LEARNERS_COMMANDS[known].options : REMOTE_OPTIONS) as typeof ALL_OPTIONS,
    allowPositionals: true,
    strict: true,
  });
}

export async function runLearners(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  const known = sub !== undefined && Object.hasOwn(LEARNERS_COMMANDS, sub) ? (sub as LearnersSub) : undefined;
  if (wantsHelp(args)) {
    io.out.write(
      known ? renderHelp(LEARNERS_COMMANDS[known].help) : `Usage:\n${LEARNERS_USAGE}\nlearners SUBCOMMAND --help for its flags.\n`,
    );
    return EXIT.ok;
  }
  const { values, positionals } = parseLearnersArgs(rest, known);
  return guarded(io, values.debug, async () => {
    if (known === undefined) throw new UsageError(`learners: expected ${Object.keys(LEARNERS_COMMANDS).join(", ")}\n${LEARNERS_USAGE}`);
    return RUN_SUBCOMMAND[known](values, io, positionals);
  });
}
