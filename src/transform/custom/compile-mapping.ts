/**
 * Compiles a mapping (the model of mapping-format.ts) once, when it is registered or loaded: checks its shape,
 * parses every expression, compiles its RE2 patterns, and refuses what a template may not write (the shared parts
 * the built-in helpers add). The result is the Transformer the registry view hands to transformForBackend, so a
 * custom mapping runs exactly where and how a built-in transformer does. Errors name the field
 * (MappingError: "statements[0].verb.id: ...").
 */
import { compileLinear, RegexSyntaxError } from "../../linear-regex.js";
import { isJsonObject, type JsonObject } from "../edx-event.js";
import type { Transformer } from "../registry.js";
import { EXT_SESSION_ID, EXT_TRANSFORMER_VERSION } from "../xapi/xapi-common.js";
import { MAPPING_LIMITS, type MappingSpec } from "./mapping-format.js";
import { runMapping, type CompiledCondition } from "./run-mapping.js";
import { compileExpression, compileTemplate, MappingError, type TemplateNode } from "./template.js";

export const MAPPING_ID_RE = /^[a-z0-9_-]{1,64}$/;

export interface CompiledMapping {
  readonly spec: MappingSpec;
  /** "mapping:<id>", as BackendResult.transformer shows it. */
  readonly label: string;
  readonly conditions: readonly CompiledCondition[];
  readonly statements: readonly TemplateNode[];
  /** The event names and pattern of the spec, for the registry view. */
  readonly names: ReadonlySet<string>;
  readonly pattern?: { test(name: string): boolean };
  readonly transformer: Transformer;
}

/** Statement keys a template may write, per backend; the others are the shared parts or not supported. */
const XAPI_KEYS = new Set(["verb", "object", "result", "context"]);
const CALIPER_KEYS = new Set([
  "type",
  "action",
  "object",
  "target",
  "generated",
  "referrer",
  "edApp",
  "group",
  "membership",
  "federatedSession",
  "extensions",
]);
const XAPI_CONTEXT_FORBIDDEN = [EXT_TRANSFORMER_VERSION, EXT_SESSION_ID];

function checkStatementShape(template: JsonObject, backend: MappingSpec["backend"], field: string): void {
  const allowed = backend === "xapi" ? XAPI_KEYS : CALIPER_KEYS;
  for (const key of Object.keys(template)) {
    if (!allowed.has(key)) {
      throw new MappingError(
        `${field}.${key}`,
        `not allowed in a ${backend} template (allowed: ${[...allowed].join(", ")}; the shared parts are added for you)`,
      );
    }
  }
  const required = backend === "xapi" ? ["verb", "object"] : ["type", "action", "object"];
  for (const key of required) if (template[key] === undefined) throw new MappingError(`${field}.${key}`, "is required");
  if (!isJsonObject(template["object"])) throw new MappingError(`${field}.object`, "must be an object");
  if (backend === "xapi") {
    const verb = template["verb"];
    if (!isJsonObject(verb) || verb["id"] === undefined) throw new MappingError(`${field}.verb.id`, "is required");
    const context = template["context"];
    const ext = isJsonObject(context) ? context["extensions"] : undefined;
    for (const key of XAPI_CONTEXT_FORBIDDEN) {
      if (isJsonObject(ext) && key in ext) throw new MappingError(`${field}.context.extensions`, `cannot set ${key} (added for you)`);
    }
  } else if (isJsonObject(template["extensions"]) && "transformerVersion" in template["extensions"]) {
    throw new MappingError(`${field}.extensions.transformerVersion`, "is added for you");
  }
}

function compilePattern(spec: MappingSpec): CompiledMapping["pattern"] {
  if (spec.eventPattern === "") return undefined;
  try {
    // Compiled alone first, so a source such as `a)|(b` cannot escape the anchors around it.
    compileLinear(spec.eventPattern);
    return compileLinear(`^(?:${spec.eventPattern})$`);
  } catch (e) {
    if (e instanceof RegexSyntaxError) throw new MappingError("event_pattern", e.message);
    throw e;
  }
}

function checkHeader(spec: MappingSpec): void {
  if (!MAPPING_ID_RE.test(spec.id)) throw new MappingError("id", "must be 1 to 64 lower-case letters, digits, '-' or '_'");
  if (spec.backend !== "xapi" && spec.backend !== "caliper") throw new MappingError("backend", "must be BACKEND_XAPI or BACKEND_CALIPER");
  if (spec.eventNames.length === 0 && spec.eventPattern === "")
    throw new MappingError("event_names", "name at least one event, or set event_pattern");
  spec.eventNames.forEach((n, i) => {
    if (n.trim() === "") throw new MappingError(`event_names[${i}]`, "is empty");
  });
  if (spec.statements.length === 0) throw new MappingError("statements", "at least one statement template is required");
  if (spec.statements.length > MAPPING_LIMITS.maxStatements)
    throw new MappingError("statements", `at most ${MAPPING_LIMITS.maxStatements} templates`);
  if (spec.conditions.length > MAPPING_LIMITS.maxConditions)
    throw new MappingError("conditions", `at most ${MAPPING_LIMITS.maxConditions}`);
  if (spec.samples.length > MAPPING_LIMITS.maxSamples) throw new MappingError("samples", `at most ${MAPPING_LIMITS.maxSamples}`);
}

/** Throws MappingError naming the field; samples are not run here (mapping-check.ts does that). */
export function compileMapping(spec: MappingSpec): CompiledMapping {
  checkHeader(spec);
  const pattern = compilePattern(spec);
  const conditions = spec.conditions.map((c, i) => ({
    require: compileExpression(c.require, `conditions[${i}].require`),
    reason: c.skipReason !== undefined && c.skipReason !== "" ? c.skipReason : `${c.require} is missing`,
  }));
  const statements = spec.statements.map((t, i) => {
    checkStatementShape(t, spec.backend, `statements[${i}]`);
    return compileTemplate(t, `statements[${i}]`);
  });
  const label = `mapping:${spec.id}`;
  const partial = { spec, label, conditions, statements, names: new Set(spec.eventNames), ...(pattern ? { pattern } : {}) };
  const transformer: Transformer = {
    eventName: spec.eventNames[0] ?? spec.eventPattern,
    family: "custom",
    source: label,
    mapping: { verb: "", objectType: "", objectId: "", result: "" },
    transform: (event, env) => runMapping(partial, event, env),
  };
  return { ...partial, transformer };
}

/** Whether the mapping's names or pattern accept an event name (disabled or not). */
export function mappingHandles(mapping: Pick<CompiledMapping, "names" | "pattern">, eventName: string): boolean {
  return mapping.names.has(eventName) || (mapping.pattern?.test(eventName) ?? false);
}
