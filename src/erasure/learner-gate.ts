/**
 * Forgotten learners as the rest of the service asks about them: the emit path (is this event about a forgotten
 * learner? which hash goes in its statements' Er-Learner header?) and the delivery workers (is this stored message
 * a forgotten learner's?). Each answer is a few look-ups in the tombstone set, and none at all while nobody is
 * forgotten. Identifiers are hashed through the remembering hasher, so a learner seen before costs a Map look-up.
 */
import type { MsgHdrs } from "@nats-io/transport-node";
import type { LearnerHasher } from "../directory/learner-hash.js";
import type { ForgottenMessages } from "../delivery/delivery-runtime.js";
import type { LearnerGate } from "../ingest/emit-pipeline.js";
import { HDR_LEARNER } from "../routing/delivery-message.js";
import type { EdxEvent } from "../transform/edx-event.js";
import { learnerIdentifiers, type UserRef } from "../transform/user-ref.js";
import { statementActor } from "./statement-actor.js";
import type { Tombstones } from "./tombstones.js";

/**
 * The hashes a stored message is known by: its Er-Learner header, else (stored before the header existed) the
 * identifiers its actor shows. Shared by the delivery workers and the forget's stream scan.
 */
export function messageLearnerHashes(headers: MsgHdrs | undefined, body: Uint8Array, hasher: LearnerHasher): string[] {
  const header = headers?.get(HDR_LEARNER);
  if (header) return [header];
  return statementActor(body).map((a) => hasher.hash(a.kind, a.value));
}

export function learnerGate(tombstones: Tombstones, hasher: LearnerHasher): LearnerGate & ForgottenMessages {
  return {
    forgotten(event: EdxEvent): boolean {
      if (tombstones.size === 0) return false;
      for (const ref of learnerIdentifiers(event)) if (tombstones.has(hasher.hash(ref.kind, ref.value))) return true;
      return false;
    },
    learnerHash(ref: UserRef): string {
      return hasher.hash(ref.kind, ref.value);
    },
    isForgotten(headers: MsgHdrs | undefined, body: Uint8Array): boolean {
      if (tombstones.size === 0) return false;
      for (const h of messageLearnerHashes(headers, body, hasher)) if (tombstones.has(h)) return true;
      return false;
    },
  };
}
