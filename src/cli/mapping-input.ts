/**
 * Reading custom mappings from YAML or JSON files: the one reader behind `mappings apply` and `mappings test`
 * (a file or a directory) and the offline `--mappings DIR` (mapping-files.ts). A directory's *.yaml, *.yml and
 * *.json files are read in name order, not recursively, so an `expected/` folder beside them is left alone. A file
 * holds one mapping, a list of mappings, or (YAML) several `---` documents. A mapping is the proto Mapping's JSON
 * form (snake_case or camelCase; src/transform/custom/mapping-format.ts), with `backend` also written `xapi` or
 * `caliper`. Unknown fields are an error naming the file and the mapping, so a typo never silently drops a
 * condition or a statement.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { parseAllDocuments } from "yaml";
import { MappingSchema, type Mapping } from "../../gen/eventrouting/v1/mapping_admin_service_pb.js";
import { UsageError } from "./exit-codes.js";

/** A mapping and where it was read: the file, with the mapping's index when the file holds several. */
export interface MappingSource {
  readonly mapping: Mapping;
  readonly where: string;
}

const MAPPING_FILE = /\.(ya?ml|json)$/i;
const SHORT_BACKENDS: Readonly<Record<string, string>> = { xapi: "BACKEND_XAPI", caliper: "BACKEND_CALIPER" };

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
    .map((n) => join(dir, n))
    .filter(isNotDirectory);
}

/** A directory named like a mapping file is skipped; one that cannot be looked at is kept, for the read to explain. */
function isNotDirectory(path: string): boolean {
  try {
    return !statSync(path).isDirectory();
  } catch {
    return true;
  }
}

/** The file itself, or the directory's mapping files in name order (at least one). */
export function mappingFiles(path: string): string[] {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as Error).message}`);
  }
  if (!isDir) return [path];
  const files = mappingFilesIn(path);
  if (files.length === 0) throw new UsageError(`${path}: no *.yaml, *.yml or *.json files`);
  return files;
}

function parseDocs(path: string, text: string): unknown[] {
  if (/\.json$/i.test(path)) {
    try {
      return [JSON.parse(text)];
    } catch (e) {
      throw new UsageError(`${path} is not valid JSON: ${(e as Error).message}`);
    }
  }
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) return [];
  const bad = docs.find((d) => d.errors.length > 0);
  if (bad) throw new UsageError(`${path} is not valid YAML: ${bad.errors[0]!.message}`);
  return docs.map((d) => d.toJS() as unknown).filter((d) => d !== null && d !== undefined);
}

/** The proto Mapping of one document; `where` names it in errors. */
export function mappingFromDoc(doc: unknown, where: string): Mapping {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new UsageError(`${where}: expected a mapping object`);
  const d = { ...(doc as Record<string, unknown>) };
  if (typeof d["backend"] === "string") d["backend"] = SHORT_BACKENDS[d["backend"].toLowerCase()] ?? d["backend"];
  try {
    return fromJson(MappingSchema, d as JsonValue);
  } catch (e) {
    throw new UsageError(`${where}: ${(e as Error).message}`);
  }
}

/** Every mapping of one file, in file order (none for an empty file). */
export function readMappingFile(file: string): MappingSource[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
  }
  const docs = parseDocs(file, text).flatMap((d) => (Array.isArray(d) ? d : [d]));
  return docs.map((doc, i) => {
    const where = docs.length > 1 ? `${file}[${i}]` : file;
    return { mapping: mappingFromDoc(doc, where), where };
  });
}

/** Every mapping of a file or directory, in file order; at least one. */
export function readMappings(path: string): MappingSource[] {
  const out = mappingFiles(path).flatMap(readMappingFile);
  if (out.length === 0) throw new UsageError(`${path}: no mapping in it`);
  return out;
}
