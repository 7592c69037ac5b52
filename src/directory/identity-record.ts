/**
 * One learner in the identity table: validation of untrusted rows, the KV keys a record is stored under, and how
 * a record (or its absence) becomes the ResolvedUser the transformers get.
 */
import { z } from "zod";
import { ValidationError } from "../errors.js";
import type { ResolvedUser } from "../transform/transform-env.js";
import type { UserRef } from "../transform/user-ref.js";
import type { IdentityRecord } from "./directory.js";
import type { ExternalIdDerivation } from "./external-id.js";

/** KV keys allow only [-/_=.a-zA-Z0-9]; Open edX user ids are integers, so this is no real restriction. */
const USER_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

const identitySchema = z
  .object({
    userId: z.string().regex(USER_ID_RE, { error: "expected letters, digits, '-' or '_' (at most 64)" }).optional(),
    username: z.string().min(1).max(255, { error: "expected at most 255 characters" }).optional(),
    externalId: z
      .string()
      .max(255, { error: "expected at most 255 characters" })
      .regex(/^\S+$/, { error: "expected no whitespace" })
      .optional(),
    email: z.email({ error: "expected an email address" }).max(254).optional(),
  })
  .refine((r) => r.userId !== undefined || r.username !== undefined, { error: "user_id or username is required", path: ["userId"] });

const SNAKE: Readonly<Record<string, string>> = { userId: "user_id", username: "username", externalId: "external_id", email: "email" };

/** Empty strings mean "not given" (proto and CSV cannot express absence otherwise). */
export function validateIdentity(
  raw: { userId?: string; username?: string; externalId?: string; email?: string },
  field: string,
): IdentityRecord {
  const clean = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined && v !== ""));
  const r = identitySchema.safeParse(clean);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const key = String(issue.path[0] ?? "userId");
    throw new ValidationError(fieldPath(field, SNAKE[key] ?? key), issue.message);
  }
  return r.data;
}

/** "identities[2]" + "email" → "identities[2].email"; an empty prefix (CSV rows) gives just the column. */
export function fieldPath(prefix: string, name: string): string {
  return prefix === "" ? name : `${prefix}.${name}`;
}

export const userIdKey = (userId: string): string => `id.${userId}`;
export const usernameKey = (username: string): string => `name.${Buffer.from(username, "utf8").toString("base64url")}`;

/** The key a reference is looked up under, or undefined when no stored record can have it. */
export function refKey(ref: UserRef): string | undefined {
  if (ref.value === "") return undefined;
  if (ref.kind === "user_id") return USER_ID_RE.test(ref.value) ? userIdKey(ref.value) : undefined;
  return ref.value.length <= 255 ? usernameKey(ref.value) : undefined;
}

export interface StoredIdentity {
  readonly user_id?: string;
  readonly username?: string;
  readonly external_id?: string;
  readonly email?: string;
}

export function toStored(r: IdentityRecord): StoredIdentity {
  return { user_id: r.userId, username: r.username, external_id: r.externalId, email: r.email };
}

export function fromStored(s: StoredIdentity): IdentityRecord {
  return {
    ...(s.user_id ? { userId: s.user_id } : {}),
    ...(s.username ? { username: s.username } : {}),
    ...(s.external_id ? { externalId: s.external_id } : {}),
    ...(s.email ? { email: s.email } : {}),
  };
}

/**
 * The imported external id, else one derived from the record's user id (preferred: stable across username
 * changes) or the reference itself. Email only ever comes from the table.
 */
export function resolveWith(record: IdentityRecord | undefined, ref: UserRef, derive: ExternalIdDerivation): ResolvedUser | undefined {
  if (ref.value === "") return undefined;
  if (!record) return { externalId: derive(ref) };
  const basis: UserRef = record.userId
    ? { kind: "user_id", value: record.userId }
    : record.username
      ? { kind: "username", value: record.username }
      : ref;
  return { externalId: record.externalId ?? derive(basis), ...(record.email ? { email: record.email } : {}) };
}
