/**
 * Who a stored statement is about, read from its body: for delivery messages stored before the Er-Learner header
 * existed (routing/delivery-message.ts), and for a hand-written or foreign message without it. Only the actor
 * counts, as it is the one place a statement names its learner:
 *   xAPI     actor.account.name (the external id), actor.mbox ("mailto:" + email), actor.mbox_sha1sum;
 *   Caliper  actor.id, "<LMS>/user/<external id>" (transform/caliper/).
 * Pure; a body that is not a JSON object with an actor names nobody.
 */
import type { LearnerIdKind } from "../directory/learner-hash.js";

export interface ActorIdentifier {
  readonly kind: LearnerIdKind;
  readonly value: string;
}

const CALIPER_USER = "/user/";

export function statementActor(body: Uint8Array | string): ActorIdentifier[] {
  let statement: unknown;
  try {
    statement = JSON.parse(typeof body === "string" ? body : Buffer.from(body.buffer, body.byteOffset, body.length).toString("utf8"));
  } catch {
    return [];
  }
  const actor = isObject(statement) ? statement["actor"] : undefined;
  if (!isObject(actor)) return [];
  const out: ActorIdentifier[] = [];
  const account = actor["account"];
  if (isObject(account) && typeof account["name"] === "string") out.push({ kind: "external_id", value: account["name"] });
  const mbox = actor["mbox"];
  if (typeof mbox === "string" && mbox.startsWith("mailto:")) out.push({ kind: "email", value: mbox.slice("mailto:".length) });
  if (typeof actor["mbox_sha1sum"] === "string") out.push({ kind: "mbox_sha1sum", value: actor["mbox_sha1sum"] });
  const id = actor["id"];
  if (typeof id === "string" && id.includes(CALIPER_USER)) {
    out.push({ kind: "external_id", value: id.slice(id.lastIndexOf(CALIPER_USER) + CALIPER_USER.length) });
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
