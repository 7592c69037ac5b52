/**
 * The emit path for a set of events: resolve look-ups, transform per backend (pure), match routers, then store
 * every resulting message in one pipelined publish. Used by Emit, EmitBatch, Transform and TransformBatch (which
 * stop before publishing).
 *
 * Before publishing, a backend whose messages include one larger than the server accepts is skipped for that
 * event (nothing of it is stored, the reason names the size), so one oversized statement neither fails the call
 * nor comes back on every retry. After publishing, each backend output carries the statement ids JetStream
 * already held, so results can say DUPLICATE instead of claiming a store that did not happen.
 *
 * A forgotten learner's event (src/erasure/) stops here, before its look-ups, for every caller of this path:
 * Emit, EmitBatch, Transform, the event bus, NATS ingest and replay (which calls Emit).
 */
import type { Logger } from "pino";
import type { NatsNames } from "../nats/names.js";
import type { RouterConfig } from "../routing/router-model.js";
import type { RouterSource } from "../routing/router-source.js";
import type { StatementPublisher } from "../routing/statement-publisher.js";
import { deliveryMessages, matchingRouters, type DeliveryMessage } from "../routing/statement-routing.js";
import type { EdxEvent } from "../transform/edx-event.js";
import { TransformSkip } from "../transform/transform-skip.js";
import type { BackendName } from "../transform/registry.js";
import { transformForBackend, type BackendSettings, type BackendTransformResult } from "../transform/transform-event.js";
import type { ResolvedLookups, TransformSettings } from "../transform/transform-env.js";
import { userRefOf, type UserRef } from "../transform/user-ref.js";
import { resolveLookups, type Directories } from "./lookups.js";

/** The reason every backend result of a forgotten learner's event gives. */
export const LEARNER_FORGOTTEN = "learner forgotten";

/**
 * Forgotten learners as the emit path sees them (implemented by src/erasure/learner-gate.ts). Both are called per
 * event, so they must cost no more than a set look-up (and nothing while nobody is forgotten).
 */
export interface LearnerGate {
  /** Whether the event names a forgotten learner anywhere. */
  forgotten(event: EdxEvent): boolean;
  /** The keyed hash of the learner for the Er-Learner header of the event's statements. */
  learnerHash(ref: UserRef): string;
}

export interface PipelineDeps {
  readonly settings: TransformSettings;
  readonly backends: readonly BackendSettings[];
  readonly directories: Directories;
  readonly routers: RouterSource;
  readonly names: NatsNames;
  /** Where a transformer that threw (a bug, isolated as a SKIPPED backend result) is logged at error. */
  readonly logger?: Logger;
  /** Forgotten learners; absent in tools that have no tombstones (the offline CLI). */
  readonly learners?: LearnerGate;
  /** Told what every emitEvents call stored (src/metrics/emit-metrics.ts); absent when metrics are off. */
  readonly observe?: (events: readonly EdxEvent[], outputs: readonly (readonly BackendOutput[])[]) => void;
}

export interface BackendOutput {
  readonly backend: BackendName;
  readonly result: BackendTransformResult;
  /** Routers the statements go to (empty unless transformed). */
  readonly routers: readonly RouterConfig[];
  /** The Er-Learner header of the statements (the learner's keyed hash), when the event names a learner. */
  readonly learner?: string;
  /**
   * After publishing: ids JetStream already held for at least one router, whether every message was one, and how
   * many messages (statement x router) per router were, so counts of what was stored leave them out.
   */
  readonly duplicates?: {
    readonly statementIds: readonly string[];
    readonly all: boolean;
    readonly perRouter: ReadonlyMap<string, number>;
  };
}

/**
 * Transforms one event. Emit (`only` undefined): every backend, a disabled one answering FILTERED, so results list
 * every backend as the README promises. Transform (`only` given): the named backends, transformed even when
 * disabled so a mapping can be previewed before it is switched on, or every enabled one when none is named.
 */
export async function transformEvent(event: EdxEvent, deps: PipelineDeps, only?: readonly BackendName[]): Promise<BackendOutput[]> {
  return await transformWith(event, deps, selectBackends(deps, only), deps.routers.list());
}

/**
 * Transform for many events (TransformBatch): what transformEvent gives each, against one router snapshot and
 * without a promise per event when the look-ups were cached, as emitEvents does before it publishes.
 */
export async function transformEvents(
  events: readonly EdxEvent[],
  deps: PipelineDeps,
  only?: readonly BackendName[],
): Promise<BackendOutput[][]> {
  const selected = selectBackends(deps, only);
  const routers = deps.routers.list();
  const maybe = events.map((e) => transformWith(e, deps, selected, routers));
  return maybe.some((o) => o instanceof Promise) ? await Promise.all(maybe) : (maybe as BackendOutput[][]);
}

function selectBackends(deps: PipelineDeps, only: readonly BackendName[] | undefined): readonly BackendSettings[] {
  if (only === undefined) return deps.backends;
  return only.length > 0
    ? deps.backends.filter((b) => only.includes(b.backend)).map((b) => ({ ...b, enabled: true }))
    : deps.backends.filter((b) => b.enabled);
}

/**
 * One event through the given backends, against one snapshot of the routers (an emit call reads it once).
 * Synchronous when the look-ups were cached (resolveLookups), so a batch of known learners costs no promise per event.
 */
