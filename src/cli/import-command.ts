/**
 * `identities import FILE.csv` and `courses import FILE.csv`: the CSV is sent as it is (ImportIdentities /
 * ImportCourses take CSV text with the headers user_id,username,external_id,email and course_id,name), so the
 * service's parser and its error messages (row and column) are the only ones.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { type CommandHelp, PROGRAM, REMOTE_ENV, REMOTE_FLAGS, renderHelp, wantsHelp } from "./help.js";
import { EXIT, UsageError } from "./exit-codes.js";
import { connectRemote, guarded, REMOTE_OPTIONS, type Io } from "./remote.js";

/** identities import / courses import: the options their parser accepts and their --help. */
export const IMPORT_COMMANDS = {
  identities: {
    options: REMOTE_OPTIONS,
    help: {
      synopsis: ["identities import FILE.csv"],
      about: "Loads learners from a CSV with the header user_id,username,external_id,email (ImportIdentities).",
      flags: REMOTE_FLAGS,
      env: REMOTE_ENV,
    },
  },
  courses: {
    options: REMOTE_OPTIONS,
    help: {
      synopsis: ["courses import FILE.csv"],
      about: "Loads course names from a CSV with the header course_id,name (ImportCourses).",
      flags: REMOTE_FLAGS,
      env: REMOTE_ENV,
    },
  },
} satisfies Record<string, { options: Record<string, unknown>; help: CommandHelp }>;

export const IMPORT_USAGE = `  ${PROGRAM} identities import FILE.csv   (user_id,username,external_id,email)
  ${PROGRAM} courses import FILE.csv      (course_id,name)
`;

export async function runImport(kind: "identities" | "courses", args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (wantsHelp(args)) {
    io.out.write(renderHelp(IMPORT_COMMANDS[kind].help));
    return EXIT.ok;
  }
  const { values, positionals } = parseArgs({ args: rest, options: IMPORT_COMMANDS[kind].options, allowPositionals: true, strict: true });
  return guarded(io, values.debug, async () => {
    if (sub !== "import" || positionals.length !== 1) throw new UsageError(`${kind}: expected import FILE.csv\n${IMPORT_USAGE}`);
    const file = positionals[0]!;
    let csv: string;
    try {
      csv = readFileSync(file, "utf8");
    } catch (e) {
      throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
    }
    const remote = connectRemote(values, io.env);
    const res = kind === "identities" ? await remote.directory.importIdentities({ csv }) : await remote.directory.importCourses({ csv });
    io.out.write(remote.json ? `${JSON.stringify({ imported: res.imported })}\n` : `imported ${res.imported} ${kind}\n`);
    return EXIT.ok;
  });
}
