/**
 * The internal form of an Open edX tracking event: the parsed JSON object, in whichever of ERB's two input
 * shapes it arrived (live tracker `{name, timestamp, context, data}` or tracking-log `{name, time, event, ...}`).
 *
 * The shape is kept as it is rather than normalised, because ERB's transformers read some fields by exact
 * dotted path (`data.x`) and others by depth-first search, and its expected outputs depend on which shape the
 * event had. Families that must read both shapes do so explicitly (see field-access.ts `payloadValue`).
 */
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export interface EdxEvent {
  /** The event object; never mutated after parsing. */
  readonly body: JsonObject;
  readonly name: string;
  /**
   * The raw timestamp string exactly as written by the tracker: the first `timestamp` key found depth-first,
   * else the first `time`. Statement ids hash this string, so it is never re-formatted.
   */
  readonly rawTimestamp: string;
}

/** Raised for input that is not a usable event; `field` names what is wrong. */
export class EventParseError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = "EventParseError";
  }
}

/**
 * Deepest nesting accepted, counting the event object as level 1. Open edX events nest about 5 levels (ERB's
 * fixtures: at most 5, a browser event's JSON-string payload included); ERB's depth-first look-ups, JSON.stringify
 * and protobuf's Struct all recurse, and a few thousand levels (~40 KB of brackets) overflow the stack: a
 * RangeError that would fail the whole call. Checked once at parse time, so every later walk is bounded.
 */
export const MAX_EVENT_DEPTH = 32;

export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Parses one event from JSON text. A log prefix before the first "{" is tolerated (tracking.log lines look like
 * `2023-05-23 13:53:13,461 INFO 20 [tracking] ... - {...}`); like ERB's log parser, the outermost `{...}` is taken.
 * A JSON-string `event` (browser events in tracking logs) is decoded in place.
 */
export function parseEventJson(text: string): EdxEvent {
  const start = text.indexOf("{");
  const end = text.lastIndexOf("}");
  if (start < 0) throw new EventParseError("json", "no JSON object found");
  // An object that never closes is a line cut short: invalid JSON, in the same words as one cut elsewhere.
  if (end < start) throw new EventParseError("json", "invalid JSON: the object is not closed (a truncated line?)");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.slice(start, end + 1));
  } catch (e) {
    throw new EventParseError("json", `invalid JSON: ${(e as Error).message}`);
  }
  if (!isJsonObject(parsed)) throw new EventParseError("json", "not a JSON object");
  return eventFromObject(parsed);
}

export function eventFromObject(body: JsonObject): EdxEvent {
  const name = body["name"] ?? body["event_type"];
  if (typeof name !== "string" || name === "") throw new EventParseError("name", "name is required");
  let normalised = body;
  const payload = body["event"];
  if (typeof payload === "string" && payload.trimStart().startsWith("{")) {
    try {
      const decoded: unknown = JSON.parse(payload);
      if (isJsonObject(decoded)) normalised = { ...body, event: decoded };
    } catch {
      // Leave an undecodable string payload as it is: some browser events really carry plain strings.
    }
  }
  for (const key in normalised) {
    if (nestedDeeperThan(normalised[key], MAX_EVENT_DEPTH - 1)) {
      throw new EventParseError(key, `nested deeper than ${MAX_EVENT_DEPTH} levels (the limit for an event)`);
    }
  }
  const rawTimestamp = findRawTimestamp(normalised);
  if (rawTimestamp === undefined) throw new EventParseError("timestamp", "timestamp (or time) is required");
  return { body: normalised, name, rawTimestamp };
}

/** True when `v` has more than `levels` levels of objects/arrays; recursion stops at the limit, so it is bounded. */
function nestedDeeperThan(v: JsonValue | undefined, levels: number): boolean {
  if (typeof v !== "object" || v === null) return false;
  if (levels === 0) return true;
  if (Array.isArray(v)) {
    for (const item of v) if (nestedDeeperThan(item, levels - 1)) return true;
    return false;
  }
  for (const key in v) if (nestedDeeperThan(v[key], levels - 1)) return true;
  return false;
}

function findRawTimestamp(body: JsonObject): string | undefined {
  const ts = firstStringDepthFirst(body, "timestamp");
  if (ts !== undefined) return ts;
  return firstStringDepthFirst(body, "time");
}

function firstStringDepthFirst(obj: JsonObject, key: string): string | undefined {
  const own = obj[key];
  if (typeof own === "string" && own !== "") return own;
  for (const v of Object.values(obj)) {
    if (isJsonObject(v)) {
      const hit = firstStringDepthFirst(v, key);
      if (hit !== undefined) return hit;
    }
  }
  return undefined;
}