function transformWith(
  event: EdxEvent,
  deps: PipelineDeps,
  selected: readonly BackendSettings[],
  routers: readonly RouterConfig[],
): BackendOutput[] | Promise<BackendOutput[]> {
  if (deps.learners?.forgotten(event)) return forgottenOutputs(selected);
  const ref = userRefOf(event);
  const learner = ref === undefined ? undefined : deps.learners?.learnerHash(ref);
  const lookups = resolveLookups(event, deps.directories, ref);
  return lookups instanceof Promise
    ? lookups.then((l) => transformResolved(event, deps, selected, routers, l, learner))
    : transformResolved(event, deps, selected, routers, lookups, learner);
}

/** Every selected backend SKIPPED: nothing of a forgotten learner is transformed, looked up or stored. */
function forgottenOutputs(selected: readonly BackendSettings[]): BackendOutput[] {
  const skip = new TransformSkip("learner_forgotten", LEARNER_FORGOTTEN);
  return selected.map((b) => ({ backend: b.backend, result: { outcome: "skipped", reason: LEARNER_FORGOTTEN, skip }, routers: [] }));
}

function transformResolved(
  event: EdxEvent,
  deps: PipelineDeps,
  selected: readonly BackendSettings[],
  routers: readonly RouterConfig[],
  lookups: ResolvedLookups,
  learner: string | undefined,
): BackendOutput[] {
  const env = { ...deps.settings, ...lookups };
  const outputs: BackendOutput[] = new Array(selected.length);
  for (let i = 0; i < selected.length; i++) {
    const b = selected[i]!;
    const result = transformForBackend(b, event, env);
    if (result.outcome === "skipped" && result.skip.kind === "transformer_error") {
      deps.logger?.error(
        { event: event.name, backend: b.backend, err: result.skip.cause },
        "a transformer failed on an event; the event is skipped for that backend",
      );
    }
    outputs[i] = {
      backend: b.backend,
      result,
      routers: result.outcome === "transformed" ? matchingRouters(routers, b.backend, event) : [],
      ...(learner === undefined ? {} : { learner }),
    };
  }
  return outputs;
}

export function messagesFor(event: EdxEvent, output: BackendOutput, names: NatsNames): DeliveryMessage[] {
  const r = output.result;
  return r.outcome === "transformed" ? deliveryMessages(names, output.backend, event, r.statements, output.routers, output.learner) : [];
}

/** One backend output of one event and the messages that store it. */
interface Planned {
  readonly output: BackendOutput;
  readonly messages: readonly DeliveryMessage[];
}

/** The messages for an output, or the output turned SKIPPED when one of them can never be stored. */
function plan(event: EdxEvent, output: BackendOutput, names: NatsNames, publisher: StatementPublisher): Planned {
  const messages = messagesFor(event, output, names);
  for (const m of messages) {
    const why = publisher.oversizeReason(m);
    if (why === undefined) continue;
    const skip = new TransformSkip("too_large", why);
    const transformer = output.result.outcome === "transformed" ? output.result.transformer : undefined;
    const result = { outcome: "skipped", reason: why, skip, ...(transformer ? { transformer } : {}) } as const;
    return { output: { backend: output.backend, result, routers: [] }, messages: [] };
  }
  return { output, messages };
}

/** The output with the ids JetStream already held, read from `duplicate[at...]`; unchanged when none was. */
function withDuplicates(p: Planned, duplicate: readonly boolean[], at: number): BackendOutput {
  const n = p.messages.length;
  if (n === 0) return p.output;
  let ids: Set<string> | undefined;
  const perRouter = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    if (!duplicate[at + i]) continue;
    const m = p.messages[i]!;
    ids ??= new Set();
    ids.add(m.statementId);
    perRouter.set(m.routerId, (perRouter.get(m.routerId) ?? 0) + 1);
  }
  if (ids === undefined) return p.output;
  return { ...p.output, duplicates: { statementIds: [...ids], all: allTrue(duplicate, at, n), perRouter } };
}

function allTrue(flags: readonly boolean[], at: number, n: number): boolean {
  for (let i = at; i < at + n; i++) if (!flags[i]) return false;
  return true;
}

/**
 * Transforms and stores events; throws UnavailableError (nothing reported as accepted) when storage fails.
 * Per call, not per event: one router snapshot, one array of messages, one publish (loops rather than
 * flat/flatMap/slice chains: at ~100 events per call the intermediate arrays were measurable garbage).
 */
export async function emitEvents(
  events: readonly EdxEvent[],
  deps: PipelineDeps,
  publisher: StatementPublisher,
): Promise<BackendOutput[][]> {
  const routers = deps.routers.list();
  // Every event is transformed before anything is awaited; only events whose look-ups were not cached wait.
  const maybe = events.map((e) => transformWith(e, deps, deps.backends, routers));
  const outputs = maybe.some((o) => o instanceof Promise) ? await Promise.all(maybe) : (maybe as BackendOutput[][]);
  const plans: Planned[][] = new Array(events.length);
  const messages: DeliveryMessage[] = [];
  for (let e = 0; e < events.length; e++) {
    const perEvent = outputs[e]!;
    const planned: Planned[] = new Array(perEvent.length);
    for (let o = 0; o < perEvent.length; o++) {
      const p = plan(events[e]!, perEvent[o]!, deps.names, publisher);
      planned[o] = p;
      for (const m of p.messages) messages.push(m);
    }
    plans[e] = planned;
  }
  const duplicate = await publisher.publish(messages);
  let at = 0;
  const result: BackendOutput[][] = new Array(plans.length);
  for (let e = 0; e < plans.length; e++) {
    const planned = plans[e]!;
    const perEvent: BackendOutput[] = new Array(planned.length);
    for (let o = 0; o < planned.length; o++) {
      perEvent[o] = withDuplicates(planned[o]!, duplicate, at);
      at += planned[o]!.messages.length;
    }
    result[e] = perEvent;
  }
  deps.observe?.(events, result);
  return result;
}
