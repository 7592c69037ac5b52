/**
 * One registry per backend, keyed by event name. Each entry carries the mapping facts that
 * docs/event-mapping.md is generated from, so the documentation cannot drift from the code.
 */
import type { EdxEvent, JsonObject } from "./edx-event.js";
import type { TransformEnv } from "./transform-env.js";

export type BackendName = "xapi" | "caliper";

/** Human-readable mapping facts for the generated mapping table. */
export interface MappingInfo {
  /** xAPI verb IRI, or Caliper `type` + " / " + `action`. */
  readonly verb: string;
  readonly objectType: string;
  /** e.g. "{LMS}/xblock/{data.id}". */
  readonly objectId: string;
  /** Result or generated fields, comma-separated; "" when none. */
  readonly result: string;
}

export type TransformFn = (event: EdxEvent, env: TransformEnv) => JsonObject[];

export interface Transformer {
  readonly eventName: string;
  /** Family, e.g. "enrollment", "video"; groups the mapping table. */
  readonly family: string;
  readonly mapping: MappingInfo;
  readonly transform: TransformFn;
  /** What BackendResult.transformer reports: "mapping:<id>" for a custom mapping; absent = "builtin". */
  readonly source?: string;
}

/** What transformForBackend needs of a registry: the built-in one, or a view with custom mappings in front. */
export interface TransformerLookup {
  get(eventName: string): Transformer | undefined;
  has(eventName: string): boolean;
}

export class TransformerRegistry implements TransformerLookup {
  private readonly byName = new Map<string, Transformer>();

  constructor(readonly backend: BackendName) {}

  register(eventNames: readonly string[], family: string, mapping: MappingInfo, transform: TransformFn): this {
    for (const eventName of eventNames) {
      if (this.byName.has(eventName)) throw new Error(`${this.backend}: ${eventName} registered twice`);
      this.byName.set(eventName, { eventName, family, mapping, transform });
    }
    return this;
  }

  get(eventName: string): Transformer | undefined {
    return this.byName.get(eventName);
  }

  has(eventName: string): boolean {
    return this.byName.has(eventName);
  }

  eventNames(): string[] {
    return [...this.byName.keys()];
  }

  entries(): Transformer[] {
    return [...this.byName.values()];
  }
}
