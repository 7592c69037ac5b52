/**
 * Caliper 1.2 validator for tests: the IMS JSON Schemas (1EdTech caliper-spec, branch json_schema, schema_1_2) run
 * by ajv-draft-04, hand-written envelope checks (spec §5.2; the shipped Envelope.json wrongly types `data` as a
 * single item), and an explicit profile table of which actions and entity types each event type allows, because
 * the schemas accept any of the 80 actions and any entity as object/target/generated. Two more checks the schemas
 * lack: ids and string entity references must be IRIs (or `_:` blank nodes), and a ToolLaunchEvent Launched needs
 * its federatedSession. IMS self-check (test/caliper-schema.test.ts): the schemas alone accept 91 of the 279 error
 * fixtures; with these checks 28 remain, all entity-level (documented there).
 *
 *   validateCaliperEvent(obj)    -> string[]   (empty = valid) for one event or entity
 *   validateCaliperEnvelope(obj) -> string[]   (empty = valid) for a whole envelope, items checked at /data/i
 *
 * Schema directory: $CALIPER_SCHEMA_DIR, else ../shared/reference/caliper/schema_1_2 beside the repo.
 * Logic follows XAPI-CALIPER-VALIDATION.md §3.3.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Ajv, ErrorObject, Format, ValidateFunction } from "ajv";
import AjvDraft04Module from "ajv-draft-04";
import addFormatsModule from "ajv-formats";
import { CALIPER_REFERENCE_DIR } from "./erb-fixtures.js";

// Both packages are CommonJS with a `default` property; under NodeNext the default import is the module object.
type AjvInstance = Ajv;
const AjvDraft04 = ((AjvDraft04Module as unknown as { default?: unknown }).default ?? AjvDraft04Module) as unknown as new (
  opts: Record<string, unknown>,
) => AjvInstance;
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as unknown as (ajv: AjvInstance) => void;

export const CALIPER_SCHEMA_DIR = resolve(process.env["CALIPER_SCHEMA_DIR"] ?? join(CALIPER_REFERENCE_DIR, "schema_1_2"));
export const CALIPER_V1P2_CONTEXT = "http://purl.imsglobal.org/ctx/caliper/v1p2";

/** A string entity reference or id must be an IRI (scheme ":" no whitespace) or a JSON-LD blank node `_:x`. */
const IRI_RE = /^(?:[A-Za-z][A-Za-z0-9+.-]*:|_:)\S*$/;
/** Event properties that hold an entity or its IRI (Caliper 1.2 §4.2 Event). */
const ENTITY_SLOTS = ["actor", "object", "target", "generated", "referrer", "edApp", "group", "membership", "session", "federatedSession"] as const;
const ENVELOPE_KEYS = new Set(["sensor", "sendTime", "dataVersion", "data"]);
const SEND_TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const EVENT_ID_RE = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** ISO 8601 duration with decimal fractions (`.` or `,`) on any component; ajv-formats' own rejects PT0.5S. */
const DURATION_RE =
  /^P(?!$)(\d+(?:[.,]\d+)?Y)?(\d+(?:[.,]\d+)?M)?(\d+(?:[.,]\d+)?W)?(\d+(?:[.,]\d+)?D)?(T(?=\d)(\d+(?:[.,]\d+)?H)?(\d+(?:[.,]\d+)?M)?(\d+(?:[.,]\d+)?S)?)?$/;

// ---------------------------------------------------------------------------------------------------------------
// Profile table (Caliper 1.2 spec §3 metric profiles / §4 events): allowed actions and entity types per event type.
// ---------------------------------------------------------------------------------------------------------------

