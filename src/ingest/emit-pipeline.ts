/**
 * The emit path for a set of events: resolve look-ups, transform per backend (pure), match routers, then store
 * every resulting message in one pipelined publish. Used by Emit, EmitBatch and Transform (which stops before
 * publishing).
 */
import type { NatsNames } from "../nats/names.js";
import type { RouterConfig } from "../routing/router-model.js";
import type { RouterSource } from "../routing/router-source.js";
import type { StatementPublisher } from "../routing/statement-publisher.js";
import { deliveryMessages, matchingRouters, type DeliveryMessage } from "../routing/statement-routing.js";
import type { EdxEvent } from "../transform/edx-event.js";
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
}

/**
 * Transforms one event for the given backends (default: every enabled backend). Backends named explicitly are
 * transformed even when disabled in the configuration, so a mapping can be previewed before it is switched on.
 */
export async function transformEvent(event: EdxEvent, deps: PipelineDeps, only?: readonly BackendName[]): Promise<BackendOutput[]> {
  const lookups = await resolveLookups(event, deps.directories);
  const env = { ...deps.settings, ...lookups };
  const selected = only && only.length > 0 ? deps.backends.filter((b) => only.includes(b.backend)).map((b) => ({ ...b, enabled: true })) : deps.backends.filter((b) => b.enabled);
  const routers = deps.routers.list();
  return selected.map((b) => {
    const result = transformForBackend(b, event, env);
    return { backend: b.backend, result, routers: result.outcome === "transformed" ? matchingRouters(routers, b.backend, event) : [] };
  });
}

export function messagesFor(event: EdxEvent, outputs: readonly BackendOutput[], names: NatsNames): DeliveryMessage[] {
  return outputs.flatMap((o) => (o.result.outcome === "transformed" ? deliveryMessages(names, o.backend, event, o.result.statements, o.routers) : []));
}

/** Transforms and stores events; throws UnavailableError (nothing reported as accepted) when storage fails. */
export async function emitEvents(events: readonly EdxEvent[], deps: PipelineDeps, publisher: StatementPublisher): Promise<BackendOutput[][]> {
  const outputs = await Promise.all(events.map((e) => transformEvent(e, deps)));
  await publisher.publish(events.flatMap((e, i) => messagesFor(e, outputs[i]!, deps.names)));
  return outputs;
}
