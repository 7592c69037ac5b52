/** Resolves what the pure transformers need from outside the event: the learner and the course name. */
import type { CourseDirectory, IdentityDirectory } from "../directory/directory.js";
import type { EdxEvent } from "../transform/edx-event.js";
import type { ResolvedLookups } from "../transform/transform-env.js";
import { courseIdOf, userRefOf } from "../transform/user-ref.js";

export interface Directories {
  readonly identities: IdentityDirectory;
  readonly courses: CourseDirectory;
}

export async function resolveLookups(event: EdxEvent, dirs: Directories): Promise<ResolvedLookups> {
  const ref = userRefOf(event);
  const courseId = courseIdOf(event);
  const [user, courseName] = await Promise.all([
    ref === undefined ? undefined : dirs.identities.resolve(ref),
    courseId === undefined ? undefined : dirs.courses.courseName(courseId),
  ]);
  return { user, courseName };
}
