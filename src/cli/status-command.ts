/**
 * `status`: is the service serving, and per router: state, pending, in flight, what was delivered, failed (and
 * stored) or dropped by the answering instance, what the failed stream holds now, last success and last error,
 * from grpc.health.v1 Check and GetRouterStatus.
 *
 * Names: RouterStatus.failed counts every exhausted statement, the dropped ones too. The table and the JSON's
 * `thisInstance` name the three apart as the console and the metrics do: failed = exhausted and stored in the
 * failed stream (event_routing_delivery_results_total{result="failed"}, the console's "Failed, stored"), dropped
 * = exhausted and not stored ({result="dropped"}), in the failed stream = kept now by every instance
 * (event_routing_router_failed_stored, RouterStatus.failed_stored).
 */
import { parseArgs } from "node:util";
import { toJson } from "@bufbuild/protobuf";
import { GetRouterStatusResponseSchema, RouterState, type RouterStatus } from "../../gen/eventrouting/v1/router_admin_service_pb.js";
import { HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { type CommandHelp, REMOTE_ENV, REMOTE_FLAGS, renderHelp, wantsHelp } from "./help.js";
import { connectRemote, cut, EXIT, guarded, isoOrEmpty, REMOTE_OPTIONS, table, type Io } from "./remote.js";

export function stateName(s: RouterState): string {
  return (RouterState[s] ?? "UNSPECIFIED").toLowerCase();
}

/** The answering instance's counters since it started, keyed as the metric's `result` label. */
export function thisInstance(s: Pick<RouterStatus, "delivered" | "failed" | "dropped" | "discarded">): {
  delivered: number;
  failed: number;
  dropped: number;
  discarded: number;
} {
  const dropped = Number(s.dropped);
  return { delivered: Number(s.delivered), failed: Math.max(0, Number(s.failed) - dropped), dropped, discarded: Number(s.discarded) };
}

export const LEGEND =
  "DELIVERED, FAILED (failed and stored in the failed stream), DROPPED (failed, not stored: non-critical on a KEEP_CRITICAL\n" +
  "router): by the instance that answered, since it started. IN_FAILED_STREAM: kept now, whoever stored it.\n";

export const STATUS_COMMAND = {
  options: REMOTE_OPTIONS,
  help: {
    synopsis: ["status [ROUTER_ID]"],
    about:
      "Whether the service is SERVING, and per router: state, pending, in flight, delivered, failed (and stored), dropped,\n" +
      "in the failed stream, last success, last error.\n" +
      LEGEND +
      "--json: GetRouterStatus as protobuf JSON (its `failed` counts the dropped too; `failedStored` is what the failed\n" +
      "stream holds) with `thisInstance`: {delivered, failed, dropped, discarded}, as the metric's result label counts them.\n" +
      "Exit 0 when serving, 3 when not.",
    flags: REMOTE_FLAGS,
    env: REMOTE_ENV,
  },
} satisfies { options: Record<string, unknown>; help: CommandHelp };

export async function runStatus(args: string[], io: Io): Promise<number> {
  if (wantsHelp(args)) {
    io.out.write(renderHelp(STATUS_COMMAND.help));
    return EXIT.ok;
  }
  const { values, positionals } = parseArgs({ args, options: STATUS_COMMAND.options, allowPositionals: true, strict: true });
  return guarded(io, values.debug, async () => {
    const remote = connectRemote(values, io.env);
    const health = await remote.health.check({ service: "" }, remote.callOptions);
    const serving = health.status === HealthCheckResponse_ServingStatus.SERVING;
    const res = await remote.routers.getRouterStatus({ id: positionals[0] ?? "" }, remote.callOptions);
    if (remote.json) {
      // Zeros too (alwaysEmitImplicit): a script reading `dropped` must get 0, not undefined.
      const json = toJson(GetRouterStatusResponseSchema, res, { alwaysEmitImplicit: true }) as { statuses: object[] };
      const statuses = json.statuses.map((s, i) => ({ ...s, thisInstance: thisInstance(res.statuses[i]!) }));
      io.out.write(`${JSON.stringify({ serving, ...json, statuses })}\n`);
    } else {
      io.out.write(`service: ${serving ? "SERVING" : HealthCheckResponse_ServingStatus[health.status]}\n\n`);
      io.out.write(
        table(
          ["ROUTER", "STATE", "PENDING", "IN_FLIGHT", "DELIVERED", "FAILED", "DROPPED", "IN_FAILED_STREAM", "LAST_SUCCESS", "LAST_ERROR"],
          res.statuses.map((s) => [
            s.routerId,
            stateName(s.state),
            String(s.pending),
            String(s.inFlight),
            String(thisInstance(s).delivered),
            String(thisInstance(s).failed),
            String(thisInstance(s).dropped),
            String(s.failedStored),
            isoOrEmpty(s.lastSuccessTime),
            s.lastError ? `${isoOrEmpty(s.lastErrorTime)} ${cut(s.stateReason || s.lastError)}` : "",
          ]),
        ),
      );
      if (res.statuses.length > 0) io.out.write(`\n${LEGEND}`);
    }
    return serving ? EXIT.ok : EXIT.unavailable;
  });
}
