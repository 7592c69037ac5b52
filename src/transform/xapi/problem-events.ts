/**
 * xAPI problem / assessment events (ERB problem_interaction_events.py): problem_check (server: "evaluated",
 * browser: "attempted"), showanswer, demand hints, edx.grades.problem.submitted and edx.problem.completed.
 *
 * Multi-question problem_check (more than one submission): a parent statement for the whole problem plus one child
 * statement per submission, in the submission's key order, each pointing at the parent with a StatementRef.
 * Deviations from ERB (docs/xapi-deviations.md): the parent is an `Activity`, not `GroupActivity`; and
 * edx.problem.completed's object id is the xblock IRI, not the raw usage key.
 */
import { isJsonObject, type EdxEvent, type JsonObject, type JsonValue } from "../edx-event.js";
import { browserProblemUsageKey, toNumber } from "../edx-fields.js";
import { getData, getString, payloadValue, pyStr } from "../field-access.js";
import type { TransformerRegistry } from "../registry.js";
import { lmsIri, xblockIri, type TransformEnv } from "../transform-env.js";
import { TransformSkip } from "../transform-skip.js";
import { weightedScore } from "./grading-events.js";
import { activity, courseActivity, verb, xapiContext, xapiResult, xapiStatement, xapiStatementIdOf, type XapiVerb } from "./xapi-common.js";

const ACTIVITY_INTERACTION = "http://adlnet.gov/expapi/activities/cmi.interaction";
const ACTIVITY_QUESTION = "http://adlnet.gov/expapi/activities/question";
const ACTIVITY_SOLUTION = "http://id.tincanapi.com/activitytype/solution";
const ACTIVITY_SUPPLEMENTAL_INFO = "https://w3id.org/xapi/acrossx/extensions/supplemental-info";
const EXT_ATTEMPT_ID = "http://id.tincanapi.com/extension/attempt-id";
const MULTI_QUESTION_NAME = "Multiple Choice Questions";

const EVALUATED = verb("https://w3id.org/xapi/acrossx/verbs/evaluated", "evaluated");
const ATTEMPTED = verb("http://adlnet.gov/expapi/verbs/attempted", "attempted");
const ASKED = verb("http://adlnet.gov/expapi/verbs/asked", "asked");
const COMPLETED = verb("http://adlnet.gov/expapi/verbs/completed", "completed");

/** edX response type -> xAPI interactionType; anything else is "other". */
export const INTERACTION_TYPES: Readonly<Record<string, string>> = {
  choiceresponse: "choice",
  multiplechoiceresponse: "choice",
  choicetextresponse: "choice",
  optionresponse: "choice",
  numericalresponse: "numeric",
  stringresponse: "fill-in",
  formularesponse: "fill-in",
  annotationresponse: "fill-in",
  symbolicresponse: "fill-in",
  imageresponse: "matching",
  truefalseresponse: "true-false",
};

export function interactionType(responseType: JsonValue | undefined): string {
  return (typeof responseType === "string" && Object.hasOwn(INTERACTION_TYPES, responseType) && INTERACTION_TYPES[responseType]) || "other";
}

/** Python json.dumps(v, ensure_ascii=False) with default separators. */
function pyJsonNoAscii(v: JsonValue): string {
  if (Array.isArray(v)) return `[${v.map(pyJsonNoAscii).join(", ")}]`;
  if (isJsonObject(v))
    return `{${Object.entries(v)
      .map(([k, x]) => `${JSON.stringify(k)}: ${pyJsonNoAscii(x)}`)
      .join(", ")}}`;
  return JSON.stringify(v);
}

function pyReprString(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    if (ch === "\\") out += "\\\\";
    else if (ch === quote) out += `\\${ch}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else out += ch;
  }
  return out + quote;
}

/** Python repr() of a JSON value (what tincan's str() coercion writes for a dict response). */
export function pyRepr(v: JsonValue): string {
  if (typeof v === "string") return pyReprString(v);
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(", ")}]`;
  if (isJsonObject(v))
    return `{${Object.entries(v)
      .map(([k, x]) => `${pyReprString(k)}: ${pyRepr(x)}`)
      .join(", ")}}`;
  return pyStr(v);
}

/** result.response: strings as they are, lists as a JSON string (non-ASCII kept), dicts as Python repr. */
function responseText(v: JsonValue | undefined): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return v;
  if (Array.isArray(v)) return pyJsonNoAscii(v);
  if (isJsonObject(v)) return pyRepr(v);
  return pyStr(v);
}

