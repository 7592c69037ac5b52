/**
 * EventRoutingService: Emit, EmitBatch, Transform and TransformBatch here; the failed-event RPCs are delivery's
 * and are plugged in as handlers. Domain errors are thrown and mapped to Connect codes by the server's error interceptor.
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  EmitBatchResponseSchema,
  EmitResponseSchema,
  type EventRoutingService,
  TransformBatchResponseSchema,
  TransformedOutputSchema,
  type TransformResponse,
  TransformResponseSchema,
} from "../../gen/eventrouting/v1/event_routing_service_pb.js";
import { Backend, type EventInput, type EventResult } from "../../gen/eventrouting/v1/event_pb.js";
import type { FailedRpc } from "../delivery/failed/failed-rpc.js";
import { ValidationError } from "../errors.js";
import type { StatementPublisher } from "../routing/statement-publisher.js";
import { CALLER_ROLE } from "../server/auth.js";
import type { EdxEvent } from "../transform/edx-event.js";
import type { BackendName } from "../transform/registry.js";
import { emitEvents, transformEvent, transformEvents, type BackendOutput, type PipelineDeps } from "./emit-pipeline.js";
import { eventFromInput } from "./event-input.js";
import { BACKEND_TO_PROTO, eventResult, invalidResult } from "./event-results.js";
import { type BatchEvent, leanAnswer } from "./lean-results.js";
import { restrictRouters } from "./router-restriction.js";

export interface EventRoutingServiceDeps {
  readonly pipeline: PipelineDeps;
  readonly publisher: StatementPublisher;
  readonly emitBatchMax: number;
  /** ListFailed / RetryFailed / PurgeFailed, from delivery. */
  readonly failed: FailedRpc;
}

const PROTO_TO_BACKEND = new Map<Backend, BackendName>([
  [Backend.XAPI, "xapi"],
  [Backend.CALIPER, "caliper"],
]);

function backendsOnly(backends: readonly Backend[]): BackendName[] {
  return backends.map((b, i) => {
    const name = PROTO_TO_BACKEND.get(b);
    if (!name) throw new ValidationError(`backends[${i}]`, "expected BACKEND_XAPI or BACKEND_CALIPER");
    return name;
  });
}

/** How a TransformResponse carries the statements: as Structs (Transform), JSON text, or not at all. */
type StatementForm = "struct" | "json" | "none";

function transformResponse(
  index: number,
  event: EdxEvent,
  outputs: readonly BackendOutput[],
  form: StatementForm = "struct",
): TransformResponse {
  return create(TransformResponseSchema, {
    result: eventResult(index, event.name, outputs),
    outputs: outputs.map((o) => {
      const statements = o.result.outcome === "transformed" ? o.result.statements : [];
      return create(TransformedOutputSchema, {
        backend: BACKEND_TO_PROTO[o.backend],
        statements: form === "struct" ? statements : [],
        statementsJson: form === "json" ? statements.map((st) => JSON.stringify(st)) : [],
        routerIds: o.routers.map((r) => r.id),
      });
    }),
  });
}

/** A batch's inputs, parsed one by one: `events[i]` came from `inputs[indexes[i]]`. */
interface ParsedBatch {
  readonly events: EdxEvent[];
  readonly indexes: number[];
  /** The inputs that did not parse, with the reason naming `events[index]`. */
  readonly invalid: Array<{ readonly index: number; readonly reason: string }>;
}

/** One bad event never fails the others (EmitBatch, TransformBatch): it is answered INVALID at its index. */
function parseBatch(inputs: readonly EventInput[]): ParsedBatch {
  const parsed: ParsedBatch = { events: [], indexes: [], invalid: [] };
  for (let index = 0; index < inputs.length; index++) {
    try {
      parsed.events.push(eventFromInput(inputs[index], `events[${index}]`));
      parsed.indexes.push(index);
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      parsed.invalid.push({ index, reason: e.message });
    }
  }
  return parsed;
}

/** A parsed and emitted batch as leanAnswer reads it: every event in request order, emitted or invalid. */
function* batchEvents(count: number, batch: ParsedBatch, outputs: readonly (readonly BackendOutput[])[]): Generator<BatchEvent> {
  const { events, indexes, invalid } = batch;
  let e = 0;
  let bad = 0;
  for (let index = 0; index < count; index++) {
    if (indexes[e] === index) {
      yield { index, name: events[e]!.name, outputs: outputs[e]! };
      e++;
    } else {
      const reason = invalid[bad++]!.reason;
      yield { index, invalid: invalidResult(index, reason) };
    }
  }
}

export function createEventRoutingService(deps: EventRoutingServiceDeps): ServiceImpl<typeof EventRoutingService> {
  const failed = deps.failed;
  return {
    async emit(req) {
      const event = eventFromInput(req.event, "event");
      const [outputs] = await emitEvents([event], deps.pipeline, deps.publisher);
      return create(EmitResponseSchema, { result: eventResult(0, event.name, outputs!) });
    },

    async emitBatch(req, ctx) {
      if (req.events.length > deps.emitBatchMax) {
        throw new ValidationError("events", `at most ${deps.emitBatchMax} events per call, got ${req.events.length}`);
      }
      // router_ids (admin only) narrows the routers matched; see router-restriction.ts.
      const routers = restrictRouters(deps.pipeline.routers, req.routerIds, ctx.values.get(CALLER_ROLE));
      const pipeline = routers === deps.pipeline.routers ? deps.pipeline : { ...deps.pipeline, routers };
      const { events, indexes, invalid } = parseBatch(req.events);
      const outputs = await emitEvents(events, pipeline, deps.publisher);
      if (req.onlyUnstoredResults) {
        return create(EmitBatchResponseSchema, leanAnswer(batchEvents(req.events.length, { events, indexes, invalid }, outputs)));
      }
      const results: EventResult[] = new Array(req.events.length);
      for (const { index, reason } of invalid) results[index] = invalidResult(index, reason);
      for (let i = 0; i < events.length; i++) results[indexes[i]!] = eventResult(indexes[i]!, events[i]!.name, outputs[i]!);
      return create(EmitBatchResponseSchema, { results });
    },

    async transform(req) {
      const event = eventFromInput(req.event, "event");
      const outputs = await transformEvent(event, deps.pipeline, backendsOnly(req.backends));
      return transformResponse(0, event, outputs);
    },

    // Transform per event in one call, as EmitBatch is to Emit: a dry-run replay at the speed of a real one.
    async transformBatch(req) {
      if (req.events.length > deps.emitBatchMax) {
        throw new ValidationError("events", `at most ${deps.emitBatchMax} events per call, got ${req.events.length}`);
      }
      const only = backendsOnly(req.backends);
      const form: StatementForm = req.omitStatements ? "none" : req.statementsAsJson ? "json" : "struct";
      const { events, indexes, invalid } = parseBatch(req.events);
      const results: TransformResponse[] = new Array(req.events.length);
      for (const { index, reason } of invalid) results[index] = create(TransformResponseSchema, { result: invalidResult(index, reason) });
      const outputs = await transformEvents(events, deps.pipeline, only);
      for (let i = 0; i < events.length; i++) results[indexes[i]!] = transformResponse(indexes[i]!, events[i]!, outputs[i]!, form);
      return create(TransformBatchResponseSchema, { results });
    },

    // The context carries the caller's deadline and cancellation down to the walk over the failed stream.
    listFailed: (req, ctx) => failed.listFailed(req, ctx),
    retryFailed: (req, ctx) => failed.retryFailed(req, ctx),
    purgeFailed: (req, ctx) => failed.purgeFailed(req, ctx),
  };
}