const MEDIA_OBJECTS = ["MediaObject", "AudioObject", "ImageObject", "VideoObject"] as const;
const ASSIGNABLES = ["AssignableDigitalResource", "Assessment", "AssessmentItem"] as const;
const COLLECTIONS = ["DigitalResourceCollection", "Forum", "Thread", "Questionnaire", "Survey"] as const;
/** DigitalResource and every 1.2 subtype (plus the deprecated epub types and Link/LtiLink, used as referrers). */
const DIGITAL_RESOURCES = [
  "DigitalResource",
  ...ASSIGNABLES,
  ...MEDIA_OBJECTS,
  ...COLLECTIONS,
  "Chapter",
  "Document",
  "Frame",
  "Link",
  "LtiLink",
  "MediaLocation",
  "Message",
  "Page",
  "QuestionnaireItem",
  "Reading",
  "WebPage",
  "epubChapter",
  "epubPart",
  "epubSubChapter",
  "epubVolume",
] as const;
const ANNOTATIONS = ["Annotation", "BookmarkAnnotation", "HighlightAnnotation", "SharedAnnotation", "TagAnnotation"] as const;
const RESPONSES = [
  "Response",
  "DateTimeResponse",
  "FillinBlankResponse",
  "MultipleChoiceResponse",
  "MultipleResponseResponse",
  "MultiselectResponse",
  "OpenEndedResponse",
  "RatingScaleResponse",
  "SelectTextResponse",
  "TrueFalseResponse",
] as const;

/** `"*"` = any type (or any action). Omitted slot = the event type does not constrain it beyond the schema. */
export interface CaliperProfileRule {
  readonly actions: readonly string[] | "*";
  readonly object: readonly string[] | "*";
  readonly target?: readonly string[];
  readonly generated?: readonly string[];
  readonly referrer?: readonly string[];
}

const REFERRER = [...DIGITAL_RESOURCES, "SoftwareApplication"];

export const CALIPER_PROFILE_TABLE: Readonly<Record<string, CaliperProfileRule>> = {
  Event: { actions: "*", object: "*", referrer: REFERRER },
  AnnotationEvent: {
    actions: ["Bookmarked", "Classified", "Commented", "Described", "Disliked", "Highlighted", "Identified", "Liked", "Linked", "Ranked", "Questioned", "Recommended", "Replied", "Shared", "Subscribed", "Tagged"],
    object: DIGITAL_RESOURCES,
    target: DIGITAL_RESOURCES,
    generated: ANNOTATIONS,
    referrer: REFERRER,
  },
  AssessmentEvent: {
    actions: ["Started", "Paused", "Resumed", "Restarted", "Reset", "Submitted"],
    object: ["Assessment"],
    target: DIGITAL_RESOURCES,
    generated: ["Attempt"],
    referrer: REFERRER,
  },
  AssessmentItemEvent: {
    actions: ["Started", "Skipped", "Completed"],
    object: ["AssessmentItem"],
    target: DIGITAL_RESOURCES,
    generated: ["Attempt", ...RESPONSES],
    referrer: REFERRER,
  },
  AssignableEvent: {
    actions: ["Activated", "Deactivated", "Started", "Completed", "Submitted", "Reviewed"],
    object: ASSIGNABLES,
    target: DIGITAL_RESOURCES,
    generated: ["Attempt"],
    referrer: REFERRER,
  },
  FeedbackEvent: { actions: ["Commented", "Ranked"], object: "*", target: DIGITAL_RESOURCES, generated: ["Comment", "Rating"], referrer: REFERRER },
  ForumEvent: { actions: ["Subscribed", "Unsubscribed"], object: ["Forum"], referrer: REFERRER },
  GradeEvent: { actions: ["Graded"], object: ["Attempt"], generated: ["Score", "Result"], referrer: REFERRER },
  MediaEvent: {
    actions: [
      "Started", "Ended", "Paused", "Resumed", "Restarted", "ForwardedTo", "JumpedTo", "ChangedResolution", "ChangedSize",
      "ChangedSpeed", "ChangedVolume", "EnabledClosedCaptioning", "DisabledClosedCaptioning", "EnteredFullScreen",
      "ExitedFullScreen", "Muted", "Unmuted", "OpenedPopout", "ClosedPopout",
    ],
    object: MEDIA_OBJECTS,
    target: ["MediaLocation"],
    referrer: REFERRER,
  },
  MessageEvent: { actions: ["Posted", "MarkedAsRead", "MarkedAsUnread"], object: ["Message"], referrer: REFERRER },
  NavigationEvent: { actions: ["NavigatedTo"], object: [...DIGITAL_RESOURCES, "SoftwareApplication"], target: DIGITAL_RESOURCES, referrer: REFERRER },
  QuestionnaireEvent: { actions: ["Started", "Submitted"], object: ["Questionnaire"], referrer: REFERRER },
  QuestionnaireItemEvent: { actions: ["Started", "Completed", "Skipped"], object: ["QuestionnaireItem"], generated: RESPONSES, referrer: REFERRER },
  ResourceManagementEvent: {
    actions: ["Archived", "Copied", "Created", "Deleted", "Described", "Downloaded", "Modified", "Printed", "Published", "Restored", "Retrieved", "Saved", "Unpublished", "Uploaded"],
    object: DIGITAL_RESOURCES,
    generated: DIGITAL_RESOURCES,
    referrer: REFERRER,
  },
  SearchEvent: { actions: ["Searched"], object: "*", generated: ["SearchResponse"], referrer: REFERRER },
  SessionEvent: { actions: ["LoggedIn", "LoggedOut", "TimedOut"], object: ["SoftwareApplication", "Session", "LtiSession"], target: DIGITAL_RESOURCES, referrer: REFERRER },
  SurveyEvent: { actions: ["OptedIn", "OptedOut"], object: ["Survey"], referrer: REFERRER },
  SurveyInvitationEvent: { actions: ["Accepted", "Declined", "Sent"], object: ["SurveyInvitation"], referrer: REFERRER },
  ThreadEvent: { actions: ["MarkedAsRead", "MarkedAsUnread"], object: ["Thread"], referrer: REFERRER },
  ToolLaunchEvent: { actions: ["Launched", "Returned"], object: ["SoftwareApplication"], target: ["Link", "LtiLink"], generated: ["LtiSession"], referrer: REFERRER },
  ToolUseEvent: { actions: ["Used"], object: ["SoftwareApplication"], target: ["SoftwareApplication"], generated: ["AggregateMeasure", "AggregateMeasureCollection"], referrer: REFERRER },
  ViewEvent: { actions: ["Viewed"], object: [...DIGITAL_RESOURCES, "Result", "Score"], target: DIGITAL_RESOURCES, referrer: REFERRER },
  // Deprecated in 1.1/1.2 but still in schema_1_2.
  OutcomeEvent: { actions: ["Graded"], object: ["Attempt"], generated: ["Result", "Score"], referrer: REFERRER },
  ReadingEvent: { actions: ["NavigatedTo", "Searched", "Viewed"], object: DIGITAL_RESOURCES, referrer: REFERRER },
};

