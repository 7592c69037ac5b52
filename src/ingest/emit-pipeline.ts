/**
 * The emit path for a set of events: resolve look-ups, transform per backend (pure), match routers, then store
 * every resulting message in one pipelined publish. Used by Emit, EmitBatch and Transform (which stops before
 * publishing).
 *
 * Before publishing, a backend whose messages include one larger than the server accepts is skipped for that
 * event (nothing of it is stored, the reason names the size), so one oversized statement neither fails the call
 * nor comes back on every retry. After publishing, each backend output carries the statement ids JetStream
 * already held, so results can say DUPLICATE instead of claiming a store that did not happen.
 */
import type { NatsNames } from "../nats/names.js";
import type { RouterConfig } from "../routing/router-model.js";
import type { RouterSource } from "../routing/router-source.js";
import type { StatementPublisher } from "../routing/statement-publisher.js";
import { deliveryMessages, matchingRouters, type DeliveryMessage } from "../routing/statement-routing.js";
import type { EdxEvent } from "../transform/edx-event.js";
import { TransformSkip } from "../transform/transform-skip.js";
import type { BackendName } from "../transform/registry.js";
import { transformForBackend, type BackendSettings, type BackendTransformResult } from "../transform/transform-event.js";
import type { TransformSettings } from "../transform/transform-env.js";
import { resolveLookups, type Directories } from "./lookups.js";

export interface PipelineDeps {
  readonly settings: TransformSettings;
  readonly backends: readonly BackendSettings[];
  readonly directories: Directories;
  readonly routers: RouterSource;
  readonly names: NatsNames;
}

export interface BackendOutput {
  readonly backend: BackendName;
  readonly result: BackendTransformResult;
  /** Routers the statements go to (empty unless transformed). */
  readonly routers: readonly RouterConfig[];
  /** After publishing: ids JetStream already held for at least one router, and whether every message was one. */
  readonly duplicates?: { readonly statementIds: readonly string[]; readonly all: boolean };
}

/**
 * Transforms one event for the given backends (default: every enabled backend). Backends named explicitly are
 * transformed even when disabled in the configuration, so a mapping can be previewed before it is switched on.
 */
export async function transformEvent(event: EdxEvent, deps: PipelineDeps, only?: readonly BackendName[]): Promise<BackendOutput[]> {
  const lookups = await resolveLookups(event, deps.directories);
  const env = { ...deps.settings, ...lookups };
  const selected =
    only && only.length > 0
      ? deps.backends.filter((b) => only.includes(b.backend)).map((b) => ({ ...b, enabled: true }))
      : deps.backends.filter((b) => b.enabled);
  const routers = deps.routers.list();
  return selected.map((b) => {
    const result = transformForBackend(b, event, env);
    return { backend: b.backend, result, routers: result.outcome === "transformed" ? matchingRouters(routers, b.backend, event) : [] };
  });
}

export function messagesFor(event: EdxEvent, output: BackendOutput, names: NatsNames): DeliveryMessage[] {
  const r = output.result;
  return r.outcome === "transformed" ? deliveryMessages(names, output.backend, event, r.statements, output.routers) : [];
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
    const why = publisher.tooLarge(m);
    if (why === undefined) continue;
    const skip = new TransformSkip("too_large", why);
    return { output: { backend: output.backend, result: { outcome: "skipped", reason: why, skip }, routers: [] }, messages: [] };
  }
  return { output, messages };
}

function withDuplicates(p: Planned, duplicate: readonly boolean[]): BackendOutput {
  if (p.messages.length === 0) return p.output;
  const ids = new Set<string>();
  p.messages.forEach((m, i) => {
    if (duplicate[i]) ids.add(m.statementId);
  });
  return { ...p.output, duplicates: { statementIds: [...ids], all: duplicate.every(Boolean) } };
}

/** Transforms and stores events; throws UnavailableError (nothing reported as accepted) when storage fails. */
export async function emitEvents(
  events: readonly EdxEvent[],
  deps: PipelineDeps,
  publisher: StatementPublisher,
): Promise<BackendOutput[][]> {
  const outputs = await Promise.all(events.map((e) => transformEvent(e, deps)));
  const plans = events.map((e, i) => outputs[i]!.map((o) => plan(e, o, deps.names, publisher)));
  const duplicate = await publisher.publish(plans.flat().flatMap((p) => p.messages));
  let at = 0;
  return plans.map((perEvent) =>
    perEvent.map((p) => {
      const flags = duplicate.slice(at, at + p.messages.length);
      at += p.messages.length;
      return withDuplicates(p, flags);
    }),
  );
}
