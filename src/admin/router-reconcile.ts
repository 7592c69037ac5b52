/**
 * ReconcileRouter: the request checked (an xAPI router, a window that makes sense, a bounded concurrency), the run
 * (delivery/reconcile/reconcile.ts) streamed back as progress messages and one final report, and the report
 * logged and handed to the metrics. Caliper routers are refused with the reason: Caliper defines no way to ask an
 * endpoint what it holds.
 */
import { durationFromMs, timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { ReconcileRouterRequest, ReconcileRouterResponseSchema } from "../../gen/eventrouting/v1/router_admin_service_pb.js";
import { reconcile, type ReconcileDeps, type ReconcileReport } from "../delivery/reconcile/reconcile.js";
import { FailedPreconditionError, ValidationError } from "../errors.js";
import type { DeliveryDefaults, RouterConfig } from "../routing/router-model.js";
import type { RouterStore } from "../routing/router-store.js";
import { validateRouterId } from "../routing/router-validation.js";

export const DEFAULT_RECONCILE_CONCURRENCY = 16;
export const MAX_RECONCILE_CONCURRENCY = 64;

export interface RouterReconcileDeps {
  readonly store: Pick<RouterStore, "fetch">;
  readonly reconcile: ReconcileDeps;
  readonly defaults: DeliveryDefaults;
  readonly logger?: Logger;
  /** Each finished run (the metrics' last-reconcile gauges). */
  readonly onReport?: (report: ReconcileReport, at: Date) => void;
}

type Response = MessageInitShape<typeof ReconcileRouterResponseSchema>;

interface Window {
  readonly since: Date;
  readonly until: Date;
  readonly concurrency: number;
}

/** The window and concurrency asked for, or a ValidationError naming the field. */
export function reconcileWindow(req: Pick<ReconcileRouterRequest, "since" | "until" | "concurrency">, now: Date): Window {
  if (!req.since) throw new ValidationError("since", "is required: the start of the window to check (a timestamp)");
  const since = timestampDate(req.since);
  const until = req.until ? timestampDate(req.until) : now;
  if (since.getTime() > now.getTime()) throw new ValidationError("since", `is in the future (${since.toISOString()})`);
  if (until.getTime() <= since.getTime()) throw new ValidationError("until", `must be after since (${since.toISOString()})`);
  if (req.concurrency > MAX_RECONCILE_CONCURRENCY) throw new ValidationError("concurrency", `at most ${MAX_RECONCILE_CONCURRENCY}`);
  return { since, until, concurrency: req.concurrency || DEFAULT_RECONCILE_CONCURRENCY };
}

function xapiOnly(router: RouterConfig): void {
  if (router.backend === "caliper")
    throw new FailedPreconditionError(
      `router ${router.id} is a Caliper router: Caliper endpoints have no query API to ask what they hold, so it cannot be reconciled (xAPI routers only)`,
    );
}

export async function* reconcileRouter(
  deps: RouterReconcileDeps,
  req: ReconcileRouterRequest,
  ctx: HandlerContext,
): AsyncGenerator<Response> {
  const window = reconcileWindow(req, new Date());
  const router = await deps.store.fetch(validateRouterId(req.id));
  xapiOnly(router);
  const run = reconcile(deps.reconcile, {
    router,
    ...window,
    resend: req.resend,
    timeoutMs: router.delivery.httpTimeoutMs ?? deps.defaults.httpTimeoutMs,
    signal: ctx.signal,
  });
  for await (const u of run) {
    if (u.kind === "progress") {
      const { checked, total, missing, unknown } = u.progress;
      yield {
        update: {
          case: "progress",
          value: { checked: BigInt(checked), total: BigInt(total), missing: BigInt(missing), unknown: BigInt(unknown) },
        },
      };
      continue;
    }
    const r = u.report;
    deps.onReport?.(r, new Date());
    deps.logger?.info(
      {
        routerId: r.routerId,
        since: r.since.toISOString(),
        until: r.until.toISOString(),
        checked: r.checked,
        found: r.found,
        missing: r.missing,
        pending: r.pending,
        unknown: r.unknown,
        resent: r.resent,
        clipped: r.clipReason !== undefined,
        ms: Math.round(r.elapsedMs),
      },
      r.missing > 0 ? "router reconciled: the LRS lacks statements" : "router reconciled",
    );
    yield { update: { case: "report", value: reportToProto(r) } };
  }
}

function ts(d: Date): Timestamp {
  return timestampFromDate(d);
}

function reportToProto(r: ReconcileReport) {
  return {
    routerId: r.routerId,
    since: ts(r.since),
    until: ts(r.until),
    windowClipped: r.clipReason !== undefined,
    clipReason: r.clipReason ?? "",
    checked: BigInt(r.checked),
    found: BigInt(r.found),
    missing: BigInt(r.missing),
    pending: BigInt(r.pending),
    unknown: BigInt(r.unknown),
    missingIds: r.missingIds,
    missingIdsTruncated: r.missingIdsTruncated,
    unknownIds: r.unknownIds,
    unknownReasons: r.unknownReasons,
    resent: BigInt(r.resent),
    elapsed: durationFromMs(Math.round(r.elapsedMs)),
  };
}
