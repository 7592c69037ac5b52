/**
 * LearnerAdminService: forget a learner (ForgetLearner), follow a forget (GetForgetProgress), and list the audit
 * records (ListForgottenLearners). Admin-only (auth.ts: unlisted RPCs need admin); the admin token's name is taken
 * from the call (CALLER_TOKEN_NAME) for the audit record. The erasure itself is src/erasure/.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  ForgetRecordSchema,
  ForgetRouterCountSchema,
  ForgetState,
  type ForgetRecord as ForgetRecordMessage,
  type LearnerAdminService,
} from "../../gen/eventrouting/v1/learner_admin_service_pb.js";
import type { Erasure } from "../erasure/erasure.js";
import { OUT_OF_REACH, type ForgetRecord } from "../erasure/forget-record.js";
import { ValidationError } from "../errors.js";
import { CALLER_TOKEN_NAME } from "../server/auth.js";

/** How long ForgetLearner waits for the scan when the call has no deadline; GetForgetProgress follows a longer one. */
export const DEFAULT_FORGET_WAIT_MS = 25_000;
/** Kept from the caller's deadline so the answer (RUNNING, with the id) still reaches them. */
const DEADLINE_MARGIN_MS = 1_000;
const LIST_DEFAULT = 100;
const LIST_MAX = 1_000;

export function forgetRecordMessage(r: ForgetRecord): ForgetRecordMessage {
  return create(ForgetRecordSchema, {
    forgetId: r.id,
    state: r.phase === "done" ? ForgetState.DONE : ForgetState.RUNNING,
    requestedTime: timestampFromDate(new Date(r.requestedAt)),
    ...(r.completedAt ? { completedTime: timestampFromDate(new Date(r.completedAt)) } : {}),
    requestedBy: r.requestedBy,
    identityRecordsDeleted: r.identityRecordsDeleted,
    routers: Object.entries(r.routers)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([routerId, c]) => create(ForgetRouterCountSchema, { routerId, delivery: BigInt(c.delivery), failed: BigInt(c.failed) })),
    scanned: BigInt(r.scanned),
    toScan: BigInt(Math.max(r.toScan, r.scanned)),
    outOfReach: [...OUT_OF_REACH],
  });
}

function waitMsOf(ctx: HandlerContext, noWait: boolean): number {
  if (noWait) return 0;
  const left = ctx.timeoutMs();
  return left === undefined ? DEFAULT_FORGET_WAIT_MS : Math.max(0, left - DEADLINE_MARGIN_MS);
}

export function createLearnerAdminService(erasure: Erasure): ServiceImpl<typeof LearnerAdminService> {
  return {
    async forgetLearner(req, ctx) {
      const requestedBy = ctx.values.get(CALLER_TOKEN_NAME) ?? "admin";
      const forget = await erasure.forget(
        { userId: req.userId, username: req.username, externalId: req.externalId, email: req.email },
        requestedBy,
        waitMsOf(ctx, req.noWait),
      );
      return { forget: forgetRecordMessage(forget) };
    },

    async getForgetProgress(req) {
      if (req.forgetId === "") throw new ValidationError("forget_id", "required");
      return { forget: forgetRecordMessage(await erasure.progress(req.forgetId)) };
    },

    async listForgottenLearners(req) {
      if (req.limit > LIST_MAX) throw new ValidationError("limit", `at most ${LIST_MAX}`);
      const records = await erasure.list(req.limit === 0 ? LIST_DEFAULT : req.limit);
      return { forgets: records.map(forgetRecordMessage) };
    },
  };
}
