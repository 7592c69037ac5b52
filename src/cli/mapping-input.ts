/**
 * Custom mappings for `mappings apply` and `mappings test` from YAML or JSON files: a file, or a directory whose
 * *.yaml, *.yml and *.json files are read in name order (not recursively, so an `expected/` folder beside them is
 * left alone). A file holds one mapping, a list of mappings, or (YAML) several `---` documents; the offline
 * `--mappings DIR` (mapping-files.ts) takes one mapping per file, so files meant for both hold one. A mapping is the
 * proto Mapping's JSON form (snake_case or camelCase; src/transform/custom/mapping-format.ts), with `backend` also
 * written `xapi` or `caliper`. Unknown fields are an error naming the file and the mapping, so a typo never
 * silently drops a condition or a statement.
 */
import { readFileSync, statSync } from "node:fs";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { MappingSchema, type Mapping } from "../../gen/eventrouting/v1/mapping_admin_service_pb.js";
import { parseAllDocuments } from "yaml";
import { UsageError } from "./exit-codes.js";
import { mappingFilesIn } from "./mapping-files.js";

/** A mapping and where it was read (file, and its index when the file holds several). */
export interface MappingSource {
  readonly mapping: Mapping;
  readonly where: string;
}

const SHORT_BACKENDS: Readonly<Record<string, string>> = { xapi: "BACKEND_XAPI", caliper: "BACKEND_CALIPER" };

/** The file itself, or the directory's mapping files in name order (mapping-files.ts lists them, as for --mappings). */
export function mappingFiles(path: string): string[] {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as Error).message}`);
  }
  if (!isDir) return [path];
  const files = mappingFilesIn(path).filter((p) => statSync(p).isFile());
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

/** Every mapping of a file or directory, in file order. */
export function readMappings(path: string): MappingSource[] {
  const out: MappingSource[] = [];
  for (const file of mappingFiles(path)) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
    }
    const docs = parseDocs(file, text).flatMap((d) => (Array.isArray(d) ? d : [d]));
    docs.forEach((doc, i) => {
      const where = docs.length > 1 ? `${file}[${i}]` : file;
      out.push({ mapping: mappingFromDoc(doc, where), where });
    });
  }
  if (out.length === 0) throw new UsageError(`${path}: no mapping in it`);
  return out;
}
