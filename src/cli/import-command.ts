/**
 * `identities import FILE.csv` and `courses import FILE.csv`: the CSV is sent as it is (ImportIdentities /
 * ImportCourses take CSV text with the headers user_id,username,external_id,email and course_id,name), so the
 * service's parser and its error messages (row and column) are the only ones.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { connectRemote, EXIT, guarded, REMOTE_OPTIONS, UsageError, type Io } from "./remote.js";

export const IMPORT_USAGE = `  event-routing identities import FILE.csv   (user_id,username,external_id,email)
  event-routing courses import FILE.csv      (course_id,name)
`;

export async function runImport(kind: "identities" | "courses", args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({ args: rest, options: REMOTE_OPTIONS, allowPositionals: true, strict: true });
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
    const res =
      kind === "identities"
        ? await remote.directory.importIdentities({ csv }, remote.callOptions)
        : await remote.directory.importCourses({ csv }, remote.callOptions);
    io.out.write(remote.json ? `${JSON.stringify({ imported: res.imported })}\n` : `imported ${res.imported} ${kind}\n`);
    return EXIT.ok;
  });
}
