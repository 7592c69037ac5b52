/**
 * Resolves what the pure transformers need from outside the event: the learner and the course name. When both
 * answers are already cached the result is returned as is, not as a promise: the emit path then transforms the
 * event without the several promises and microtask turns per event that an async look-up costs.
 */
import type { CourseDirectory, IdentityDirectory } from "../directory/directory.js";
import type { EdxEvent } from "../transform/edx-event.js";
import type { ResolvedLookups } from "../transform/transform-env.js";
import { courseIdOf, userRefOf, type UserRef } from "../transform/user-ref.js";

export interface Directories {
  readonly identities: IdentityDirectory;
  readonly courses: CourseDirectory;
}

/** `ref` when the caller already read the event's user reference (userRefOf), to read it once per event. */
export function resolveLookups(
  event: EdxEvent,
  dirs: Directories,
  ref: UserRef | undefined = userRefOf(event),
): ResolvedLookups | Promise<ResolvedLookups> {
  const courseId = courseIdOf(event);
  const user = ref === undefined ? { user: undefined } : dirs.identities.resolveCached?.(ref);
  const course = courseId === undefined ? { name: undefined } : dirs.courses.courseNameCached?.(courseId);
  if (user !== undefined && course !== undefined) return { user: user.user, courseName: course.name };
  return resolveAsync(ref, courseId, dirs);
}

async function resolveAsync(ref: ReturnType<typeof userRefOf>, courseId: string | undefined, dirs: Directories): Promise<ResolvedLookups> {
  const [user, courseName] = await Promise.all([
    ref === undefined ? undefined : dirs.identities.resolve(ref),
    courseId === undefined ? undefined : dirs.courses.courseName(courseId),
  ]);
  return { user, courseName };
}