/** Caliper SessionEvent: TimedOut applies to a Session, LoggedIn/LoggedOut to the application. */
const SESSION_OBJECT_BY_ACTION: Readonly<Record<string, readonly string[]>> = {
  LoggedIn: ["SoftwareApplication"],
  LoggedOut: ["SoftwareApplication"],
  TimedOut: ["Session", "LtiSession"],
};

/** Ids and string entity references must be IRIs (the schemas only say "string"); extensions are not searched. */
function checkIris(item: Record<string, unknown>, path: string, isEvent: boolean): string[] {
  const errors: string[] = [];
  if (isEvent) {
    for (const slot of ENTITY_SLOTS) {
      const v = item[slot];
      if (typeof v === "string" && !IRI_RE.test(v)) errors.push(`${path}/${slot}: ${JSON.stringify(v)} is neither an entity object nor an IRI`);
    }
  }
  const walk = (v: unknown, p: string): void => {
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${p}/${i}`));
    else if (isObject(v)) {
      // Only entities (objects with a type) have Caliper ids; LTI messageParameters and @context maps do not.
      const id = v["id"];
      if (typeof v["type"] === "string" && typeof id === "string" && !IRI_RE.test(id)) errors.push(`${p}/id: ${JSON.stringify(id)} is not an IRI`);
      for (const [k, x] of Object.entries(v)) if (k !== "extensions" && k !== "@context") walk(x, `${p}/${k}`);
    }
  };
  walk(item, path);
  return errors;
}

/** Profile check only: action and the types of object/target/generated/referrer for the event's type. */
export function checkCaliperProfile(event: Record<string, unknown>, path = ""): string[] {
  const type = event["type"];
  if (typeof type !== "string" || !type.endsWith("Event")) return [];
  const rule = CALIPER_PROFILE_TABLE[type];
  if (!rule) return [`${path}/type: no profile rule for event type "${type}"`];
  const errors: string[] = [];
  const action = event["action"];
  if (rule.actions !== "*" && (typeof action !== "string" || !rule.actions.includes(action))) {
    errors.push(`${path}/action: "${String(action)}" is not allowed for ${type} (allowed: ${rule.actions.join(", ")})`);
  }
  let objectTypes = rule.object;
  if (type === "SessionEvent" && typeof action === "string" && SESSION_OBJECT_BY_ACTION[action]) {
    objectTypes = SESSION_OBJECT_BY_ACTION[action];
  }
  const slots: [string, readonly string[] | "*" | undefined][] = [
    ["object", objectTypes],
    ["target", rule.target],
    ["generated", rule.generated],
    ["referrer", rule.referrer],
  ];
  for (const [slot, allowed] of slots) {
    if (allowed === undefined || allowed === "*") continue;
    const value = event[slot];
    // A bare IRI string ("thinned" entity) carries no type to check; the schema checks its form.
    if (!isObject(value)) continue;
    const t = value["type"];
    if (typeof t !== "string" || !allowed.includes(t)) {
      errors.push(`${path}/${slot}/type: "${String(t)}" is not allowed as ${type} ${slot}`);
    }
  }
  // ToolLaunch profile: a launch must carry the LTI federated session it started.
  if (type === "ToolLaunchEvent" && action === "Launched" && event["federatedSession"] === undefined) {
    errors.push(`${path}/federatedSession: required for ToolLaunchEvent Launched`);
  }
  return errors;
}

// ---------------------------------------------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------------------------------------------

let ajvSingleton: AjvInstance | undefined;
const validators = new Map<string, ValidateFunction | null>();

function ajv(): AjvInstance {
  if (ajvSingleton) return ajvSingleton;
  const instance = new AjvDraft04({ allErrors: true, strict: false, logger: false });
  addFormats(instance);
  instance.addFormat("duration", DURATION_RE);
  instance.addFormat("uint32", {
    type: "number",
    validate: (n: number) => Number.isInteger(n) && n >= 0 && n <= 4294967295,
  } as Format);
  for (const file of readdirSync(CALIPER_SCHEMA_DIR).filter((f) => f.endsWith(".json")).sort()) {
    const schema = JSON.parse(readFileSync(join(CALIPER_SCHEMA_DIR, file), "utf8")) as Record<string, unknown>;
    delete schema["schema"]; // the files say "schema" where draft-04 means "$schema"
    instance.addSchema(schema);
  }
  ajvSingleton = instance;
  return instance;
}

function schemaFor(type: string): ValidateFunction | null {
  let v = validators.get(type);
  if (v === undefined) {
    v = (ajv().getSchema(type) as ValidateFunction | undefined) ?? null;
    validators.set(type, v);
  }
  return v;
}

export function hasCaliperSchema(type: string): boolean {
  return schemaFor(type) !== null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function formatAjvErrors(errors: readonly ErrorObject[] | null | undefined, path: string, suffix = ""): string[] {
  return (errors ?? [])
    .filter((e) => e.keyword !== "anyOf" && e.keyword !== "oneOf")
    .map((e) => `${path}${e.instancePath} ${e.message ?? e.keyword}${e.params && "allowedValues" in e.params ? ` (${String((e.params as { allowedValues: unknown[] }).allowedValues.slice(0, 5))}…)` : ""}${suffix}`);
}

/** Schema checks for one item (event or entity), §3.3 step 8. */
function validateItemSchema(item: unknown, path: string): string[] {
  if (!isObject(item)) return [`${path || "/"}: not an object`];
  const type = item["type"];
  if (typeof type !== "string") return [`${path}/type: missing or not a string`];
  const validate = schemaFor(type);
  if (!validate) return [`${path}: no schema for type "${type}"`];
  const errors: string[] = [];
  if (!validate(item)) {
    const nested: string[] = [];
    for (const [key, value] of Object.entries(item)) {
      if (key === "extensions" || !isObject(value)) continue;
      const nestedType = value["type"];
      if (typeof nestedType !== "string") continue;
      const nestedValidate = schemaFor(nestedType);
      if (!nestedValidate) {
        nested.push(`${path}/${key}: unknown Caliper type "${nestedType}"`);
      } else if (!nestedValidate(value)) {
        nested.push(...formatAjvErrors(nestedValidate.errors, `${path}/${key}`, ` (as ${nestedType})`).slice(0, 3));
      }
    }
    if (nested.length > 0) errors.push(...nested);
    else {
      const top = formatAjvErrors(validate.errors, path).slice(0, 5);
      errors.push(...(top.length > 0 ? top : [`${path || "/"}: does not match the ${type} schema`]));
    }
  }
  if (type.endsWith("Event")) {
    const id = item["id"];
    if (typeof id !== "string" || !EVENT_ID_RE.test(id)) errors.push(`${path}/id: must be urn:uuid:<UUID>, got ${JSON.stringify(id)}`);
  }
  return errors;
}

/** One Caliper event (or entity): JSON Schema + event id form + the profile table. Empty array = valid. */
export function validateCaliperEvent(obj: unknown, path = ""): string[] {
  const errors = validateItemSchema(obj, path);
  if (isObject(obj)) {
    const isEvent = typeof obj["type"] === "string" && obj["type"].endsWith("Event");
    errors.push(...checkIris(obj, path, isEvent), ...checkCaliperProfile(obj, path));
  }
  return errors;
}

/** A Caliper envelope per spec §5.2 (checked by hand), then every `data[i]` as an item. Empty array = valid. */
export function validateCaliperEnvelope(obj: unknown, dataVersion = CALIPER_V1P2_CONTEXT): string[] {
  if (!isObject(obj)) return ["/: envelope is not an object"];
  const errors: string[] = [];
  for (const key of Object.keys(obj)) {
    if (!ENVELOPE_KEYS.has(key)) errors.push(`/${key}: custom properties not permitted in an envelope`);
  }
  const sensor = obj["sensor"];
  if (typeof sensor !== "string" || sensor === "") errors.push("/sensor: must be a non-empty string");
  const sendTime = obj["sendTime"];
  if (typeof sendTime !== "string" || !SEND_TIME_RE.test(sendTime)) {
    errors.push(`/sendTime: must be YYYY-MM-DDTHH:mm:ss.SSSZ, got ${JSON.stringify(sendTime)}`);
  }
  if (obj["dataVersion"] !== dataVersion) errors.push(`/dataVersion: must be "${dataVersion}", got ${JSON.stringify(obj["dataVersion"])}`);
  const data = obj["data"];
  if (!Array.isArray(data) || data.length === 0) errors.push("/data: must be a non-empty array");
  else data.forEach((item, i) => errors.push(...validateCaliperEvent(item, `/data/${i}`)));
  return errors;
}

function isEnvelopeLike(obj: unknown): obj is Record<string, unknown> {
  return isObject(obj) && ("dataVersion" in obj || "data" in obj || "sensor" in obj);
}

/** Either form: an envelope when it has any of sensor/data/dataVersion (§3.3 step 6), else a bare item. */
export function validateCaliperDocument(obj: unknown): string[] {
  if (isEnvelopeLike(obj)) return validateCaliperEnvelope(obj);
  return validateCaliperEvent(obj);
}

/**
 * The schemas plus envelope checks only, without the IRI and profile checks: what the IMS schemas alone accept
 * (used by the self-check to show what the profile table adds).
 */
export function validateCaliperDocumentSchemaOnly(obj: unknown): string[] {
  if (!isEnvelopeLike(obj)) return validateItemSchema(obj, "");
  const data = obj["data"];
  const rest = validateCaliperEnvelope({ ...obj, data: [] }).filter((e) => !e.startsWith("/data:"));
  if (!Array.isArray(data) || data.length === 0) return [...rest, "/data: must be a non-empty array"];
  return [...rest, ...data.flatMap((item, i) => validateItemSchema(item, `/data/${i}`))];
}
