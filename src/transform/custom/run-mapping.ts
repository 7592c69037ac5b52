/**
 * Runs a compiled mapping on one event: its conditions, then each statement template, assembled by the built-in
 * transformers' own helpers (xapi-common.ts xapiStatement/xapiContext, caliper-common.ts caliperEvent/caliperObject),
 * so the actor, ids, timestamps and shared extensions are the built-ins' to the byte. One budget per event covers
 * every expression of every template; a statement larger than MAPPING_LIMITS.maxStatementBytes skips the event.
 */
import { caliperEvent, caliperObject } from "../caliper/caliper-common.js";
import { isJsonObject, type EdxEvent, type JsonObject, type JsonValue } from "../edx-event.js";
import type { TransformEnv } from "../transform-env.js";
import { TransformSkip } from "../transform-skip.js";
import { xapiContext, xapiStatement, type XapiVerb } from "../xapi/xapi-common.js";
import { EvalBudget, evaluate, limitExceeded, type EvalContext } from "./evaluate.js";
import { isBlank, MAPPING_FUNCTIONS } from "./expression-functions.js";
import type { Expr } from "./expression.js";
import { MAPPING_LIMITS, type MappingSpec } from "./mapping-format.js";
import { renderTemplate, type TemplateNode } from "./template.js";

export interface CompiledCondition {
  readonly require: Expr;
  readonly reason: string;
}

/** What running needs of a compiled mapping (compile-mapping.ts). */
export interface RunnableMapping {
  readonly spec: MappingSpec;
  readonly conditions: readonly CompiledCondition[];
  readonly statements: readonly TemplateNode[];
}

function objectPart(rendered: JsonObject, key: string): JsonObject | undefined {
  const v = rendered[key];
  return isJsonObject(v) ? v : undefined;
}

function requireText(v: JsonValue | undefined, field: string): string {
  if (typeof v !== "string" || v === "") throw TransformSkip.missingField(field);
  return v;
}

function buildXapi(event: EdxEvent, env: TransformEnv, rendered: JsonObject, index: number, verbsSeen: Set<string>): JsonObject {
  const verbIn = objectPart(rendered, "verb") ?? {};
  const display = objectPart(verbIn, "display") ?? {};
  const verb: XapiVerb = { id: requireText(verbIn["id"], `statements[${index}].verb.id`), display: display as Record<string, string> };
  const object = objectPart(rendered, "object") ?? {};
  const contextIn = { ...(objectPart(rendered, "context") ?? {}) };
  const extensions = objectPart(contextIn, "extensions");
  const contextActivities = objectPart(contextIn, "contextActivities");
  delete contextIn["extensions"];
  delete contextIn["contextActivities"];
  const context = {
    ...contextIn,
    ...xapiContext(event, env, { ...(extensions ? { extensions } : {}), ...(contextActivities ? { contextActivities } : {}) }),
  };
  // ERB's id hashes verb, actor and timestamp only: a second statement with the same verb takes a child key, as
  // ERB's multi-question children do, so two statements of one event never share an id.
  const childKey = verbsSeen.has(verb.id) ? `statement-${index}` : undefined;
  verbsSeen.add(verb.id);
  return xapiStatement(event, env, {
    verb,
    object: "objectType" in object ? object : { ...object, objectType: "Activity" },
    result: objectPart(rendered, "result"),
    context,
    ...(childKey ? { childKey } : {}),
  });
}

function buildCaliper(event: EdxEvent, env: TransformEnv, rendered: JsonObject, index: number): JsonObject {
  const objectIn = { ...(objectPart(rendered, "object") ?? {}) };
  const { id, type, extensions, ...fields } = objectIn;
  const object = caliperObject(
    event,
    env,
    requireText(type, `statements[${index}].object.type`),
    typeof id === "string" ? id : undefined,
    fields,
    isJsonObject(extensions) ? extensions : undefined,
  );
  const { type: eventType, action, target, generated, extensions: eventExt, ...rest } = rendered;
  delete rest["object"];
  const out = caliperEvent(event, env, {
    type: requireText(eventType, `statements[${index}].type`),
    action: requireText(action, `statements[${index}].action`),
    object,
    ...(isJsonObject(target) ? { target } : {}),
    ...(isJsonObject(generated) ? { generated } : {}),
    ...(isJsonObject(eventExt) ? { extensions: eventExt } : {}),
  });
  return { ...out, ...rest };
}

/** The statements (xAPI) or events (Caliper) of one event; throws TransformSkip like a built-in transformer. */
export function runMapping(mapping: RunnableMapping, event: EdxEvent, env: TransformEnv): JsonObject[] {
  const ctx: EvalContext = { event, env, backend: mapping.spec.backend, budget: new EvalBudget() };
  for (const condition of mapping.conditions) {
    if (isBlank(evaluate(condition.require, ctx, MAPPING_FUNCTIONS))) throw new TransformSkip("condition_failed", condition.reason);
  }
  const verbsSeen = new Set<string>();
  return mapping.statements.map((template, i) => {
    const rendered = renderTemplate(template, ctx);
    if (!isJsonObject(rendered)) throw TransformSkip.missingField(`statements[${i}]`);
    const statement =
      mapping.spec.backend === "xapi" ? buildXapi(event, env, rendered, i, verbsSeen) : buildCaliper(event, env, rendered, i);
    const bytes = JSON.stringify(statement).length;
    if (bytes > MAPPING_LIMITS.maxStatementBytes) {
      throw limitExceeded(`statement ${i} would be ${bytes} characters as JSON (at most ${MAPPING_LIMITS.maxStatementBytes})`);
    }
    return statement;
  });
}
