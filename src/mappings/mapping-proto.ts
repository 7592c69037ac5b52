/**
 * The proto Mapping (MappingAdminService, and the mapping file's form) to and from the mapping model
 * (transform/custom/mapping-format.ts) that the bucket stores and the compiler reads. Shared by the admin service
 * and the CLI's mapping files; the output-only fields (times, revision, builtin_overlap) come from the store and
 * the built-in registries.
 */
import { create, type JsonObject as PbJsonObject } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Backend } from "../../gen/eventrouting/v1/event_pb.js";
import { MappingSchema, type Mapping } from "../../gen/eventrouting/v1/mapping_admin_service_pb.js";
import { ValidationError } from "../errors.js";
import type { StoredMapping } from "./mapping-store.js";
import type { MappingSpec } from "../transform/custom/mapping-format.js";
import type { JsonObject } from "../transform/edx-event.js";
import type { BackendName } from "../transform/registry.js";

const BACKENDS: Readonly<Partial<Record<Backend, BackendName>>> = { [Backend.XAPI]: "xapi", [Backend.CALIPER]: "caliper" };
const TO_PROTO: Readonly<Record<BackendName, Backend>> = { xapi: Backend.XAPI, caliper: Backend.CALIPER };

/** `fallbackBackend`: an update whose mask leaves the backend out need not repeat it. */
export function specFromProto(m: Mapping, field = "mapping", fallbackBackend?: BackendName): MappingSpec {
  const backend = BACKENDS[m.backend] ?? (m.backend === Backend.UNSPECIFIED ? fallbackBackend : undefined);
  if (!backend) throw new ValidationError(`${field}.backend`, "must be BACKEND_XAPI or BACKEND_CALIPER");
  return {
    id: m.id,
    displayName: m.displayName,
    description: m.description,
    backend,
    eventNames: [...m.eventNames],
    eventPattern: m.eventPattern,
    replaceBuiltin: m.replaceBuiltin,
    disabled: m.disabled,
    conditions: m.conditions.map((c) => ({ require: c.require, ...(c.skipReason !== "" ? { skipReason: c.skipReason } : {}) })),
    statements: m.statements.map((s) => s as unknown as JsonObject),
    samples: m.samples.map((s) => s as unknown as JsonObject),
  };
}

export function mappingToProto(stored: StoredMapping, builtinOverlap: readonly string[]): Mapping {
  const s = stored.spec;
  return create(MappingSchema, {
    id: s.id,
    displayName: s.displayName,
    description: s.description,
    backend: TO_PROTO[s.backend],
    eventNames: [...s.eventNames],
    eventPattern: s.eventPattern,
    replaceBuiltin: s.replaceBuiltin,
    disabled: s.disabled,
    conditions: s.conditions.map((c) => ({ require: c.require, skipReason: c.skipReason ?? "" })),
    statements: s.statements.map((t) => t as unknown as PbJsonObject),
    samples: s.samples.map((t) => t as unknown as PbJsonObject),
    createTime: timestampFromDate(new Date(stored.createTime)),
    updateTime: timestampFromDate(new Date(stored.updateTime)),
    revision: BigInt(stored.revision),
    builtinOverlap: [...builtinOverlap],
  });
}
