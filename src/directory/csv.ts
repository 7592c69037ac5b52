/**
 * identities.csv (header exactly `user_id,username,external_id,email`) and courses.csv (`course_id,name`), used
 * by the offline CLI and by the directory admin service. Errors name the line, so a 100k-row export can be fixed.
 */
import { CsvError, parse } from "csv-parse/sync";
import { ValidationError } from "../errors.js";
import { validateCourse, type CourseRecord } from "./course-record.js";
import type { IdentityRecord } from "./directory.js";
import { validateIdentity } from "./identity-record.js";

export const IDENTITIES_CSV_HEADER = ["user_id", "username", "external_id", "email"] as const;
export const COURSES_CSV_HEADER = ["course_id", "name"] as const;

interface Row {
  readonly line: number;
  readonly cells: readonly string[];
}

/** `source` names the input in errors, e.g. "identities.csv" or "csv" (the request field). */
function rows(text: string, header: readonly string[], source: string): Row[] {
  let parsed: Array<{ record: string[]; info: { lines: number } }>;
  try {
    // With `info`, each record comes as {record, info}; the sync typings do not model that.
    parsed = parse(text, { info: true, bom: true, skip_empty_lines: true, relax_column_count: false }) as unknown as typeof parsed;
  } catch (e) {
    if (e instanceof CsvError) {
      const line = (e as CsvError & { lines?: number }).lines;
      throw new ValidationError(source, `${line !== undefined ? `line ${line}: ` : ""}${e.message}`);
    }
    throw e;
  }
  const first = parsed[0];
  if (!first) throw new ValidationError(source, `line 1: expected the header ${header.join(",")}`);
  if (first.record.length !== header.length || first.record.some((c, i) => c.trim() !== header[i])) {
    throw new ValidationError(source, `line ${first.info.lines}: expected the header exactly ${header.join(",")}`);
  }
  return parsed.slice(1).map((r) => ({ line: r.info.lines, cells: r.record.map((c) => c.trim()) }));
}

function atLine<T>(source: string, line: number, f: () => T): T {
  try {
    return f();
  } catch (e) {
    // Re-anchor the field error on the CSV line: "csv: line 3: email: expected an email address".
    if (e instanceof ValidationError) throw new ValidationError(source, `line ${line}: ${e.message}`);
    throw e;
  }
}

export function parseIdentitiesCsv(text: string, source = "csv"): IdentityRecord[] {
  return rows(text, IDENTITIES_CSV_HEADER, source).map(({ line, cells }) =>
    atLine(source, line, () => validateIdentity({ userId: cells[0], username: cells[1], externalId: cells[2], email: cells[3] }, "")),
  );
}

export function parseCoursesCsv(text: string, source = "csv"): CourseRecord[] {
  return rows(text, COURSES_CSV_HEADER, source).map(({ line, cells }) =>
    atLine(source, line, () => validateCourse({ courseId: cells[0], name: cells[1] }, "")),
  );
}
