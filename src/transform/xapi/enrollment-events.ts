/**
 * xAPI enrollment and course pass/fail (ERB enrollment_events.py). All six share the course object with the
 * enrollment mode as an acrossx extension, and have no contextActivities.
 */
import type { EdxEvent, JsonObject } from "../edx-event.js";
import { getData, requireString } from "../field-access.js";
import type { TransformerRegistry } from "../registry.js";
import { courseIri, type TransformEnv } from "../transform-env.js";
import { ACTIVITY_COURSE, dropUndefined, verb, xapiContext, xapiStatement, type XapiVerb } from "./xapi-common.js";

const EXT_ACROSSX_TYPE = "https://w3id.org/xapi/acrossx/extensions/type";

const REGISTERED = verb("http://adlnet.gov/expapi/verbs/registered", "registered");
const UNREGISTERED = verb("http://id.tincanapi.com/verb/unregistered", "unregistered");
const PASSED = verb("http://adlnet.gov/expapi/verbs/passed", "passed");
const FAILED = verb("http://adlnet.gov/expapi/verbs/failed", "failed");

function courseObject(event: EdxEvent, env: TransformEnv): JsonObject {
  const courseId = requireString(event, "context.course_id");
  const definition: JsonObject = {
    type: ACTIVITY_COURSE,
    // Kept even when empty: tincan serialises an empty extensions map, and ERB's fixtures expect it.
    extensions: dropUndefined({ [EXT_ACROSSX_TYPE]: getData(event, "data.mode") ?? getData(event, "event.mode") }),
  };
  if (env.courseName !== undefined) definition["name"] = { en: env.courseName };
  return { id: courseIri(env, courseId), objectType: "Activity", definition };
}

function courseStatement(v: XapiVerb) {
  return (event: EdxEvent, env: TransformEnv): JsonObject[] => [
    xapiStatement(event, env, {
      verb: v,
      object: courseObject(event, env),
      context: xapiContext(event, env, { courseParent: false }),
    }),
  ];
}

const mapping = (v: XapiVerb) => ({
  verb: v.id,
  objectType: ACTIVITY_COURSE,
  objectId: "{LMS}/course/{context.course_id}",
  result: "",
});

export function registerXapiEnrollmentEvents(registry: TransformerRegistry): void {
  registry
    .register(
      ["edx.course.enrollment.activated", "edx.course.enrollment.mode_changed"],
      "enrollment",
      mapping(REGISTERED),
      courseStatement(REGISTERED),
    )
    .register(["edx.course.enrollment.deactivated"], "enrollment", mapping(UNREGISTERED), courseStatement(UNREGISTERED))
    .register(
      ["edx.course.grade.passed.first_time", "edx.course.grade.now_passed"],
      "course grade",
      mapping(PASSED),
      courseStatement(PASSED),
    )
    .register(["edx.course.grade.now_failed"], "course grade", mapping(FAILED), courseStatement(FAILED));
}
