/**
 * Which user an event is about, by ERB's rule (fixed in 9.3.6 for instructor-driven enrollments): data.user_id,
 * else data.username, else the first user_id anywhere, else the first username. In the tracking-log shape the
 * payload is called `event`, so event.* gets the same precedence over the context user. Pure; the ingest layer
 * turns the reference into a ResolvedUser through the identity provider.
 */
import type { EdxEvent } from "./edx-event.js";
import { getData, pyStr } from "./field-access.js";

export interface UserRef {
  readonly kind: "user_id" | "username";
  readonly value: string;
}

export function userRefOf(event: EdxEvent): UserRef | undefined {
  const candidates: Array<[UserRef["kind"], string]> = [
    ["user_id", "data.user_id"],
    ["username", "data.username"],
    ["user_id", "event.user_id"],
    ["username", "event.username"],
    ["user_id", "user_id"],
    ["username", "username"],
  ];
  for (const [kind, key] of candidates) {
    const v = getData(event, key);
    if (v !== undefined && (typeof v === "string" || typeof v === "number")) return { kind, value: pyStr(v) };
  }
  return undefined;
}

/** The course an event belongs to, for the course-name look-up. */
export function courseIdOf(event: EdxEvent): string | undefined {
  for (const key of ["context.course_id", "data.course_id", "event.course_id"]) {
    const v = getData(event, key);
    if (typeof v === "string") return v;
  }
  return undefined;
}

/**
 * Where an event can name a person, read as exact paths (no search, so the check costs a few property reads):
 * the payload under either shape's name, the context the LMS fills, and the tracking log's top-level username.
 */
const IDENTIFIER_FIELDS: ReadonlyArray<readonly [UserRef["kind"], readonly string[]]> = [
  ["user_id", ["data", "user_id"]],
  ["username", ["data", "username"]],
  ["user_id", ["event", "user_id"]],
  ["username", ["event", "username"]],
  ["user_id", ["context", "user_id"]],
  ["username", ["context", "username"]],
  ["username", ["username"]],
];

/**
 * Every person an event names, for the forgotten-learner check (src/erasure/): not only the learner the actor
 * comes from (`userRefOf`), because an event that names a forgotten person anywhere still carries their id.
 * Pure; may repeat a reference.
 */
export function learnerIdentifiers(event: EdxEvent): UserRef[] {
  const out: UserRef[] = [];
  for (const [kind, path] of IDENTIFIER_FIELDS) {
    let v: unknown = event.body;
    for (const part of path)
      v = v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>)[part] : undefined;
    if ((typeof v === "string" && v !== "") || typeof v === "number") out.push({ kind, value: pyStr(v) });
  }
  const ref = userRefOf(event);
  if (ref !== undefined) out.push(ref);
  return out;
}
