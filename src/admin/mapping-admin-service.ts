/**
 * MappingAdminService: custom event mappings (issue 23) in the mappings bucket. Create and Update compile the
 * mapping and run it on every sample (transform/custom/mapping-check.ts); a refusal is InvalidArgument naming the
 * field as the request spells it ("mapping.samples[1]: statement 0: verb.id: ..."). Handlers throw the domain
 * errors of src/errors.ts; the server maps them to Connect codes in one place.
 */
import type { ServiceImpl } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { MappingAdminService } from "../../gen/eventrouting/v1/mapping_admin_service_pb.js";
import { ValidationError } from "../errors.js";
import { eventFromInput } from "../ingest/event-input.js";
import { resolveLookups, type Directories } from "../ingest/lookups.js";
import { BACKEND_TO_PROTO } from "../ingest/event-results.js";
import { compileMapping, MAPPING_ID_RE, type CompiledMapping } from "../transform/custom/compile-mapping.js";
import { refuseProblems, runCompiled, runSamples, SAMPLE_LEARNER } from "../transform/custom/mapping-check.js";
import type { MappingSpec } from "../transform/custom/mapping-format.js";
import { transformerLabel } from "../transform/custom/mapping-set.js";
import { MappingError } from "../transform/custom/template.js";
import type { JsonObject } from "../transform/edx-event.js";
import type { BackendName, TransformerRegistry } from "../transform/registry.js";
import type { TransformSettings } from "../transform/transform-env.js";
import { mappingToProto, specFromProto } from "../mappings/mapping-proto.js";
import { applyMappingMask, type MappingAdminStore } from "./mapping-update-mask.js";
import type { StoredMapping } from "../mappings/mapping-store.js";
import type { StatementValidator } from "./statement-validator.js";

export interface MappingAdminServiceDeps {
  readonly store: MappingAdminStore;
  readonly settings: TransformSettings;
  /** xAPI and Caliper validation, off the event loop in the service (statement-validator.ts). */
  readonly validate: StatementValidator;
  /** The built-in registries: builtin_overlap and the active transformer per event name. */
  readonly builtins: Readonly<Record<BackendName, TransformerRegistry>>;
  /** Backends this service produces (XAPI_ENABLED / CALIPER_ENABLED): a mapping for another one gets a warning. */
  readonly enabledBackends: ReadonlySet<BackendName>;
  /** TestMapping resolves the learner and course name as the emit path does. */
  readonly directories?: Directories;
  readonly logger?: Logger;
}

/** The compiler's and the sample check's refusals as the request names them. */
function checked<T>(f: () => T, field = "mapping"): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof MappingError) throw new ValidationError(`${field}.${e.field}`, e.detail);
    throw e;
  }
}

/** Built-in event names a mapping handles: its exact names, and for a pattern every built-in name it matches. */
function builtinOverlap(spec: MappingSpec, builtins: MappingAdminServiceDeps["builtins"]): string[] {
  const compiled = checked(() => compileMapping({ ...spec, samples: [] }));
  return builtins[spec.backend].eventNames().filter((n) => compiled.names.has(n) || (compiled.pattern?.test(n) ?? false));
}

function warnings(spec: MappingSpec, overlap: readonly string[], deps: MappingAdminServiceDeps): string[] {
  const out: string[] = [];
  if (!deps.enabledBackends.has(spec.backend))
    out.push(`the ${spec.backend} backend is disabled on this service: the mapping handles nothing until it is enabled`);
  if (overlap.length > 0 && !spec.replaceBuiltin) {
    out.push(`a built-in transformer stays active for ${overlap.join(", ")} (set replace_builtin to replace it)`);
  }
  return out;
}

/** Another mapping of the same backend already names one of these events exactly: which one would win is unclear. */
function checkNameClash(spec: MappingSpec, others: readonly StoredMapping[]): void {
  for (const other of others) {
    if (other.spec.id === spec.id || other.spec.backend !== spec.backend) continue;
    const i = spec.eventNames.findIndex((n) => other.spec.eventNames.includes(n));
    if (i >= 0)
      throw new ValidationError(`mapping.event_names[${i}]`, `"${spec.eventNames[i]}" is already handled by mapping ${other.spec.id}`);
  }
}

