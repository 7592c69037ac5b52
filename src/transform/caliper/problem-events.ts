/**
 * Caliper problem interactions (ERB caliper problem_interaction_events.py):
 *   problem_check (browser)        AssessmentEvent / Submitted  on Assessment  {LMS}/xblock/{problem}
 *   problem_check (server)         GradeEvent / Graded          on Attempt     {LMS}/xblock/{problem}/user/{anon}/attempt/{n},
 *                                  generated Score (maxScore, scoreGiven, extensions success/attempts)
 *   edx.grades.problem.submitted   AssessmentEvent / Submitted  on Assessment
 *   edx.problem.completed          AssessmentItemEvent / Completed on AssessmentItem
 *   showanswer                     Event / Viewed on Annotation "Solution", {problem IRI}/solution
 *   edx.problem.hint.demandhint_displayed  Event / Viewed on Annotation "Hint", {problem IRI}/hint/{hint_index}
 *
 * Spec fixes over ERB (docs/caliper-deviations.md): a browser problem_check whose problem cannot be identified is
 * skipped instead of sending an Assessment without an id; GradeEvent.generated is the Score entity itself (ERB
 * wraps it as `{score: {...}}`, which is no Caliper entity), with the non-Caliper `attempts` moved into the
 * Score's extensions and `attempt` pointing at the graded Attempt; the server/browser split also reads the
 * tracking-log top-level `event_source`.
 */
import type { EdxEvent, JsonObject } from "../edx-event.js";
import { browserProblemUsageKey } from "../edx-fields.js";
import { getData, getString, payloadValue, pyStr } from "../field-access.js";
import type { TransformerRegistry } from "../registry.js";
import { xblockIri, type TransformEnv } from "../transform-env.js";
import { TransformSkip } from "../transform-skip.js";
import { caliperActor, caliperEvent, caliperObject } from "./caliper-common.js";

/** A payload key (`data.k` / `event.k`), else ERB's depth-first search for it; required. */
function requireKey(event: EdxEvent, key: string): string {
  const v = payloadValue(event, key) ?? getData(event, key);
  if (v === undefined) throw TransformSkip.missingField(`data.${key}`);
  return pyStr(v);
}

function isServerEvent(event: EdxEvent): boolean {
  return (getString(event, "context.event_source") ?? getString(event, "event_source")) === "server";
}

function browserProblemCheck(event: EdxEvent, env: TransformEnv): JsonObject[] {
  const usageKey = browserProblemUsageKey(event);
  if (usageKey === undefined) {
    throw TransformSkip.missingField("problem block (referer activate_block_id or input_<hash>_ form keys)");
  }
  const object = caliperObject(event, env, "Assessment", xblockIri(env, usageKey));
  return [caliperEvent(event, env, { type: "AssessmentEvent", action: "Submitted", object })];
}

function serverProblemCheck(event: EdxEvent, env: TransformEnv): JsonObject[] {
  const actor = caliperActor(env);
  const problemIri = xblockIri(env, requireKey(event, "problem_id"));
  const attempts = payloadValue(event, "attempts") ?? getData(event, "attempts");
  // ERB writes ".../attempt/None" when attempts is missing; we end the IRI at ".../attempt" instead.
  const attemptBase = `${problemIri}/user/${env.user?.externalId ?? ""}/attempt`;
  const attemptId = attempts === undefined ? attemptBase : `${attemptBase}/${pyStr(attempts)}`;
  const object = caliperObject(event, env, "Attempt", attemptId, undefined, {
    assignable: { id: problemIri, type: "Assessment" },
    assignee: actor,
    count: attempts,
  });
  const score: JsonObject = { id: "_:score", type: "Score", attempt: attemptId };
  const maxGrade = payloadValue(event, "max_grade") ?? getData(event, "max_grade");
  const grade = payloadValue(event, "grade") ?? getData(event, "grade");
  if (maxGrade !== undefined) score["maxScore"] = maxGrade;
  if (grade !== undefined) score["scoreGiven"] = grade;
  const scoreExtensions: JsonObject = { success: pyStr(getString(event, "success") === "correct") };
  if (attempts !== undefined) scoreExtensions["attempts"] = attempts;
  score["extensions"] = scoreExtensions;
  return [caliperEvent(event, env, { type: "GradeEvent", action: "Graded", object, generated: score })];
}

function problemCheck(event: EdxEvent, env: TransformEnv): JsonObject[] {
  return isServerEvent(event) ? serverProblemCheck(event, env) : browserProblemCheck(event, env);
}

function onProblem(type: string, action: string, objectType: string) {
  return (event: EdxEvent, env: TransformEnv): JsonObject[] => [
    caliperEvent(event, env, {
      type,
      action,
      object: caliperObject(event, env, objectType, xblockIri(env, requireKey(event, "problem_id"))),
    }),
  ];
}

function showAnswer(event: EdxEvent, env: TransformEnv): JsonObject[] {
  const id = `${xblockIri(env, requireKey(event, "problem_id"))}/solution`;
  return [
    caliperEvent(event, env, {
      type: "Event",
      action: "Viewed",
      object: caliperObject(event, env, "Annotation", id, { name: "Solution" }),
    }),
  ];
}

function hintDisplayed(event: EdxEvent, env: TransformEnv): JsonObject[] {
  const id = `${xblockIri(env, requireKey(event, "module_id"))}/hint/${requireKey(event, "hint_index")}`;
  return [
    caliperEvent(event, env, { type: "Event", action: "Viewed", object: caliperObject(event, env, "Annotation", id, { name: "Hint" }) }),
  ];
}

export function registerCaliperProblemEvents(registry: TransformerRegistry): void {
  registry
    .register(
      ["problem_check"],
      "problem",
      {
        verb: "browser: AssessmentEvent / Submitted; server: GradeEvent / Graded",
        objectType: "browser: Assessment; server: Attempt",
        objectId: "{LMS}/xblock/{problem} (browser: referer activate_block_id or input_<hash>_); server: …/user/{anon}/attempt/{attempts}",
        result:
          "server: generated Score (maxScore, scoreGiven, extensions success, attempts); object.extensions assignable, assignee, count",
      },
      problemCheck,
    )
    .register(
      ["edx.grades.problem.submitted"],
      "problem",
      { verb: "AssessmentEvent / Submitted", objectType: "Assessment", objectId: "{LMS}/xblock/{data.problem_id}", result: "" },
      onProblem("AssessmentEvent", "Submitted", "Assessment"),
    )
    .register(
      ["edx.problem.completed"],
      "problem",
      { verb: "AssessmentItemEvent / Completed", objectType: "AssessmentItem", objectId: "{LMS}/xblock/{data.problem_id}", result: "" },
      onProblem("AssessmentItemEvent", "Completed", "AssessmentItem"),
    )
    .register(
      ["showanswer"],
      "problem",
      {
        verb: "Event / Viewed",
        objectType: "Annotation",
        objectId: "{LMS}/xblock/{data.problem_id}/solution",
        result: 'object.name "Solution"',
      },
      showAnswer,
    )
    .register(
      ["edx.problem.hint.demandhint_displayed"],
      "problem",
      {
        verb: "Event / Viewed",
        objectType: "Annotation",
        objectId: "{LMS}/xblock/{data.module_id}/hint/{data.hint_index}",
        result: 'object.name "Hint"',
      },
      hintDisplayed,
    );
}
