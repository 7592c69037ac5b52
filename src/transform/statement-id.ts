/**
 * Statement and event ids, byte-compatible with ERB (XApiTransformer.get_event_id / helpers.get_uuid5), so that
 * replays and migrations from ERB produce the ids already stored in an LRS:
 *   namespace = uuid5(DNS namespace, verbJSON)          (child statements: verbJSON + "-" + child key)
 *   id        = uuid5(namespace, actorJSON + "-" + raw timestamp)
 * where the JSON is tincan's `to_json()`: Python json.dumps with ", " / ": " separators and ASCII escaping.
 */
import { createHash } from "node:crypto";
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
 * The hot path computes thousands of ids a second, so the work per id is cut to one SHA-1: the verb namespace is
 * memoised per verb object (verbs are module constants) and per child key, the actor JSON per identity, and the
 * namespace bytes are kept parsed. The golden tests compare every id with ERB's; test/xapi-validation.test.ts
 * checks this against a plain uuid-library computation of the same rule.
 */
const DNS_NAMESPACE_BYTES = Buffer.from(ERB_BASE_NAMESPACE.replace(/-/g, ""), "hex");
const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => (i + 0x100).toString(16).slice(1));
const verbNamespaces = new WeakMap<IdVerb, Buffer>();
const childNamespaces = new Map<string, Buffer>();
const actorJsonCache = new Map<string, string>();
const CACHE_LIMIT = 10_000;

function uuid5Bytes(name: string, namespace: Buffer): Buffer {
  const h = createHash("sha1").update(namespace).update(name, "utf8").digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  return h;
}

function formatUuid(h: Buffer): string {
  return (
    HEX[h[0]!]! +
    HEX[h[1]!]! +
    HEX[h[2]!]! +
    HEX[h[3]!]! +
    "-" +
    HEX[h[4]!]! +
    HEX[h[5]!]! +
    "-" +
    HEX[h[6]!]! +
    HEX[h[7]!]! +
    "-" +
    HEX[h[8]!]! +
    HEX[h[9]!]! +
    "-" +
    HEX[h[10]!]! +
    HEX[h[11]!]! +
    HEX[h[12]!]! +
    HEX[h[13]!]! +
    HEX[h[14]!]! +
    HEX[h[15]!]!
  );
}

function verbNamespace(verb: IdVerb, childKey: string | undefined): Buffer {
  if (childKey === undefined) {
    let ns = verbNamespaces.get(verb);
    if (ns === undefined) {
      ns = uuid5Bytes(verbJson(verb), DNS_NAMESPACE_BYTES).subarray(0, 16);
      verbNamespaces.set(verb, ns);
    }
    return ns;
  }
  const name = `${verbJson(verb)}-${childKey}`;
  let ns = childNamespaces.get(name);
  if (ns === undefined) {
    ns = uuid5Bytes(name, DNS_NAMESPACE_BYTES).subarray(0, 16);
    if (childNamespaces.size >= CACHE_LIMIT) childNamespaces.clear();
    childNamespaces.set(name, ns);
  }
  return ns;
}

function cachedActorJson(actor: XapiAgent): string {
  const key =
    "account" in actor
      ? `a\n${actor.account.homePage}\n${actor.account.name}`
      : "mbox" in actor
        ? `m\n${actor.mbox}`
        : `s\n${actor.mbox_sha1sum}`;
  let json = actorJsonCache.get(key);
  if (json === undefined) {
    json = actorJson(actor);
    if (actorJsonCache.size >= CACHE_LIMIT) actorJsonCache.clear();
    actorJsonCache.set(key, json);
  }
  return json;
}

/** ERB's xAPI statement id. `childKey` is set for the child statements of multi-question problems. */
export function xapiStatementId(verb: IdVerb, actor: XapiAgent, rawTimestamp: string, childKey?: string): string {
  return formatUuid(uuid5Bytes(`${cachedActorJson(actor)}-${rawTimestamp}`, verbNamespace(verb, childKey)));
}

/**
 * Deterministic Caliper event id: uuid5 over the same inputs as the xAPI id (event type and action in place of
 * the verb, actor id, raw timestamp), in a namespace of our own, so retries and replays are idempotent.
 * The object id and the edX event name are hashed too: ERB's xAPI rule collides for two events of one actor at
 * one timestamp, and in Caliper several edX names share one type/action (stop_video and complete_video are both
 * MediaEvent/Ended and are emitted at the same instant).
 */
export function caliperEventId(type: string, action: string, actorId: string, rawTimestamp: string, objectId = "", eventName = ""): string {
  return `urn:uuid:${uuidv5(`${type}|${action}|${actorId}|${rawTimestamp}|${objectId}|${eventName}`, CALIPER_NAMESPACE)}`;
}
