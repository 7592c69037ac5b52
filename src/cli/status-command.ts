/**
 * `status`: is the service serving, and per router: state, pending, in flight, failed (kept in the failed stream),
 * last success and last error, from grpc.health.v1 Check and GetRouterStatus.
 */
import { parseArgs } from "node:util";
import { toJson } from "@bufbuild/protobuf";
import { GetRouterStatusResponseSchema, RouterState } from "../../gen/eventrouting/v1/router_admin_service_pb.js";
import { HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { type CommandHelp, REMOTE_ENV, REMOTE_FLAGS, renderHelp, wantsHelp } from "./help.js";
import { connectRemote, cut, EXIT, guarded, isoOrEmpty, REMOTE_OPTIONS, table, type Io } from "./remote.js";

export function stateName(s: RouterState): string {
  return (RouterState[s] ?? "UNSPECIFIED").toLowerCase();
}

export const STATUS_COMMAND = {
  options: REMOTE_OPTIONS,
  help: {
    synopsis: ["status [ROUTER_ID]"],
    about:
      "Whether the service is SERVING, and per router: state, pending, in flight, failed (stored), last success, last error.\nExit 0 when serving, 3 when not.",
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
      io.out.write(`${JSON.stringify({ serving, ...(toJson(GetRouterStatusResponseSchema, res) as object) })}\n`);
    } else {
      io.out.write(`service: ${serving ? "SERVING" : HealthCheckResponse_ServingStatus[health.status]}\n\n`);
      io.out.write(
        table(
          ["ROUTER", "STATE", "PENDING", "IN_FLIGHT", "FAILED", "LAST_SUCCESS", "LAST_ERROR"],
          res.statuses.map((s) => [
            s.routerId,
            stateName(s.state),
            String(s.pending),
            String(s.inFlight),
            String(s.failedStored),
            isoOrEmpty(s.lastSuccessTime),
            s.lastError ? `${isoOrEmpty(s.lastErrorTime)} ${cut(s.stateReason || s.lastError)}` : "",
          ]),
        ),
      );
    }
    return serving ? EXIT.ok : EXIT.unavailable;
  });
}