export function createMappingAdminService(deps: MappingAdminServiceDeps): ServiceImpl<typeof MappingAdminService> {
  const { store } = deps;
  const toProto = (m: StoredMapping) => mappingToProto(m, builtinOverlap(m.spec, deps.builtins));
  /** Compiled, run on its samples, every statement validated (in the worker), no exact-name clash. */
  const validate = async (spec: MappingSpec): Promise<MappingSpec> => {
    const { outputs } = checked(() => runSamples(spec, deps.settings));
    const problems = await deps.validate(
      spec.backend,
      outputs.map((o) => o.statements),
    );
    checked(() =>
      refuseProblems(
        outputs,
        problems.map((perStatement) => perStatement.flatMap((found, i) => found.map((p) => `statement ${i}: ${p}`))),
      ),
    );
    checkNameClash(spec, store.list());
    return spec;
  };
  return {
    async createMapping(req) {
      if (!req.mapping) throw new ValidationError("mapping", "is required");
      const created = await store.create(await validate(specFromProto(req.mapping)));
      deps.logger?.info({ mappingId: created.spec.id, backend: created.spec.backend, revision: created.revision }, "mapping created");
      const overlap = builtinOverlap(created.spec, deps.builtins);
      return { mapping: mappingToProto(created, overlap), warnings: warnings(created.spec, overlap, deps) };
    },
    async getMapping(req) {
      return { mapping: toProto(await store.fetch(idOf(req.id, "id"))) };
    },
    async listMappings(req) {
      const set = store.current();
      const handling = req.eventName === "" ? undefined : new Set(set.handling(req.eventName).map((m) => m.spec.id));
      const mappings = store.list().filter((m) => handling === undefined || handling.has(m.spec.id));
      const active =
        req.eventName === ""
          ? []
          : (["xapi", "caliper"] as const).map((b) => {
              const t = set.resolve(b, deps.builtins[b], req.eventName);
              return { backend: BACKEND_TO_PROTO[b], transformer: t ? transformerLabel(t) : "" };
            });
      return { mappings: mappings.map(toProto), active };
    },
    async updateMapping(req) {
      if (!req.mapping) throw new ValidationError("mapping", "is required");
      const id = idOf(req.mapping.id, "mapping.id");
      const paths = req.updateMask?.paths ?? [];
      const patchProto = req.mapping;
      // Validated against the stored mapping read first; the store's update refuses it (Aborted) if the mapping
      // changed in between, so what is written is always what was checked.
      const current = await store.fetch(id);
      const keep = paths.length > 0 && !paths.includes("backend") ? current.spec.backend : undefined;
      const next = await validate(applyMappingMask(current.spec, specFromProto(patchProto, "mapping", keep), paths));
      const updated = await store.update(id, () => next, current.revision);
      deps.logger?.info({ mappingId: id, fields: paths, revision: updated.revision }, "mapping updated");
      const overlap = builtinOverlap(updated.spec, deps.builtins);
      return { mapping: mappingToProto(updated, overlap), warnings: warnings(updated.spec, overlap, deps) };
    },
    async deleteMapping(req) {
      const id = idOf(req.id, "id");
      await store.delete(id);
      deps.logger?.info({ mappingId: id }, "mapping deleted");
      return {};
    },
    async testMapping(req) {
      const compiled = await mappingUnderTest(req.id, req.mapping ? specFromProto(req.mapping) : undefined, store);
      const event = eventFromInput(req.event, "event");
      const looked = deps.directories ? await resolveLookups(event, deps.directories) : {};
      // A pasted event's learner is usually unknown here: the stand-in learner still shows the statements.
      const env = { ...deps.settings, ...looked, user: looked.user ?? SAMPLE_LEARNER };
      const matches = compiled.names.has(event.name) || (compiled.pattern?.test(event.name) ?? false);
      const r = runCompiled(compiled, event, env);
      if (r.outcome !== "transformed")
        return { matches, skipped: true, reason: r.outcome === "skipped" ? r.reason : "", statements: [], problems: [] };
      const [found = []] = await deps.validate(compiled.spec.backend, [r.statements]);
      const problems = found.flatMap((list, i) => list.map((p) => `statement ${i}: ${p}`));
      return { matches, skipped: false, reason: "", statements: r.statements as unknown as JsonObject[], problems };
    },
  };
}

function idOf(id: string, field: string): string {
  if (!MAPPING_ID_RE.test(id)) throw new ValidationError(field, "must be 1 to 64 lower-case letters, digits, '-' or '_'");
  return id;
}

/** TestMapping's mapping: stored by id, or inline (compiled, samples not run). */
async function mappingUnderTest(id: string, inline: MappingSpec | undefined, store: MappingAdminStore): Promise<CompiledMapping> {
  if ((id === "") === (inline === undefined)) throw new ValidationError("id", "give either a mapping id or an inline mapping, not both");
  // An inline mapping being written in the console may not have its id yet.
  if (inline) return checked(() => compileMapping({ ...inline, id: inline.id === "" ? "inline" : inline.id }));
  const stored = await store.fetch(idOf(id, "id"));
  return checked(() => compileMapping(stored.spec));
}
