/**
 * External ids for learners the identity table does not know (or knows without an external id): a keyed HMAC of
 * the reference, so every instance and every restart derives the same id without storing anything per user, and
 * nobody without the key can map an id back to a user id or username.
 *
 * Formatted as an RFC 4122 UUID with version 4 and variant 10xx. Version 8 ("custom", RFC 9562) would be the
 * more honest label for a hash-derived id, but imported ids are edx-platform's uuid4s and common validators
 * (uuid < 9, several xAPI/Caliper tools) accept only versions 1-5 with variant [89ab]; a v4 shape keeps derived
 * and imported ids indistinguishable downstream. The 122 HMAC bits left make collisions as unlikely as for uuid4.
 */
import { createHmac } from "node:crypto";
import type { UserRef } from "../transform/user-ref.js";

export type ExternalIdDerivation = (ref: UserRef) => string;

/** A derivation that remembers; `clear()` forgets what it remembered (after a learner is forgotten). */
export type RememberingDerivation = ExternalIdDerivation & { clear(): void };

/**
 * Derived ids remembered per derivation, up to this many (then forgotten all at once): a learner sends many events
 * in a row, and an HMAC (a fresh keyed hash object, its digest and the UUID formatting) was ~4% of the emit path's
 * CPU (docs/benchmarks.md). ~10k short strings are about 2 MB.
 */
const DERIVED_CACHE_LIMIT = 10_000;

/** HMAC-SHA256(secret, "user_id:<id>" | "username:<name>") as a v4-shaped UUID. */
export function hmacExternalIds(secret: string | Uint8Array): RememberingDerivation {
  if (secret.length === 0) throw new Error("the identity HMAC secret is empty");
  const derived = new Map<string, string>();
  const derive = (ref: UserRef): string => {
    const input = `${ref.kind}:${ref.value}`;
    let id = derived.get(input);
    if (id === undefined) {
      id = uuidFromDigest(createHmac("sha256", secret).update(input, "utf8").digest());
      if (derived.size >= DERIVED_CACHE_LIMIT) derived.clear();
      derived.set(input, id);
    }
    return id;
  };
  return Object.assign(derive, { clear: () => derived.clear() });
}

export function uuidFromDigest(digest: Uint8Array): string {
  if (digest.length < 16) throw new Error("digest shorter than 16 bytes");
  const b = Buffer.from(digest.subarray(0, 16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
