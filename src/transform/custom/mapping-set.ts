/**
 * The compiled custom mappings of one moment (an immutable snapshot; the mapping store swaps in a new one on every
 * change) and the registry view transformForBackend reads through. Which transformer handles an event, per backend:
 *   1. a mapping with replace_builtin that handles the event;
 *   2. else the built-in transformer, when there is one;
 *   3. else a mapping that handles the event (exact names before patterns; among patterns, the first by id).
 * Disabled mappings handle nothing. The view costs the built-in path nothing while no mapping exists for the
 * backend, and one map look-up per event otherwise (the answer per event name is memoised in the snapshot, so an
 * RE2 pattern runs once per name, not once per event).
 */
import type { BackendName, Transformer, TransformerLookup } from "../registry.js";
import { mappingHandles, type CompiledMapping } from "./compile-mapping.js";

/** Distinct event names whose answer is remembered per snapshot and backend; beyond it the memo starts again. */
const MEMO_LIMIT = 10_000;

class BackendMappings {
  readonly #byName = new Map<string, CompiledMapping>();
  readonly #patterned: readonly CompiledMapping[];
  readonly #memo = new Map<string, CompiledMapping | null>();
  readonly replacesAny: boolean;

  constructor(readonly mappings: readonly CompiledMapping[]) {
    const enabled = mappings.filter((m) => !m.spec.disabled).sort((a, b) => (a.spec.id < b.spec.id ? -1 : 1));
    for (const m of enabled) for (const n of m.names) if (!this.#byName.has(n)) this.#byName.set(n, m);
    this.#patterned = enabled.filter((m) => m.pattern !== undefined);
    this.replacesAny = enabled.some((m) => m.spec.replaceBuiltin);
  }

  get empty(): boolean {
    return this.#byName.size === 0 && this.#patterned.length === 0;
  }

  lookup(eventName: string): CompiledMapping | undefined {
    const known = this.#memo.get(eventName);
    if (known !== undefined) return known ?? undefined;
    const found = this.#byName.get(eventName) ?? this.#patterned.find((m) => m.pattern!.test(eventName));
    if (this.#memo.size >= MEMO_LIMIT) this.#memo.clear();
    this.#memo.set(eventName, found ?? null);
    return found;
  }
}

export class MappingSet {
  static readonly EMPTY = new MappingSet([]);
  readonly #byBackend: Readonly<Record<BackendName, BackendMappings>>;

  constructor(readonly mappings: readonly CompiledMapping[]) {
    this.#byBackend = {
      xapi: new BackendMappings(mappings.filter((m) => m.spec.backend === "xapi")),
      caliper: new BackendMappings(mappings.filter((m) => m.spec.backend === "caliper")),
    };
  }

  get(id: string): CompiledMapping | undefined {
    return this.mappings.find((m) => m.spec.id === id);
  }

  /** The transformer active for an event name: see the order in this file's header. */
  resolve(backend: BackendName, builtin: TransformerLookup, eventName: string): Transformer | undefined {
    const set = this.#byBackend[backend];
    if (set.empty) return builtin.get(eventName);
    const own = builtin.get(eventName);
    if (own && !set.replacesAny) return own;
    const mapping = set.lookup(eventName);
    if (mapping && (mapping.spec.replaceBuiltin || !own)) return mapping.transformer;
    return own;
  }

  /** Every mapping (disabled ones too) whose names or pattern accept the event name. */
  handling(eventName: string): CompiledMapping[] {
    return this.mappings.filter((m) => mappingHandles(m, eventName));
  }
}

/** The registry transformForBackend reads: custom mappings of the current snapshot in front of the built-ins. */
export function withMappings(backend: BackendName, builtin: TransformerLookup, current: () => MappingSet): TransformerLookup {
  return {
    get: (eventName) => current().resolve(backend, builtin, eventName),
    has: (eventName) => current().resolve(backend, builtin, eventName) !== undefined,
  };
}

/** BackendResult.transformer of a transformer: "builtin" or "mapping:<id>". */
export function transformerLabel(t: Transformer): string {
  return t.source ?? "builtin";
}
