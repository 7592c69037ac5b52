/**
 * ForgetLearner's steps, in the order that loses nothing when the instance dies between two of them:
 *   1. every identifier of the learner: the ones given, the identity table's rows naming them (and the rows those
 *      name), the external ids derived from each user id and username (what statements of learners the table did
 *      not know carry), and for each email its mbox_sha1sum; all turned into keyed hashes;
 *   2. the forget record, running and claimed by this instance, holding those hashes: from here on a restart of any
 *      instance finishes the forget;
 *   3. the tombstones (every input skips the learner from now on, everywhere);
 *   4. the identity rows are removed;
 *   5. the scan of the streams starts (forget-runner.ts), and writes the tombstones again first, so a crash
 *      between 2 and 3 still ends with them stored.
 * A call that failed may be repeated: forgetting a learner again is harmless (a second record, nothing doubled).
 */
import { createHash, randomBytes } from "node:crypto";
import { ValidationError } from "../errors.js";
import type { IdentityRecord } from "../directory/directory.js";
import type { ExternalIdDerivation } from "../directory/external-id.js";
import type { LearnerHasher, LearnerIdKind } from "../directory/learner-hash.js";
import { newForgetId, type ForgetRecord } from "./forget-record.js";
import type { ForgetStore, Revisioned } from "./forget-store.js";

export interface ForgetRequest {
  readonly userId?: string;
  readonly username?: string;
  readonly externalId?: string;
  readonly email?: string;
}

export interface LearnerRows {
  recordsOf(userId: string | undefined, username: string | undefined): Promise<IdentityRecord[]>;
  remove(userIds: readonly string[], usernames: readonly string[]): Promise<number>;
}

export interface ForgetDeps {
  readonly identities: LearnerRows;
  readonly derive: ExternalIdDerivation;
  readonly hasher: LearnerHasher;
  readonly store: ForgetStore;
  readonly addTombstones: (hashes: readonly string[], forgetId: string) => Promise<void>;
  readonly instanceId: string;
  readonly leaseMs: number;
}

/** Every identifier of the learner, by kind (no duplicates). */
export interface LearnerIdentifiers {
  readonly userIds: string[];
  readonly usernames: string[];
  readonly externalIds: string[];
  readonly emails: string[];
}

const MAX_CHARS = 255;

export function validateForget(req: ForgetRequest): ForgetRequest {
  const given = (v: string | undefined) => (v === undefined || v.trim() === "" ? undefined : v.trim());
  const r = { userId: given(req.userId), username: given(req.username), externalId: given(req.externalId), email: given(req.email) };
  if (r.userId === undefined && r.username === undefined) throw new ValidationError("user_id", "user_id or username is required");
  for (const [field, v] of [
    ["user_id", r.userId],
    ["username", r.username],
    ["external_id", r.externalId],
    ["email", r.email],
  ] as const) {
    if (v !== undefined && v.length > MAX_CHARS) throw new ValidationError(field, `expected at most ${MAX_CHARS} characters`);
  }
  return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as ForgetRequest;
}

export function identifiersOf(req: ForgetRequest, rows: readonly IdentityRecord[], derive: ExternalIdDerivation): LearnerIdentifiers {
  const userIds = new Set<string>();
  const usernames = new Set<string>();
  const externalIds = new Set<string>();
  const emails = new Set<string>();
  const add = (set: Set<string>, v: string | undefined) => v !== undefined && v !== "" && set.add(v);
  add(userIds, req.userId);
  add(usernames, req.username);
  add(externalIds, req.externalId);
  add(emails, req.email);
  for (const r of rows) {
    add(userIds, r.userId);
    add(usernames, r.username);
    add(externalIds, r.externalId);
    add(emails, r.email);
  }
  for (const id of userIds) externalIds.add(derive({ kind: "user_id", value: id }));
  for (const name of usernames) externalIds.add(derive({ kind: "username", value: name }));
  return { userIds: [...userIds], usernames: [...usernames], externalIds: [...externalIds], emails: [...emails] };
}

export function hashesOf(ids: LearnerIdentifiers, hasher: LearnerHasher): string[] {
  const pairs: Array<[LearnerIdKind, string]> = [
    ...ids.userIds.map((v): [LearnerIdKind, string] => ["user_id", v]),
    ...ids.usernames.map((v): [LearnerIdKind, string] => ["username", v]),
    ...ids.externalIds.map((v): [LearnerIdKind, string] => ["external_id", v]),
    ...ids.emails.map((v): [LearnerIdKind, string] => ["email", v]),
    // xAPI mbox_sha1sum actors: the SHA-1 of "mailto:<email>", hex (xAPI 1.0.3 §4.1.2.3).
    ...ids.emails.map((v): [LearnerIdKind, string] => [
      "mbox_sha1sum",
      createHash("sha1").update(`mailto:${v.trim().toLowerCase()}`).digest("hex"),
    ]),
  ];
  return [...new Set(pairs.map(([k, v]) => hasher.hash(k, v)))];
}

/** Steps 1 to 4; the caller starts the scan (step 5) with the record returned. */
export async function beginForget(req: ForgetRequest, requestedBy: string, deps: ForgetDeps): Promise<Revisioned> {
  const rows = await deps.identities.recordsOf(req.userId, req.username);
  const ids = identifiersOf(req, rows, deps.derive);
  const hashes = hashesOf(ids, deps.hasher);
  const now = new Date();
  const record: ForgetRecord = {
    id: newForgetId(now, randomBytes(4).toString("hex")),
    requestedAt: now.toISOString(),
    requestedBy,
    identityRecordsDeleted: 0,
    phase: "failed",
    nextSeq: 0,
    bound: 0,
    settled: false,
    routers: {},
    scanned: 0,
    toScan: 0,
    hashes,
    owner: deps.instanceId,
    leaseUntil: Date.now() + deps.leaseMs,
  };
  const created = await deps.store.create(record);
  await deps.addTombstones(hashes, record.id);
  const removed = await deps.identities.remove(ids.userIds, ids.usernames);
  deps.hasher.clear();
  if (removed === 0) return created;
  const updated = { ...record, identityRecordsDeleted: rows.length, leaseUntil: Date.now() + deps.leaseMs };
  return { record: updated, revision: await deps.store.save(updated, created.revision) };
}
