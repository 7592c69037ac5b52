/**
 * The offline `--mappings DIR` of `replay --offline` and `transform`: every mapping of DIR's mapping files (read by
 * mapping-input.ts, as `mappings apply` reads them: a file may hold several) checked as the service checks it
 * (compiled, run on its samples, validated), then put in front of the built-ins as the service does with its bucket.
 */
import { ValidationError } from "../errors.js";
import { specFromProto } from "../mappings/mapping-proto.js";
import type { CompiledMapping } from "../transform/custom/compile-mapping.js";
import { checkMapping } from "../transform/custom/mapping-check.js";
import { MappingSet } from "../transform/custom/mapping-set.js";
import { createStatementChecks, type StatementChecks } from "../transform/custom/statement-checks.js";
import { MappingError } from "../transform/custom/template.js";
import type { TransformSettings } from "../transform/transform-env.js";
import { UsageError } from "./exit-codes.js";
import { mappingFilesIn, type MappingSource, readMappingFile } from "./mapping-input.js";

/** One mapping checked as CreateMapping checks it; the error names the file (and index) and the field. */
function checkMappingSource({ mapping, where }: MappingSource, settings: TransformSettings, checks: StatementChecks): CompiledMapping {
  try {
    return checkMapping(specFromProto(mapping), settings, checks);
  } catch (e) {
    if (e instanceof MappingError || e instanceof ValidationError) throw new UsageError(`${where}: ${e.message}`);
    throw e;
  }
}

/** Every mapping of DIR (none is fine), checked, as the set the offline pipeline uses; two with one id are an error. */
export function loadMappingDir(dir: string, settings: TransformSettings): MappingSet {
  const checks = createStatementChecks();
  const seen = new Map<string, string>();
  const compiled = mappingFilesIn(dir)
    .flatMap(readMappingFile)
    .map((source) => {
      const m = checkMappingSource(source, settings, checks);
      const other = seen.get(m.spec.id);
      if (other) throw new UsageError(`${source.where}: mapping id ${m.spec.id} is also used by ${other}`);
      seen.set(m.spec.id, source.where);
      return m;
    });
  return new MappingSet(compiled);
}