function firstValue(v: JsonValue | undefined): JsonObject | undefined {
  if (!isJsonObject(v)) return undefined;
  for (const key in v) {
    const first = v[key];
    return isJsonObject(first) ? first : undefined;
  }
  return undefined;
}

/** Replaces the last `@…` segment of a usage key with the child key (…+block@<hash> -> …+block@<hash>_2_1). */
function childUsageKey(problemId: string, childKey: string): string {
  const at = problemId.lastIndexOf("@");
  return at < 0 ? `${problemId}@${childKey}` : `${problemId.slice(0, at + 1)}${childKey}`;
}

function problemIdOf(event: EdxEvent): string | undefined {
  return getString(event, "problem_id") ?? getString(event, "module_id");
}

function scoreOf(event: EdxEvent): JsonObject {
  return weightedScore(toNumber(getData(event, "grade")), toNumber(getData(event, "max_grade")));
}

function serverProblemCheck(event: EdxEvent, env: TransformEnv): JsonObject[] {
  const problemId = problemIdOf(event);
  const objectId = problemId === undefined ? undefined : xblockIri(env, problemId);
  const success = getData(event, "success") === "correct";
  const submissions = getData(event, "submission");
  if (isJsonObject(submissions) && Object.keys(submissions).length > 1 && problemId !== undefined) {
    return multiQuestion(event, env, problemId, submissions, success);
  }
  const responseType = getData(event, "response_type");
  const submission = firstValue(payloadValue(event, "submission"));
  const definition: JsonObject = { interactionType: interactionType(responseType) };
  let response: string | undefined;
  if (responseType !== undefined && submission !== undefined) {
    definition["description"] = { "en-US": pyStr(submission["question"] ?? "") };
    response = responseText(submission["answer"]);
  } else {
    const displayName = getString(event, "display_name");
    if (displayName !== undefined) definition["name"] = { "en-US": displayName };
    response = responseText(payloadValue(event, "answers"));
  }
  const attempts = payloadValue(event, "attempts");
  if (attempts !== undefined) definition["extensions"] = { [EXT_ATTEMPT_ID]: attempts };
  return [
    xapiStatement(event, env, {
      verb: EVALUATED,
      object: activity(objectId, ACTIVITY_INTERACTION, definition),
      result: xapiResult({ score: scoreOf(event), success, response }),
      context: xapiContext(event, env),
    }),
  ];
}

function multiQuestion(event: EdxEvent, env: TransformEnv, problemId: string, submissions: JsonObject, success: boolean): JsonObject[] {
  // ERB reads the parent's attempts and response by the exact `data.*` path: tracking-log events (payload under
  // `event`) therefore have neither, as in ERB's fixtures.
  const attempts = getData(event, "data.attempts");
  // Built per use rather than shared, so that no two statements hold the same mutable object.
  const parentObject = (): JsonObject =>
    activity(xblockIri(env, problemId), ACTIVITY_INTERACTION, {
      name: { "en-US": MULTI_QUESTION_NAME },
      interactionType: "other",
      ...(attempts === undefined ? {} : { extensions: { [EXT_ATTEMPT_ID]: attempts } }),
    });
  const first = firstValue(getData(event, "data.submission"));
  const parent = xapiStatement(event, env, {
    verb: EVALUATED,
    object: parentObject(),
    result: xapiResult({ score: scoreOf(event), success, response: responseText(first?.["answer"]) }),
    context: xapiContext(event, env),
  });
  const parentRef: JsonObject = { objectType: "StatementRef", id: xapiStatementIdOf(parent) };
  const courseId = getString(event, "context.course_id");
  const contextActivities: JsonObject = { parent: [parentObject()] };
  if (courseId !== undefined) contextActivities["grouping"] = [courseActivity(env, courseId)];
  const out = [parent];
  for (const key in submissions) {
    const sub = submissions[key];
    const s = isJsonObject(sub) ? sub : {};
    const correct = s["correct"];
    out.push(
      xapiStatement(event, env, {
        verb: EVALUATED,
        object: activity(xblockIri(env, childUsageKey(problemId, key)), ACTIVITY_INTERACTION, {
          description: { "en-US": pyStr(s["question"] ?? "") },
          interactionType: interactionType(s["response_type"]),
        }),
        result: xapiResult({
          response: responseText(s["answer"]),
          success: typeof correct === "boolean" ? correct : undefined,
        }),
        context: xapiContext(event, env, { courseParent: false, contextActivities, statement: parentRef }),
        childKey: key,
      }),
    );
  }
  return out;
}

