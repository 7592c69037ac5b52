/**
 * Writes third_party/caliper/schema_1_2.json: the IMS Caliper 1.2 JSON Schemas (1EdTech caliper-spec, branch
 * json_schema, schema_1_2/), every file's content unchanged, in one object keyed by file name without ".json",
 * sorted. The service validates custom mappings' Caliper events with them at run time (src/transform/custom/
 * caliper-check.ts), so they ship inside the bundle instead of being read from ../shared at run time.
 *
 *   node --import tsx scripts/vendor-caliper-schemas.ts [SCHEMA_DIR]
 *
 * SCHEMA_DIR defaults to $CALIPER_SCHEMA_DIR, else ../shared/reference/caliper/schema_1_2 beside the repository.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const dir = resolve(process.argv[2] ?? process.env["CALIPER_SCHEMA_DIR"] ?? "../shared/reference/caliper/schema_1_2");
const out: Record<string, unknown> = {};
for (const file of readdirSync(dir)
  .filter((f) => f.endsWith(".json"))
  .sort()) {
  out[file.slice(0, -".json".length)] = JSON.parse(readFileSync(join(dir, file), "utf8"));
}
writeFileSync("third_party/caliper/schema_1_2.json", `${JSON.stringify(out)}\n`);
console.log(`${Object.keys(out).length} schemas from ${dir}`);
