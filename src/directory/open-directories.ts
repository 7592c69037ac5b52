/** Wiring for the service: the HMAC key, both KV-backed directories and the optional courses file. */
import type { NatsConnection } from "@nats-io/transport-node";
import type { NatsNames } from "../nats/names.js";
import { loadCoursesFile } from "./courses-file.js";
import { type ExternalIdDerivation, hmacExternalIds } from "./external-id.js";
import { identityHmacSecret } from "./hmac-secret.js";
import { KvCourseDirectory } from "./kv-course-directory.js";
import { KvIdentityDirectory } from "./kv-identity-directory.js";
import { learnerHasher, type LearnerHasher } from "./learner-hash.js";
import type { LookupCacheOptions } from "./kv-lookup-cache.js";

export interface OpenDirectoriesOptions {
  readonly replicas?: number;
  /** IDENTITY_HMAC_SECRET; when absent a generated key is shared through the settings bucket. */
  readonly hmacSecret?: string;
  /** COURSES_FILE. */
  readonly coursesFile?: string;
  readonly cache?: LookupCacheOptions;
}

export interface KvDirectories {
  readonly identities: KvIdentityDirectory;
  readonly courses: KvCourseDirectory;
  /** The keyed hash forgotten learners are known by, under the same key as derived external ids. */
  readonly learnerHash: LearnerHasher;
  /** Derives an external id the way the identity directory does (a forget finds the ids statements carry). */
  readonly deriveExternalId: ExternalIdDerivation;
  close(): void;
}

export async function openDirectories(nc: NatsConnection, names: NatsNames, opts: OpenDirectoriesOptions = {}): Promise<KvDirectories> {
  const replicas = opts.replicas ?? 1;
  const secret = await identityHmacSecret(nc, names, { replicas, ...(opts.hmacSecret ? { configured: opts.hmacSecret } : {}) });
  const fileNames = opts.coursesFile ? await loadCoursesFile(opts.coursesFile) : undefined;
  const derive = hmacExternalIds(secret);
  const identities = await KvIdentityDirectory.open(nc, names, derive, {
    replicas,
    ...(opts.cache ? { cache: opts.cache } : {}),
  });
  const courses = await KvCourseDirectory.open(nc, names, {
    replicas,
    ...(fileNames ? { fileNames } : {}),
    ...(opts.cache ? { cache: opts.cache } : {}),
  });
  return {
    identities,
    courses,
    learnerHash: learnerHasher(secret),
    deriveExternalId: derive,
    close() {
      identities.close();
      courses.close();
    },
  };
}