function browserProblemCheck(event: EdxEvent, env: TransformEnv): JsonObject[] {
  const usageKey = browserProblemUsageKey(event);
  return [
    xapiStatement(event, env, {
      verb: ATTEMPTED,
      object: activity(usageKey === undefined ? undefined : xblockIri(env, usageKey), ACTIVITY_INTERACTION, {
        interactionType: "other",
      }),
      context: xapiContext(event, env),
    }),
  ];
}

function problemCheck(event: EdxEvent, env: TransformEnv): JsonObject[] {
  const source = getString(event, "context.event_source") ?? getString(event, "event_source");
  return source === "browser" ? browserProblemCheck(event, env) : serverProblemCheck(event, env);
}

function requireProblemField(event: EdxEvent, key: string): string {
  const v = getString(event, key);
  if (v === undefined) throw TransformSkip.missingField(key);
  return v;
}

function simpleProblemStatement(v: XapiVerb, type: string, objectId: (event: EdxEvent, env: TransformEnv) => string) {
  return (event: EdxEvent, env: TransformEnv): JsonObject[] => [
    xapiStatement(event, env, { verb: v, object: activity(objectId(event, env), type), context: xapiContext(event, env) }),
  ];
}

function problemSubmitted(event: EdxEvent, env: TransformEnv): JsonObject[] {
  const problemId = requireProblemField(event, "problem_id");
  const earned = toNumber(payloadValue(event, "weighted_earned")) ?? 0;
  const possible = toNumber(payloadValue(event, "weighted_possible"));
  return [
    xapiStatement(event, env, {
      verb: ATTEMPTED,
      object: activity(xblockIri(env, problemId), ACTIVITY_QUESTION),
      result: xapiResult({
        score: weightedScore(earned, possible),
        success: possible === undefined ? undefined : earned >= possible,
      }),
      context: xapiContext(event, env),
    }),
  ];
}

export function registerXapiProblemEvents(registry: TransformerRegistry): void {
  registry
    .register(
      ["problem_check"],
      "problem",
      {
        verb: `${EVALUATED.id} (server); ${ATTEMPTED.id} (browser)`,
        objectType: `${ACTIVITY_INTERACTION} (multi-question: parent + one child statement per submission)`,
        objectId: "{LMS}/xblock/{problem_id} (browser: referer activate_block_id or input_<hash>_ form key)",
        result: "server: score (grade/max_grade), success, response; interactionType from response_type",
      },
      problemCheck,
    )
    .register(
      ["showanswer"],
      "problem",
      { verb: ASKED.id, objectType: ACTIVITY_SOLUTION, objectId: "{LMS}/xblock/{problem_id}/answer", result: "" },
      simpleProblemStatement(ASKED, ACTIVITY_SOLUTION, (e, env) => lmsIri(env, `/xblock/${requireProblemField(e, "problem_id")}/answer`)),
    )
    .register(
      ["edx.problem.hint.demandhint_displayed"],
      "problem",
      {
        verb: ASKED.id,
        objectType: ACTIVITY_SUPPLEMENTAL_INFO,
        objectId: "{LMS}/xblock/{module_id}/hint/{hint_index}",
        result: "",
      },
      simpleProblemStatement(ASKED, ACTIVITY_SUPPLEMENTAL_INFO, (e, env) => {
        const index = getData(e, "hint_index");
        return lmsIri(env, `/xblock/${requireProblemField(e, "module_id")}/hint/${index === undefined ? "" : pyStr(index)}`);
      }),
    )
    .register(
      ["edx.grades.problem.submitted"],
      "problem",
      {
        verb: ATTEMPTED.id,
        objectType: ACTIVITY_QUESTION,
        objectId: "{LMS}/xblock/{problem_id}",
        result: "score (min 0, max weighted_possible, raw weighted_earned, scaled), success",
      },
      problemSubmitted,
    )
    .register(
      ["edx.problem.completed"],
      "problem",
      {
        verb: COMPLETED.id,
        objectType: ACTIVITY_INTERACTION,
        objectId: "{LMS}/xblock/{problem_id} (ERB: raw usage key)",
        result: "",
      },
      simpleProblemStatement(COMPLETED, ACTIVITY_INTERACTION, (e, env) => xblockIri(env, requireProblemField(e, "problem_id"))),
    );
}
