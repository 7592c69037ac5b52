/** In-memory directories for the offline CLI (transform_tracking_logs-style replay): no NATS, same semantics. */
import type { ResolvedUser } from "../transform/transform-env.js";
import type { UserRef } from "../transform/user-ref.js";
import type { CourseDirectory, IdentityDirectory, IdentityRecord } from "./directory.js";
import type { ExternalIdDerivation } from "./external-id.js";
import { resolveWith } from "./identity-record.js";

/** Later records win, as with an import into the KV table. */
export function staticIdentityDirectory(records: readonly IdentityRecord[], derivation: ExternalIdDerivation): IdentityDirectory {
  const byId = new Map<string, IdentityRecord>();
  const byName = new Map<string, IdentityRecord>();
  for (const r of records) {
    if (r.userId) byId.set(r.userId, r);
    if (r.username) byName.set(r.username, r);
  }
  return {
    async resolve(ref: UserRef): Promise<ResolvedUser | undefined> {
      const record = ref.kind === "user_id" ? byId.get(ref.value) : byName.get(ref.value);
      return resolveWith(record, ref, derivation);
    },
  };
}

export function staticCourseDirectory(names: ReadonlyMap<string, string> | Readonly<Record<string, string>>): CourseDirectory {
  const map = names instanceof Map ? names : new Map(Object.entries(names));
  return {
    async courseName(courseId: string) {
      return map.get(courseId);
    },
  };
}
