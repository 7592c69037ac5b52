/**
 * Parts every xAPI statement shares (ERB XApiTransformer): actor, statement id, timestamp, version, and the
 * context with the transformer version, session id and course parent.
 */
import { createHash } from "node:crypto";
import type { EdxEvent, JsonObject, JsonValue } from "../edx-event.js";
import { getData, getString } from "../field-access.js";
import { xapiStatementId, type IdVerb, type XapiAgent } from "../statement-id.js";
import { xapiTimestamp } from "../time-format.js";
import { courseIri, type TransformEnv } from "../transform-env.js";
import { TransformSkip } from "../transform-skip.js";

export const XAPI_VERSION = "1.0.3";

export const EXT_TRANSFORMER_VERSION = "https://w3id.org/xapi/openedx/extension/transformer-version";
export const EXT_SESSION_ID = "https://w3id.org/xapi/openedx/extensions/session-id";
export const ACTIVITY_COURSE = "http://adlnet.gov/expapi/activities/course";

export interface XapiVerb extends IdVerb {}

export function verb(id: string, display: string): XapiVerb {
  return { id, display: { en: display } };
}

/** The actor in the configured IFI mode; an unresolvable user skips the event (ERB raises ValueError). */
export function xapiActor(env: TransformEnv): XapiAgent {
  const user = env.user;
  switch (env.agentIfiType) {
    case "external_id":
      if (!user?.externalId) throw TransformSkip.noUser("no external id for the event's user");
      return { objectType: "Agent", account: { homePage: env.lmsRootUrl, name: user.externalId } };
    case "mbox":
      if (!user?.email) throw TransformSkip.noUser("no email for the event's user (mbox mode)");
      return { objectType: "Agent", mbox: `mailto:${user.email}` };
    case "mbox_sha1sum":
      if (!user?.email) throw TransformSkip.noUser("no email for the event's user (mbox_sha1sum mode)");
      return { objectType: "Agent", mbox_sha1sum: createHash("sha1").update(user.email).digest("hex") };
  }
}

/** The course activity used as contextActivities.parent; the name is omitted when the course is unknown. */
export function courseActivity(env: TransformEnv, courseId: string, nameLang = "en-US"): JsonObject {
  const definition: JsonObject = { type: ACTIVITY_COURSE };
  if (env.courseName !== undefined) definition["name"] = { [nameLang]: env.courseName };
  return { id: courseIri(env, courseId), objectType: "Activity", definition };
}

export interface ContextOptions {
  /** Add contextActivities.parent = [course] when the event has context.course_id (default true). */
  readonly courseParent?: boolean;
  /** Family-specific context extensions, added after the common ones. */
  readonly extensions?: JsonObject;
  /** Extra contextActivities (grouping, ...). */
  readonly contextActivities?: JsonObject;
  /** context.statement (StatementRef of multi-question children). */
  readonly statement?: JsonObject;
}

export function xapiContext(event: EdxEvent, env: TransformEnv, opts: ContextOptions = {}): JsonObject {
  const context: JsonObject = {};
  const activities: JsonObject = {};
  const courseId = getString(event, "context.course_id");
  if ((opts.courseParent ?? true) && courseId !== undefined) activities["parent"] = [courseActivity(env, courseId)];
  Object.assign(activities, opts.contextActivities ?? {});
  if (Object.keys(activities).length > 0) context["contextActivities"] = activities;
  const extensions: JsonObject = { [EXT_TRANSFORMER_VERSION]: env.transformerVersion };
  const session = getString(event, "session");
  if (session !== undefined) extensions[EXT_SESSION_ID] = session;
  Object.assign(extensions, dropUndefined(opts.extensions ?? {}));
  context["extensions"] = extensions;
  if (opts.statement) context["statement"] = opts.statement;
  return context;
}

export interface StatementParts {
  readonly verb: XapiVerb;
  readonly object: JsonObject;
  readonly result?: JsonObject | undefined;
  readonly context: JsonObject;
  /** Set for the child statements of multi-question problems (changes the id namespace). */
  readonly childKey?: string;
}

/** Assembles a statement in the conventional key order, with ERB's id and tincan's timestamp. */
export function xapiStatement(event: EdxEvent, env: TransformEnv, parts: StatementParts): JsonObject {
  const actor = xapiActor(env);
  const statement: JsonObject = {
    id: xapiStatementId(parts.verb, actor, event.rawTimestamp, parts.childKey),
    actor: actor as unknown as JsonObject,
    verb: { id: parts.verb.id, display: parts.verb.display },
    object: parts.object,
  };
  if (parts.result !== undefined && Object.keys(parts.result).length > 0) statement["result"] = parts.result;
  statement["context"] = parts.context;
  statement["timestamp"] = xapiTimestamp(event.rawTimestamp);
  statement["version"] = XAPI_VERSION;
  return statement;
}

/** tincan drops None-valued properties and extension values on serialisation; empty maps stay. */
export function dropUndefined(obj: Record<string, JsonValue | undefined>): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined && v !== null) out[k] = v;
  return out;
}

/** A value as a number, or undefined; ERB's float() of strings like "3.0" included. */
export function numberOf(v: JsonValue | undefined): number | undefined {
  if (typeof v === "number") return v;
  if (typeof v === "string" && v.trim() !== "" && !Number.isNaN(Number(v))) return Number(v);
  return undefined;
}

export { getData };

/** An Activity object with the given definition type; `definition` adds name, extensions, etc. */
export function activity(id: string | undefined, type: string, definition: JsonObject = {}): JsonObject {
  const out: JsonObject = {};
  if (id !== undefined) out["id"] = id;
  out["objectType"] = "Activity";
  out["definition"] = { type, ...definition };
  return out;
}

/** A `result` with empty extension maps removed (tincan would keep `{}`; an LRS accepts both, ERB never emits one). */
export function xapiResult(parts: Record<string, JsonValue | undefined>): JsonObject | undefined {
  const out = dropUndefined(parts);
  const ext = out["extensions"];
  if (ext !== undefined && typeof ext === "object" && ext !== null && !Array.isArray(ext) && Object.keys(ext).length === 0) {
    delete out["extensions"];
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The id of a statement built by `xapiStatement`. */
export function xapiStatementIdOf(statement: JsonObject): string {
  return statement["id"] as string;
}
