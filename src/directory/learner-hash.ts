/**
 * The keyed hash a forgotten learner is known by (src/erasure/): tombstones and the Er-Learner header of a
 * delivery message hold it instead of an identifier, so neither the KV bucket nor the streams' headers say who
 * was forgotten or whose statement a message is, and nobody without the key can test a guessed user id (Open edX
 * user ids are small integers: an unkeyed hash of one is reversed by trying them all).
 *
 * HMAC-SHA256 with the identity HMAC key (hmac-secret.ts), under its own label so a learner hash never equals a
 * derived external id (those appear in statements and LRSs); 128 bits as base64url (22 characters, a valid KV key
 * token). Changing the key makes every tombstone unrecognisable: docs/privacy.md says so.
 *
 * Remembered per identifier, up to a bound, because the emit path asks for every event (one Map look-up on a hit,
 * instead of a keyed hash object and a digest).
 */
import { createHmac } from "node:crypto";

/** What a hash is of: the LMS identifiers, or what the actor of a statement shows. */
export type LearnerIdKind = "user_id" | "username" | "external_id" | "email" | "mbox_sha1sum";

export interface LearnerHasher {
  hash(kind: LearnerIdKind, value: string): string;
  /** Forgets the remembered identifiers (after a forget, so none of the learner's stays in memory). */
  clear(): void;
}

const LABEL = "event-routing learner tombstone v1\0";
const REMEMBERED_LIMIT = 10_000;

/** Emails compare case-insensitively in practice (LMSs lower-case them); the other identifiers are exact. */
function normalise(kind: LearnerIdKind, value: string): string {
  return kind === "email" || kind === "mbox_sha1sum" ? value.trim().toLowerCase() : value;
}

export function learnerHasher(secret: string | Uint8Array): LearnerHasher {
  if (secret.length === 0) throw new Error("the identity HMAC secret is empty");
  const remembered = new Map<string, string>();
  return {
    hash(kind, value) {
      const input = `${kind}:${normalise(kind, value)}`;
      let h = remembered.get(input);
      if (h === undefined) {
        h = createHmac("sha256", secret).update(LABEL).update(input, "utf8").digest().subarray(0, 16).toString("base64url");
        if (remembered.size >= REMEMBERED_LIMIT) remembered.clear();
        remembered.set(input, h);
      }
      return h;
    },
    clear() {
      remembered.clear();
    },
  };
}
