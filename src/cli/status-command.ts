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
 *
 * Without a router id it also shows the inputs (GetIngestStatus): what each read and stored, the statements it
 * found stored already (duplicates, not stored again) and its backlog, "unknown" when the backlog could not be read
 * (backlog_unknown: a 0 then says nothing, so it is never shown as 0).
 */
import { parseArgs } from "node:util";
import { toJson } from "@bufbuild/protobuf";
import { GetRouterStatusResponseSchema, RouterState, type RouterStatus } from "../../gen/eventrouting/v1/router_admin_service_pb.js";
import {
  GetIngestStatusResponseSchema,
  IngestInputKind,
  IngestInputState,
  type IngestInputStatus,
} from "../../gen/eventrouting/v1/ingest_admin_service_pb.js";
import { HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { type CommandHelp, REMOTE_ENV, REMOTE_FLAGS, renderHelp, wantsHelp } from "./help.js";
import { EXIT } from "./exit-codes.js";
import { connectRemote, cut, guarded, isoOrEmpty, REMOTE_OPTIONS, table, type Io } from "./remote.js";

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

export const INPUTS_LEGEND =
  "READ, STORED (statements), DUPLICATE (statements already stored under their id, not stored again), REJECTED: by the\n" +
  "instance that answered, since it started. PENDING, LAG: the backlog every instance shares; unknown when unreadable.\n";

const INPUT_NAMES: Record<IngestInputKind, string> = {
  [IngestInputKind.UNSPECIFIED]: "unspecified",
  [IngestInputKind.EVENT_BUS_REDIS]: "event-bus-redis",
  [IngestInputKind.NATS]: "nats",
};

function inputRow(i: IngestInputStatus): string[] {
  const backlog = (n: bigint | undefined) => (i.backlogUnknown ? "unknown" : n === undefined ? "" : String(n));
  return [
    INPUT_NAMES[i.kind] ?? "unspecified",
    (IngestInputState[i.state] ?? "UNSPECIFIED").toLowerCase(),
    String(i.entriesRead),
    String(i.statementsStored),
    String(i.statementsDuplicate),
    String(i.rejected),
    backlog(i.pending),
    backlog(i.lag),
    i.lastError ? `${isoOrEmpty(i.lastErrorTime)} ${cut(i.lastError)}` : "",
  ];
}

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
      "Without ROUTER_ID also the inputs that are not disabled (GetIngestStatus; --json: `inputs`, every input):\n" +
      INPUTS_LEGEND +
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
    const health = await remote.health.check({ service: "" });
    const serving = health.status === HealthCheckResponse_ServingStatus.SERVING;
    const res = await remote.routers.getRouterStatus({ id: positionals[0] ?? "" });
    const ingest = positionals[0] === undefined ? await remote.ingest.getIngestStatus({}) : undefined;
    if (remote.json) {
      // Zeros too (alwaysEmitImplicit): a script reading `dropped` must get 0, not undefined.
      const json = toJson(GetRouterStatusResponseSchema, res, { alwaysEmitImplicit: true }) as { statuses: object[] };
      const statuses = json.statuses.map((s, i) => ({ ...s, thisInstance: thisInstance(res.statuses[i]!) }));
      const inputs = ingest
        ? { inputs: (toJson(GetIngestStatusResponseSchema, ingest, { alwaysEmitImplicit: true }) as { inputs: object[] }).inputs }
        : {};
      io.out.write(`${JSON.stringify({ serving, ...json, statuses, ...inputs })}\n`);
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
      const active = ingest?.inputs.filter((i) => i.state !== IngestInputState.DISABLED) ?? [];
      if (active.length > 0) {
        const headers = ["INPUT", "STATE", "READ", "STORED", "DUPLICATE", "REJECTED", "PENDING", "LAG", "LAST_ERROR"];
        io.out.write(`\n${table(headers, active.map(inputRow))}\n${INPUTS_LEGEND}`);
      }
    }
    return serving ? EXIT.ok : EXIT.unavailable;
  });
}
