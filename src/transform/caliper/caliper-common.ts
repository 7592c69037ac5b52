/**
 * Parts every Caliper 1.2 event shares (ERB CaliperTransformer): @context, deterministic urn:uuid id, eventTime,
 * actor Person, session, extensions.transformerVersion, and the object's isPartOf course offering.
 */
import type { EdxEvent, JsonObject, JsonValue } from "../edx-event.js";
import { getString } from "../field-access.js";
import { caliperEventId } from "../statement-id.js";
import { caliperEventTime } from "../time-format.js";
import { courseIri, lmsIri, type TransformEnv } from "../transform-env.js";
import { TransformSkip } from "../transform-skip.js";

export const CALIPER_CONTEXT = "http://purl.imsglobal.org/ctx/caliper/v1p2";

/** Caliper always identifies the learner by the anonymous external id (ERB's CALIPER ExternalId). */
export function caliperActor(env: TransformEnv): JsonObject {
  const externalId = env.user?.externalId;
  if (!externalId) throw TransformSkip.noUser("no external id for the event's user");
  return { id: lmsIri(env, `/user/${externalId}`), type: "Person" };
}

/** `object.extensions.isPartOf`, present when the event has context.course_id. */
export function isPartOfCourse(event: EdxEvent, env: TransformEnv): JsonObject | undefined {
  const courseId = getString(event, "context.course_id");
  return courseId === undefined ? undefined : { id: courseIri(env, courseId), type: "CourseOffering" };
}

/**
 * The object's `extensions`: isPartOf (when the event names a course) plus family-specific keys. Keys whose value
 * is undefined are left out. Returns undefined when nothing remains, so the object carries no empty map.
 */
export function objectExtensions(
  event: EdxEvent,
  env: TransformEnv,
  extra?: Readonly<Record<string, JsonValue | undefined>>,
): JsonObject | undefined {
  const out: JsonObject = {};
  const isPartOf = isPartOfCourse(event, env);
  if (isPartOf) out["isPartOf"] = isPartOf;
  if (extra) {
    for (const key in extra) {
      const v = extra[key];
      if (v !== undefined) out[key] = v;
    }
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** `{id, type, ...fields, extensions}` with the shared extensions; undefined fields are omitted. */
export function caliperObject(
  event: EdxEvent,
  env: TransformEnv,
  type: string,
  id: string | undefined,
  fields?: Readonly<Record<string, JsonValue | undefined>>,
  extra?: Readonly<Record<string, JsonValue | undefined>>,
): JsonObject {
  const object: JsonObject = { type };
  if (id !== undefined) object["id"] = id;
  if (fields) {
    for (const key in fields) {
      const v = fields[key];
      if (v !== undefined) object[key] = v;
    }
  }
  const extensions = objectExtensions(event, env, extra);
  if (extensions) object["extensions"] = extensions;
  return object;
}

export interface CaliperParts {
  readonly type: string;
  readonly action: string;
  readonly object: JsonObject;
  readonly target?: JsonObject;
  readonly generated?: JsonObject;
  /** Event-level extensions besides transformerVersion. */
  readonly extensions?: JsonObject;
}

export function caliperEvent(event: EdxEvent, env: TransformEnv, parts: CaliperParts): JsonObject {
  const actor = caliperActor(env);
  const out: JsonObject = {
    "@context": CALIPER_CONTEXT,
    id: caliperEventId(
      parts.type,
      parts.action,
      actor["id"] as string,
      event.rawTimestamp,
      typeof parts.object["id"] === "string" ? parts.object["id"] : "",
      event.name,
    ),
    type: parts.type,
    action: parts.action,
    actor,
    object: parts.object,
    eventTime: caliperEventTime(event.rawTimestamp),
  };
  if (parts.target) out["target"] = parts.target;
  if (parts.generated) out["generated"] = parts.generated;
  out["extensions"] = { transformerVersion: env.transformerVersion, ...(parts.extensions ?? {}) };
  const session = getString(event, "session");
  if (session !== undefined) out["session"] = { id: lmsIri(env, `/sessions/${session}`), type: "Session" };
  return out;
}
