/**
 * A statement is JSON, and JSON has no Infinity or NaN: JSON.stringify writes them as `null` (an LRS would store
 * a wrong value) and protobuf's Struct refuses them (Transform would answer Internal). Inputs are read as finite
 * numbers (edx-fields.ts toNumber), but arithmetic on finite inputs can still overflow (`1e308 * 1000`,
 * `raw / 1e-300`), so every transformed statement is checked once before it leaves the transform step; one with a
 * non-finite number is skipped with the path named, like any other invalid value.
 */
import type { JsonValue } from "./edx-event.js";

/** The path of the first non-finite number in `v` (e.g. "result.score.scaled"), or undefined when there is none. */
export function nonFiniteNumberPath(v: JsonValue): string | undefined {
  // The common case (none) is checked without building paths: no string is allocated on the hot path.
  return hasNonFinite(v) ? pathOf(v, "") : undefined;
}

function hasNonFinite(v: JsonValue): boolean {
  if (typeof v === "number") return !Number.isFinite(v);
  if (typeof v !== "object" || v === null) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (hasNonFinite(v[i]!)) return true;
    return false;
  }
  for (const key in v) {
    const item = v[key]!;
    // Strings are most of a statement; skipping them before the call keeps the walk cheap.
    if (typeof item !== "string" && hasNonFinite(item)) return true;
  }
  return false;
}

function pathOf(v: JsonValue, path: string): string | undefined {
  if (typeof v === "number") return Number.isFinite(v) ? undefined : path;
  if (typeof v !== "object" || v === null) return undefined;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const hit = pathOf(v[i]!, `${path}[${i}]`);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }
  for (const key in v) {
    const hit = pathOf(v[key]!, path === "" ? key : `${path}.${key}`);
    if (hit !== undefined) return hit;
  }
  return undefined;
}
