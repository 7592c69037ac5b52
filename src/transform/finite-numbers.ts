/**
 * A statement is JSON, and JSON has no Infinity or NaN: JSON.stringify writes them as `null` (an LRS would store
 * a wrong value) and protobuf's Struct refuses them (Transform would answer Internal). Inputs are read as finite
 * numbers (edx-fields.ts toNumber), but arithmetic on finite inputs can still overflow (`1e308 * 1000`,
 * `raw / 1e-300`), so every transformed statement is checked once before it leaves the transform step; one with a
 * non-finite number is skipped with the path named, like any other invalid value.
 */
import type { JsonValue } from "./edx-event.js";

/** The path of the first non-finite number in `v` (e.g. "result.score.scaled"), or undefined when there is none. */
export function nonFiniteNumberPath(v: JsonValue, path = ""): string | undefined {
  if (typeof v === "number") return Number.isFinite(v) ? undefined : path;
  if (typeof v !== "object" || v === null) return undefined;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const hit = nonFiniteNumberPath(v[i]!, `${path}[${i}]`);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }
  for (const key in v) {
    const item = v[key]!;
    // Strings are most of a statement; skipping them here keeps the check cheap on the hot path.
    if (typeof item === "string") continue;
    const hit = nonFiniteNumberPath(item, path === "" ? key : `${path}.${key}`);
    if (hit !== undefined) return hit;
  }
  return undefined;
}
