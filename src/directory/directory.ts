/**
 * Look-ups the transformers need but the service cannot query itself (it has no LMS database). Resolved by the
 * ingest layer before the pure transform runs.
 */
import type { UserRef } from "../transform/user-ref.js";
import type { ResolvedUser } from "../transform/transform-env.js";

export interface IdentityRecord {
  readonly userId?: string;
  readonly username?: string;
  readonly externalId?: string;
  readonly email?: string;
}

export interface IdentityDirectory {
  /**
   * The learner for a reference: the imported record (by user id, then username), with the external id derived
   * (HMAC, UUID-formatted) when the record has none or there is no record. Undefined only when the reference
   * cannot be resolved at all.
   */
  resolve(ref: UserRef): Promise<ResolvedUser | undefined>;
  /**
   * What resolve() would answer, when that is known without waiting (a cache hit); undefined otherwise. Optional:
   * the emit path uses it to skip a few promises per event, and falls back to resolve().
   */
  resolveCached?(ref: UserRef): { readonly user: ResolvedUser | undefined } | undefined;
}

export interface CourseDirectory {
  /** Display name, or undefined when unknown (the name is then omitted and the event still flows). */
  courseName(courseId: string): Promise<string | undefined>;
  /** What courseName() would answer, when known without waiting (a cache hit); undefined otherwise. Optional. */
  courseNameCached?(courseId: string): { readonly name: string | undefined } | undefined;
}
