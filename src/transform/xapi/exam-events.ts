/**
 * xAPI special-exam events (ERB exam_events.py). ERB reads only `event.*` (tracking-log shape); we read `data.*`
 * too, so live proctoring events are transformed. Deviation (docs/xapi-deviations.md): ERB's object id is the bare
 * usage key and the attempt id a bare GUID, neither an IRI; we emit `{LMS}/xblock/{exam_content_id}` and
 * `{LMS}/xblock/{exam_content_id}/attempt/{attempt_code}`.
 */
import type { EdxEvent, JsonObject } from "../edx-event.js";
import { payloadValue, pyStr } from "../field-access.js";
import type { TransformerRegistry } from "../registry.js";
import { xblockIri, type TransformEnv } from "../transform-env.js";
import { TransformSkip } from "../transform-skip.js";
import { activity, dropUndefined, verb, xapiContext, xapiStatement, type XapiVerb } from "./xapi-common.js";

const INITIALIZED = verb("http://adlnet.gov/expapi/verbs/initialized", "initialized");
const TERMINATED = verb("http://adlnet.gov/expapi/verbs/terminated", "terminated");
const ACTIVITY_ATTEMPT = "http://adlnet.gov/expapi/activities/attempt";
const EXT_TIME_LIMIT = "https://w3id.org/xapi/acrossx/extensions/time-limit";
const EXT_ATTEMPT_STARTED = "https://w3id.org/xapi/openedx/extension/attempt-started";
const EXT_ATTEMPT_COMPLETED = "https://w3id.org/xapi/openedx/extension/attempt-completed";
const EXT_DURATION = "http://id.tincanapi.com/extension/duration";
const EXT_ATTEMPT_ID = "http://id.tincanapi.com/extension/attempt-id";

type ExamKind = "timed" | "practice" | "proctored";
const examType = (kind: ExamKind) => `https://w3id.org/xapi/openedx/activity/${kind}-assessment`;

/** The exam's object id (an IRI under the LMS root, where ERB emits the bare usage key). */
export function examObjectId(env: TransformEnv, examContentId: string): string {
  return xblockIri(env, examContentId);
}

/** The attempt's grouping id (an IRI under the LMS root, where ERB emits the bare attempt code). */
export function examAttemptId(env: TransformEnv, examContentId: string, attemptCode: string): string {
  return `${xblockIri(env, examContentId)}/attempt/${attemptCode}`;
}

function examStatement(v: XapiVerb, kind: ExamKind) {
  return (event: EdxEvent, env: TransformEnv): JsonObject[] => {
    const content = payloadValue(event, "exam_content_id");
    if (content === undefined) throw TransformSkip.missingField("event.exam_content_id");
    const examContentId = pyStr(content);
    const examName = payloadValue(event, "exam_name");
    const name: JsonObject = examName === undefined ? {} : { name: { en: pyStr(examName) } };
    const object = activity(examObjectId(env, examContentId), examType(kind), {
      ...name,
      extensions: dropUndefined({ [EXT_TIME_LIMIT]: payloadValue(event, "exam_default_time_limit_mins") }),
    });
    const contextActivities: JsonObject = {};
    const attemptCode = payloadValue(event, "attempt_code");
    if (attemptCode !== undefined) {
      contextActivities["grouping"] = [
        activity(examAttemptId(env, examContentId, pyStr(attemptCode)), ACTIVITY_ATTEMPT, {
          ...name,
          extensions: dropUndefined({
            [EXT_ATTEMPT_STARTED]: payloadValue(event, "attempt_started_at"),
            [EXT_ATTEMPT_COMPLETED]: payloadValue(event, "attempt_completed_at"),
            [EXT_DURATION]: payloadValue(event, "attempt_event_elapsed_time_secs"),
            [EXT_ATTEMPT_ID]: payloadValue(event, "attempt_id"),
          }),
        }),
      ];
    }
    return [xapiStatement(event, env, { verb: v, object, context: xapiContext(event, env, { contextActivities }) })];
  };
}

export function registerXapiExamEvents(registry: TransformerRegistry): void {
  for (const kind of ["timed", "practice", "proctored"] as const) {
    const mapping = (v: XapiVerb) => ({
      verb: v.id,
      objectType: examType(kind),
      objectId: "{LMS}/xblock/{event.exam_content_id} (ERB: bare usage key)",
      result: "name (exam_name), def ext time-limit; grouping attempt {object id}/attempt/{attempt_code}",
    });
    registry
      .register([`edx.special_exam.${kind}.attempt.created`], "exam", mapping(INITIALIZED), examStatement(INITIALIZED, kind))
      .register([`edx.special_exam.${kind}.attempt.submitted`], "exam", mapping(TERMINATED), examStatement(TERMINATED, kind));
  }
}
