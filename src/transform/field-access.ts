/**
 * ERB's field-access rules (BaseTransformerMixin.get_data / find_nested), reproduced exactly because they change
 * outputs: a dotted key is an exact path; an undotted key is a depth-first search (own keys first, then nested
 * objects in insertion order, lists not searched, first non-None hit wins); falsy values other than 0
 * ("", [], {}, null, false) count as missing.
 */
import { isJsonObject, type EdxEvent, type JsonObject, type JsonValue } from "./edx-event.js";
import { TransformSkip } from "./transform-skip.js";

function isMissing(v: JsonValue | undefined): boolean {
  if (v === undefined || v === null || v === "" || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (isJsonObject(v)) return Object.keys(v).length === 0;
  return false;
}

/** Exact dotted path; no search. Returns undefined on any miss. Does not apply the falsy rule. */
export function atPath(obj: JsonObject, path: string): JsonValue | undefined {
  let cur: JsonValue | undefined = obj;
  for (const part of path.split(".")) {
    if (!isJsonObject(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

function findNested(obj: JsonObject, key: string): JsonValue | undefined {
  const own = obj[key];
  if (own !== undefined && own !== null) return own;
  for (const v of Object.values(obj)) {
    if (isJsonObject(v)) {
      const hit = findNested(v, key);
      if (hit !== undefined && hit !== null) return hit;
    }
  }
  return undefined;
}

/** ERB `get_data(key)`: dotted = exact path, undotted = depth-first search; falsy-to-missing. */
export function getData(event: EdxEvent | JsonObject, key: string): JsonValue | undefined {
  const body = "body" in event && "rawTimestamp" in event ? (event as EdxEvent).body : (event as JsonObject);
  const v = key.includes(".") ? atPath(body, key) : findNested(body, key);
  return isMissing(v) ? undefined : v;
}

/** ERB `get_data(key, required=True)`: a missing value skips the event, naming the field. */
export function requireData(event: EdxEvent | JsonObject, key: string): JsonValue {
  const v = getData(event, key);
  if (v === undefined) throw TransformSkip.missingField(key);
  return v;
}

export function getString(event: EdxEvent | JsonObject, key: string): string | undefined {
  const v = getData(event, key);
  if (v === undefined) return undefined;
  return typeof v === "string" ? v : pyStr(v);
}

export function requireString(event: EdxEvent | JsonObject, key: string): string {
  const v = requireData(event, key);
  return typeof v === "string" ? v : pyStr(v);
}

/**
 * The event payload under either shape's name: `data.<key>` (live) else `event.<key>` (tracking log), both as
 * exact paths with the falsy rule. For families that must accept both shapes where ERB reads only one.
 */
export function payloadValue(event: EdxEvent, key: string): JsonValue | undefined {
  return getData(event, `data.${key}`) ?? getData(event, `event.${key}`);
}

/** Python's str() of a JSON scalar, for ids built from numbers (e.g. user_id 3 -> "3"). */
export function pyStr(v: JsonValue): string {
  if (typeof v === "string") return v;
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(v);
  if (v === true) return "True";
  if (v === false) return "False";
  if (v === null) return "None";
  return JSON.stringify(v);
}
