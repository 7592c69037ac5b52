/** One course name: validation of untrusted rows and its KV key (course ids contain ':' and '+', so base64url). */
import { ValidationError } from "../errors.js";
import { fieldPath } from "./identity-record.js";

export interface CourseRecord {
  readonly courseId: string;
  readonly name: string;
}

export const courseKey = (courseId: string): string => Buffer.from(courseId, "utf8").toString("base64url");

export function validateCourse(raw: { courseId?: string; name?: string }, field: string): CourseRecord {
  const courseId = raw.courseId ?? "";
  const name = raw.name ?? "";
  if (courseId === "") throw new ValidationError(fieldPath(field, "course_id"), "is required");
  if (courseId.length > 255) throw new ValidationError(fieldPath(field, "course_id"), "expected at most 255 characters");
  if (name === "") throw new ValidationError(fieldPath(field, "name"), "is required");
  if (name.length > 1000) throw new ValidationError(fieldPath(field, "name"), "expected at most 1000 characters");
  return { courseId, name };
}
