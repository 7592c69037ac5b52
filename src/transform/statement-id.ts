/**
 * Statement and event ids, byte-compatible with ERB (XApiTransformer.get_event_id / helpers.get_uuid5), so that
 * replays and migrations from ERB produce the ids already stored in an LRS:
 *   namespace = uuid5(DNS namespace, verbJSON)          (child statements: verbJSON + "-" + child key)
 *   id        = uuid5(namespace, actorJSON + "-" + raw timestamp)
 * where the JSON is tincan's `to_json()`: Python json.dumps with ", " / ": " separators and ASCII escaping.
 */
import { v5 as uuidv5 } from "uuid";

/** RFC 4122 DNS namespace; ERB hard-codes it on purpose. */
const ERB_BASE_NAMESPACE = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";
/** Our own namespace for Caliper event ids (ERB uses random uuid4 there; we want idempotent retries). */
const CALIPER_NAMESPACE = uuidv5("https://w3id.org/xapi/openedx/caliper-event-id", ERB_BASE_NAMESPACE);

/** Python `json.dumps(value)` with default separators and ensure_ascii, for plain JSON values. */
export function pythonJsonDumps(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "string") return pythonJsonString(value);
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(value);
  if (typeof value === "boolean") return value ? "true" : "false";
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(", ")}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  return `{${entries.map(([k, v]) => `${pythonJsonString(k)}: ${pythonJsonDumps(v)}`).join(", ")}}`;
}

function pythonJsonString(s: string): string {
  // JSON.stringify already escapes quotes, backslashes and control characters as Python does; Python's
  // ensure_ascii additionally escapes every non-ASCII UTF-16 unit as \uXXXX (lower-case hex).
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

export interface IdVerb {
  id: string;
  display: Record<string, string>;
}

/** The verb JSON in tincan's key order: id, then display. */
export function verbJson(verb: IdVerb): string {
  return pythonJsonDumps({ id: verb.id, display: verb.display });
}

/** The actor JSON in tincan's key order (inside `account`, name before homePage). */
export function actorJson(actor: XapiAgent): string {
  if ("account" in actor) {
    return pythonJsonDumps({
      objectType: "Agent",
      account: { name: actor.account.name, homePage: actor.account.homePage },
    });
  }
  if ("mbox" in actor) return pythonJsonDumps({ objectType: "Agent", mbox: actor.mbox });
  return pythonJsonDumps({ objectType: "Agent", mbox_sha1sum: actor.mbox_sha1sum });
}

export type XapiAgent =
  | { objectType: "Agent"; account: { homePage: string; name: string } }
  | { objectType: "Agent"; mbox: string }
  | { objectType: "Agent"; mbox_sha1sum: string };

/**
 * Memoises the verb namespaces: there are a few dozen verbs, and hashing them per event would be wasted work
 * on the hot path.
 */
const namespaceCache = new Map<string, string>();

function verbNamespace(verb: IdVerb, childKey?: string): string {
  const name = childKey === undefined ? verbJson(verb) : `${verbJson(verb)}-${childKey}`;
  let ns = namespaceCache.get(name);
  if (ns === undefined) {
    ns = uuidv5(name, ERB_BASE_NAMESPACE);
    if (namespaceCache.size < 10_000) namespaceCache.set(name, ns);
  }
  return ns;
}

/** ERB's xAPI statement id. `childKey` is set for the child statements of multi-question problems. */
export function xapiStatementId(verb: IdVerb, actor: XapiAgent, rawTimestamp: string, childKey?: string): string {
  return uuidv5(`${actorJson(actor)}-${rawTimestamp}`, verbNamespace(verb, childKey));
}

/**
 * Deterministic Caliper event id: uuid5 over the same inputs as the xAPI id (event type and action in place of
 * the verb, actor id, raw timestamp), in a namespace of our own, so retries and replays are idempotent.
 * The object id and the edX event name are hashed too: ERB's xAPI rule collides for two events of one actor at
 * one timestamp, and in Caliper several edX names share one type/action (stop_video and complete_video are both
 * MediaEvent/Ended and are emitted at the same instant).
 */
export function caliperEventId(
  type: string,
  action: string,
  actorId: string,
  rawTimestamp: string,
  objectId = "",
  eventName = "",
): string {
  return `urn:uuid:${uuidv5(`${type}|${action}|${actorId}|${rawTimestamp}|${objectId}|${eventName}`, CALIPER_NAMESPACE)}`;
}
