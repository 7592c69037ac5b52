/**
 * xAPI grading events (ERB grading_events.py): subsection and course grades, verb "earned". Both input shapes
 * are read (`data.*` live, `event.*` tracking log).
 */
import type { EdxEvent, JsonObject } from "../edx-event.js";
import { toNumber } from "../edx-fields.js";
import { payloadValue, pyStr, requireString } from "../field-access.js";
import type { TransformerRegistry } from "../registry.js";
import { courseIri, xblockIri, type TransformEnv } from "../transform-env.js";
import { TransformSkip } from "../transform-skip.js";
import { ACTIVITY_COURSE, activity, verb, xapiContext, xapiResult, xapiStatement } from "./xapi-common.js";

export const ACTIVITY_RESOURCE = "http://id.tincanapi.com/activitytype/resource";
const EXT_GRADE_CLASSIFICATION = "http://www.tincanapi.co.uk/activitytypes/grade_classification";
const EARNED = verb("http://id.tincanapi.com/verb/earned", "earned");

function requirePayloadString(event: EdxEvent, key: string): string {
  const v = payloadValue(event, key);
  if (v === undefined) throw TransformSkip.missingField(`data.${key}`);
  return pyStr(v);
}

/** score {min 0, max, raw, scaled = raw/max (0 when max is 0)}; undefined members are dropped. */
export function weightedScore(raw: number | undefined, max: number | undefined): JsonObject {
  const scaled = raw === undefined || max === undefined ? undefined : max === 0 ? 0 : raw / max;
  const score: JsonObject = { min: 0 };
  if (max !== undefined) score["max"] = max;
  if (raw !== undefined) score["raw"] = raw;
  if (scaled !== undefined) score["scaled"] = scaled;
  return score;
}

function subsectionGrade(event: EdxEvent, env: TransformEnv): JsonObject[] {
  const blockId = requirePayloadString(event, "block_id");
  const earned = toNumber(payloadValue(event, "weighted_total_earned")) ?? 0;
  const possible = toNumber(payloadValue(event, "weighted_total_possible")) ?? 0;
  return [
    xapiStatement(event, env, {
      verb: EARNED,
      object: activity(xblockIri(env, blockId), ACTIVITY_RESOURCE),
      result: xapiResult({ score: weightedScore(earned, possible), success: earned >= possible }),
      context: xapiContext(event, env),
    }),
  ];
}

function courseGrade(event: EdxEvent, env: TransformEnv): JsonObject[] {
  const courseId = requireString(event, "context.course_id");
  const percent = toNumber(payloadValue(event, "percent_grade")) ?? 0;
  const letter = payloadValue(event, "letter_grade");
  const definition: JsonObject = {};
  if (env.courseName !== undefined) definition["name"] = { en: env.courseName };
  return [
    xapiStatement(event, env, {
      verb: EARNED,
      object: activity(courseIri(env, courseId), ACTIVITY_COURSE, definition),
      result: xapiResult({
        score: { min: 0, max: 1.0, raw: percent, scaled: percent },
        extensions: { [EXT_GRADE_CLASSIFICATION]: letter === undefined ? "Fail" : pyStr(letter) },
      }),
      context: xapiContext(event, env),
    }),
  ];
}

export function registerXapiGradingEvents(registry: TransformerRegistry): void {
  registry
    .register(
      ["edx.grades.subsection.grade_calculated"],
      "grading",
      {
        verb: EARNED.id,
        objectType: ACTIVITY_RESOURCE,
        objectId: "{LMS}/xblock/{data.block_id}",
        result: "score (min 0, max weighted_total_possible, raw weighted_total_earned, scaled), success",
      },
      subsectionGrade,
    )
    .register(
      ["edx.grades.course.grade_calculated"],
      "grading",
      {
        verb: EARNED.id,
        objectType: ACTIVITY_COURSE,
        objectId: "{LMS}/course/{context.course_id}",
        result: "score (min 0, max 1, raw = scaled = percent_grade), ext grade_classification (letter_grade or Fail)",
      },
      courseGrade,
    );
}
