/**
 * Where a batch of event lines goes. Three processors with one shape (lines in, one outcome per line out):
 * - emit: EmitBatch on the running service (stores; `--router` restricts the routers, admin token needed);
 * - dry: the service's TransformBatch (stores nothing; the statements for --output);
 * - offline: the emit pipeline in-process, like `transform`, with no service at all.
 * A processor throws only when the whole batch failed (the service unreachable, a refused token); the sender
 * decides whether to retry. Per-event problems are outcomes.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { Backend, EventInputSchema } from "../../../gen/eventrouting/v1/event_pb.js";
import { EventRoutingService, type TransformResponse } from "../../../gen/eventrouting/v1/event_routing_service_pb.js";
import { transformEvent, type PipelineDeps } from "../../ingest/emit-pipeline.js";
import { eventResult } from "../../ingest/event-results.js";
import { EventParseError, parseEventJson, type JsonObject } from "../../transform/edx-event.js";
import { serviceTransport, type ServiceTarget } from "../service-transport.js";
import { fromEventResult, invalidLine, type LineOutcome, type OutputStatement } from "./line-outcome.js";

export interface LineProcessor {
  /** One outcome per line, in order; throws only when the whole batch failed. */
  submit(lines: readonly string[]): Promise<LineOutcome[]>;
}

/**
 * The operator commands' transport (token, URL check, deadline per call: a batch that takes longer is retried,
 * its ids de-duplicate). Throws UsageError for a URL that does not parse.
 */
export function serviceClient(target: ServiceTarget): Client<typeof EventRoutingService> {
  return createClient(EventRoutingService, serviceTransport(target));
}

const jsonInput = (text: string) => create(EventInputSchema, { event: { case: "json", value: text } });
const BACKEND_NAME: Partial<Record<Backend, "xapi" | "caliper">> = { [Backend.XAPI]: "xapi", [Backend.CALIPER]: "caliper" };

export function emitProcessor(client: Client<typeof EventRoutingService>, routerIds: readonly string[]): LineProcessor {
  return {
    async submit(lines) {
      const res = await client.emitBatch({ events: lines.map(jsonInput), routerIds: [...routerIds] });
      return res.results.map((r) => fromEventResult(r, true));
    },
  };
}

/**
 * TransformBatch (one call per batch, as fast as EmitBatch); a service older than that RPC answers Unimplemented
 * and gets Transform per event, several at once. `routerIds` (if any) narrows the routers reported, as
 * EmitBatch's restriction would.
 */
export function dryProcessor(
  client: Client<typeof EventRoutingService>,
  routerIds: readonly string[],
  /**
   * --output wants the statements (asked as JSON text: Structs in bulk cost more than the transform); a dry run
   * that only counts asks for results alone.
   */
  statements: boolean,
): LineProcessor {
  const only = routerIds.length > 0 ? new Set(routerIds) : undefined;
  const outcome = (res: TransformResponse): LineOutcome => {
    const output: OutputStatement[] = res.outputs.flatMap((o) =>
      [...o.statements, ...o.statementsJson.map((text) => JSON.parse(text) as JsonObject)].map((s) => ({
        backend: BACKEND_NAME[o.backend] ?? "xapi",
        routerIds: o.routerIds.filter((id) => only === undefined || only.has(id)),
        statement: s as JsonObject,
      })),
    );
    return { ...fromEventResult(res.result!, false), output };
  };
  const perEvent = (lines: readonly string[]) =>
    Promise.all(
      lines.map(async (text) => {
        try {
          return outcome(await client.transform({ event: jsonInput(text) }));
        } catch (e) {
          // Transform answers InvalidArgument where a batch reports INVALID: the same outcome for the same line.
          if (e instanceof ConnectError && e.code === Code.InvalidArgument) return invalidLine(e.rawMessage);
          throw e;
        }
      }),
    );
  let batched = true;
  return {
    async submit(lines) {
      if (!batched) return perEvent(lines);
      try {
        const res = await client.transformBatch({ events: lines.map(jsonInput), omitStatements: !statements, statementsAsJson: true });
        return res.results.map(outcome);
      } catch (e) {
        if (!(e instanceof ConnectError && e.code === Code.Unimplemented)) throw e;
        batched = false;
        return perEvent(lines);
      }
    },
  };
}

export function offlineProcessor(deps: PipelineDeps): LineProcessor {
  return {
    async submit(lines) {
      return Promise.all(
        lines.map(async (text, index) => {
          let event;
          try {
            event = parseEventJson(text);
          } catch (e) {
            if (!(e instanceof EventParseError)) throw e;
            return invalidLine(`events[${index}].json: ${e.field === "json" ? e.message : `${e.field}: ${e.message}`}`);
          }
          const outputs = await transformEvent(event, deps);
          const output: OutputStatement[] = outputs.flatMap((o) =>
            o.result.outcome === "transformed"
              ? o.result.statements.map((statement) => ({ backend: o.backend, routerIds: [], statement }))
              : [],
          );
          return { ...fromEventResult(eventResult(index, event.name, outputs), false), output };
        }),
      );
    },
  };
}
