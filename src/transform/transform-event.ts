/**
 * The pure transform step for one backend: filter, find the transformer, run it, apply ERB's production drop
 * rule (no statement without an object id) and the JSON rule (no non-finite number, finite-numbers.ts). No I/O;
 * lookups arrive already resolved in the env.
 */
import type { EdxEvent, JsonObject } from "./edx-event.js";
import { filterAccepts, type EventFilter } from "./backend-filter.js";
import { nonFiniteNumberPath } from "./finite-numbers.js";
import type { BackendName, TransformerLookup } from "./registry.js";
import type { TransformEnv } from "./transform-env.js";
import { TransformSkip } from "./transform-skip.js";

export interface BackendSettings {
  readonly backend: BackendName;
  readonly enabled: boolean;
  readonly filter: EventFilter;
  /** The built-in registry, or the view with custom mappings in front of it (custom/mapping-set.ts). */
  readonly registry: TransformerLookup;
}

/** `transformer` names what ran ("builtin" or "mapping:<id>", BackendResult.transformer); absent when none did. */
export type BackendTransformResult =
  | { readonly outcome: "transformed"; readonly statements: JsonObject[]; readonly transformer?: string }
  | { readonly outcome: "filtered"; readonly reason: string }
  | { readonly outcome: "no_transformer"; readonly reason: string }
  | { readonly outcome: "skipped"; readonly reason: string; readonly skip: TransformSkip; readonly transformer?: string };

export function transformForBackend(settings: BackendSettings, event: EdxEvent, env: TransformEnv): BackendTransformResult {
  if (!settings.enabled) return { outcome: "filtered", reason: `${settings.backend} backend is disabled` };
  const transformer = settings.registry.get(event.name);
  if (!transformer) return { outcome: "no_transformer", reason: `no ${settings.backend} transformer for "${event.name}"` };
  if (!filterAccepts(settings.filter, event.name)) {
    return { outcome: "filtered", reason: `"${event.name}" is not allowed by the ${settings.backend} event filter` };
  }
  const label = transformer.source ?? "builtin";
  try {
    const statements = transformer.transform(event, env);
    const missing = statements.findIndex((s) => !hasObjectId(s));
    if (missing >= 0) {
      const skip = new TransformSkip("no_object_id", `statement ${missing} has no object id`);
      return { outcome: "skipped", reason: skip.message, skip, transformer: label };
    }
    for (let i = 0; i < statements.length; i++) {
      const at = nonFiniteNumberPath(statements[i]!);
      if (at !== undefined) {
        const why = `statement ${i} would hold a non-finite number at ${at} (an input number is out of range)`;
        const skip = new TransformSkip("invalid_value", why);
        return { outcome: "skipped", reason: skip.message, skip, transformer: label };
      }
    }
    return { outcome: "transformed", statements, transformer: label };
  } catch (e) {
    if (e instanceof TransformSkip) return { outcome: "skipped", reason: e.message, skip: e, transformer: label };
    // A bug, not a rule: thrown out of here it failed the whole call (EmitBatch answered Internal for every
    // event, and a replay retried the batch until it gave up). Isolated to this event and backend instead; the
    // original error rides along as the cause for the log (emit-pipeline.ts).
    const message = (e instanceof Error ? e.message : String(e)).slice(0, 200);
    const skip = new TransformSkip(
      "transformer_error",
      `the ${settings.backend} transformer for "${event.name}" failed on this event (a bug, logged): ${message}`,
      { cause: e },
    );
    return { outcome: "skipped", reason: skip.message, skip, transformer: label };
  }
}

/** Both backends need object.id: an LRS refuses xAPI without it and Caliper's schema requires it. */
function hasObjectId(statement: JsonObject): boolean {
  const object = statement["object"];
  if (typeof object !== "object" || object === null || Array.isArray(object)) return false;
  const id = (object as JsonObject)["id"];
  return typeof id === "string" && id !== "";
}
