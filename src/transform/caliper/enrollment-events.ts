/**
 * Caliper enrollment and first-time pass (ERB caliper enrollment_events.py): a generic `Event` whose object is the
 * CourseOffering, with the enrollment mode as an object extension instead of isPartOf.
 */
import type { EdxEvent, JsonObject } from "../edx-event.js";
import { getData, requireString } from "../field-access.js";
import type { TransformerRegistry } from "../registry.js";
import { courseIri, type TransformEnv } from "../transform-env.js";
import { caliperEvent } from "./caliper-common.js";

function courseOffering(event: EdxEvent, env: TransformEnv): JsonObject {
  const courseId =
    typeof getData(event, "data.course_id") === "string" ? requireString(event, "data.course_id") : requireString(event, "course_id");
  const object: JsonObject = { id: courseIri(env, courseId), type: "CourseOffering" };
  if (env.courseName !== undefined) object["name"] = env.courseName;
  const mode = getData(event, "data.mode") ?? getData(event, "event.mode");
  if (mode !== undefined) object["extensions"] = { mode };
  return object;
}

function courseEvent(action: string) {
  return (event: EdxEvent, env: TransformEnv): JsonObject[] => [
    caliperEvent(event, env, { type: "Event", action, object: courseOffering(event, env) }),
  ];
}

const mapping = (action: string) => ({
  verb: `Event / ${action}`,
  objectType: "CourseOffering",
  objectId: "{LMS}/course/{data.course_id}",
  result: "",
});

export function registerCaliperEnrollmentEvents(registry: TransformerRegistry): void {
  registry
    .register(["edx.course.enrollment.activated"], "enrollment", mapping("Activated"), courseEvent("Activated"))
    .register(["edx.course.enrollment.deactivated"], "enrollment", mapping("Deactivated"), courseEvent("Deactivated"))
    .register(["edx.course.grade.passed.first_time"], "course grade", mapping("Completed"), courseEvent("Completed"));
}
