/** COURSES_FILE: course names read once at start, as CSV (`course_id,name`) or a JSON object {course_id: name}. */
import { readFile } from "node:fs/promises";
import { ValidationError } from "../errors.js";
import { validateCourse } from "./course-record.js";
import { parseCoursesCsv } from "./csv.js";

export async function loadCoursesFile(path: string): Promise<Map<string, string>> {
  const text = await readFile(path, "utf8");
  return parseCoursesText(text, path);
}

/** JSON when the text starts with "{", CSV otherwise. `source` names the file in errors. */
export function parseCoursesText(text: string, source: string): Map<string, string> {
  if (text.trimStart().startsWith("{")) {
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch (e) {
      throw new ValidationError(source, `invalid JSON: ${(e as Error).message}`);
    }
    if (obj === null || typeof obj !== "object" || Array.isArray(obj))
      throw new ValidationError(source, "expected a JSON object {course_id: name}");
    const out = new Map<string, string>();
    for (const [courseId, name] of Object.entries(obj)) {
      if (typeof name !== "string") throw new ValidationError(`${source}[${JSON.stringify(courseId)}]`, "expected a string name");
      const c = validateCourse({ courseId, name }, `${source}[${JSON.stringify(courseId)}]`);
      out.set(c.courseId, c.name);
    }
    return out;
  }
  return new Map(parseCoursesCsv(text, source).map((c) => [c.courseId, c.name]));
}
