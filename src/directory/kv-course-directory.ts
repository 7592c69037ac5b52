/**
 * Course names from a KV bucket (key = base64url(course_id), value JSON {course_id, name}), falling back to the
 * names loaded from COURSES_FILE at start. The bucket wins so admins can correct a name without a restart.
 */
import type { KV } from "@nats-io/kv";
import { openKvBucket } from "../nats/kv-bucket.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { UnavailableError } from "../errors.js";
import type { NatsNames } from "../nats/names.js";
import { courseKey, type CourseRecord } from "./course-record.js";
import type { CourseDirectory } from "./directory.js";
import type { KvDirectoryOptions } from "./kv-identity-directory.js";
import { KvLookupCache } from "./kv-lookup-cache.js";
import { mapLimit } from "./map-limit.js";

interface StoredCourse {
  readonly course_id: string;
  readonly name: string;
}

export interface KvCourseDirectoryOptions extends KvDirectoryOptions {
  /** Names from COURSES_FILE (see loadCoursesFile). */
  readonly fileNames?: ReadonlyMap<string, string>;
}

export class KvCourseDirectory implements CourseDirectory {
  readonly #kv: KV;
  readonly #cache: KvLookupCache<string>;
  readonly #fileNames: ReadonlyMap<string, string>;

  private constructor(kv: KV, cache: KvLookupCache<string>, fileNames: ReadonlyMap<string, string>) {
    this.#kv = kv;
    this.#cache = cache;
    this.#fileNames = fileNames;
  }

  static async open(nc: NatsConnection, names: NatsNames, opts: KvCourseDirectoryOptions = {}): Promise<KvCourseDirectory> {
    const kv = await openKvBucket(nc, names.coursesBucket, { replicas: opts.replicas ?? 1, history: 1 });
    const cache = new KvLookupCache<string>(kv, (e) => e.json<StoredCourse>().name, { label: names.coursesBucket, ...opts.cache });
    await cache.start();
    return new KvCourseDirectory(kv, cache, opts.fileNames ?? new Map());
  }

  courseNameCached(courseId: string): { readonly name: string | undefined } | undefined {
    if (courseId === "" || courseId.length > 255) return { name: undefined };
    const slot = this.#cache.peek(courseKey(courseId));
    return slot && { name: slot.value ?? this.#fileNames.get(courseId) };
  }

  async courseName(courseId: string): Promise<string | undefined> {
    if (courseId === "" || courseId.length > 255) return undefined;
    return (await this.#cache.get(courseKey(courseId))) ?? this.#fileNames.get(courseId);
  }

  async import(courses: readonly CourseRecord[]): Promise<number> {
    await mapLimit(dedupe(courses), 64, async (c) => {
      const key = courseKey(c.courseId);
      try {
        await this.#kv.put(key, JSON.stringify({ course_id: c.courseId, name: c.name } satisfies StoredCourse));
      } catch (e) {
        throw new UnavailableError(`course import failed: ${(e as Error).message}`);
      }
      this.#cache.invalidate(key);
    });
    return courses.length;
  }

  close(): void {
    this.#cache.stop();
  }
}

function dedupe(courses: readonly CourseRecord[]): CourseRecord[] {
  return [...new Map(courses.map((c) => [c.courseId, c])).values()];
}
