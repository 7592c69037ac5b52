/**
 * Mapping files (YAML or JSON; the format is in src/transform/custom/mapping-format.ts): one mapping per file, the
 * proto Mapping in protobuf JSON with snake_case or camelCase names. Unknown fields are an error, so a typo never
 * silently drops a part; `backend` also takes "xapi" and "caliper". Used by `replay --offline --mappings DIR` and
 * `transform --mappings DIR`, and meant for the operator commands that send mappings to a service.
 *
 *   mappingFromFile(path)            -> the proto Mapping (for CreateMapping / UpdateMapping / TestMapping)
 *   loadMappingDir(dir, settings)    -> every *.yaml, *.yml, *.json of DIR (not recursive, by name), each checked
 *                                       as the service checks it (compiled, run on its samples, validated)
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { parse as parseYaml } from "yaml";
import { MappingSchema, type Mapping } from "../../gen/eventrouting/v1/mapping_admin_service_pb.js";
import { ValidationError } from "../errors.js";
import { specFromProto } from "../mappings/mapping-proto.js";
import type { CompiledMapping } from "../transform/custom/compile-mapping.js";
import { checkMapping } from "../transform/custom/mapping-check.js";
import { MappingSet } from "../transform/custom/mapping-set.js";
import { createStatementChecks, type StatementChecks } from "../transform/custom/statement-checks.js";
import { MappingError } from "../transform/custom/template.js";
import type { TransformSettings } from "../transform/transform-env.js";
import { UsageError } from "./exit-codes.js";

const MAPPING_FILE = /\.(ya?ml|json)$/i;
const SHORT_BACKENDS: Readonly<Record<string, string>> = { xapi: "BACKEND_XAPI", caliper: "BACKEND_CALIPER" };

/** One mapping file as the proto Mapping; UsageError naming the file on anything unreadable or unknown. */
export function mappingFromFile(path: string): Mapping {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as Error).message}`);
  }
  const json = /\.json$/i.test(path);
  let doc: unknown;
  try {
    doc = json ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new UsageError(`${path} is not valid ${json ? "JSON" : "YAML"}: ${(e as Error).message}`);
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new UsageError(`${path}: expected one mapping object`);
  const d = doc as Record<string, unknown>;
  if (typeof d["backend"] === "string") d["backend"] = SHORT_BACKENDS[d["backend"].toLowerCase()] ?? d["backend"];
  try {
    return fromJson(MappingSchema, d as JsonValue);
  } catch (e) {
    throw new UsageError(`${path}: ${(e as Error).message}`);
  }
}

/** The mapping files of a directory, sorted by name. */
export function mappingFilesIn(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw new UsageError(`cannot read the mappings directory ${dir}: ${(e as Error).message}`);
  }
  return names
    .filter((n) => MAPPING_FILE.test(n))
    .sort()
    .map((n) => join(dir, n));
}

/** One file checked as CreateMapping checks it; the error names the file and the field. */
export function checkMappingFile(path: string, settings: TransformSettings, checks: StatementChecks): CompiledMapping {
  try {
    return checkMapping(specFromProto(mappingFromFile(path)), settings, checks);
  } catch (e) {
    if (e instanceof MappingError || e instanceof ValidationError) throw new UsageError(`${path}: ${e.message}`);
    throw e;
  }
}

/** Every mapping of DIR, checked, as the set the offline pipeline uses; two files with one id are an error. */
export function loadMappingDir(dir: string, settings: TransformSettings): MappingSet {
  const checks = createStatementChecks();
  const seen = new Map<string, string>();
  const compiled = mappingFilesIn(dir).map((path) => {
    const m = checkMappingFile(path, settings, checks);
    const other = seen.get(m.spec.id);
    if (other) throw new UsageError(`${path}: mapping id ${m.spec.id} is also used by ${other}`);
    seen.set(m.spec.id, path);
    return m;
  });
  return new MappingSet(compiled);
}
