/**
 * UpdateMapping's mask: top-level snake_case field names; an empty mask replaces every writable field (the id
 * never changes). The result is checked as a whole afterwards, as on create.
 */
import { ValidationError } from "../errors.js";
import type { MappingStore } from "../mappings/mapping-store.js";
import type { MappingSpec } from "../transform/custom/mapping-format.js";

const WRITABLE: Readonly<Record<string, keyof MappingSpec>> = {
  display_name: "displayName",
  description: "description",
  backend: "backend",
  event_names: "eventNames",
  event_pattern: "eventPattern",
  replace_builtin: "replaceBuiltin",
  disabled: "disabled",
  conditions: "conditions",
  statements: "statements",
  samples: "samples",
};
const OUTPUT_ONLY = new Set(["id", "create_time", "update_time", "revision", "builtin_overlap"]);

/** The mapping after an UpdateMapping: the masked fields taken from `patch`, the others kept. */
export function applyMappingMask(current: MappingSpec, patch: MappingSpec, paths: readonly string[]): MappingSpec {
  if (paths.length === 0) return { ...patch, id: current.id };
  const next: Record<string, unknown> = { ...current };
  for (const path of paths) {
    const key = WRITABLE[path];
    if (key) next[key] = patch[key];
    else if (OUTPUT_ONLY.has(path)) throw new ValidationError("update_mask", `"${path}" cannot be changed`);
    else throw new ValidationError("update_mask", `unknown field "${path}" (fields: ${Object.keys(WRITABLE).join(", ")})`);
  }
  return next as unknown as MappingSpec;
}

export type MappingAdminStore = Pick<MappingStore, "create" | "fetch" | "list" | "update" | "delete" | "current" | "get">;
