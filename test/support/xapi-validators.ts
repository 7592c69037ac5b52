/**
 * The two independent xAPI statement validators (XAPI-CALIPER-VALIDATION.md §1, §4): Learning Locker's rule-based
 * validator (@learninglocker/xapi-validation 3.0.0, MIT) and Rustici's JSON Schema (tin-can-json-schema 2.0.0,
 * Apache-2.0) run by ajv-draft-04. They catch different mistakes, so statements must pass both.
 */
import { createRequire } from "node:module";
import type { JsonObject } from "../../src/transform/edx-event.js";

const require = createRequire(import.meta.url);

interface LlWarning {
  name: string;
  path: (string | number)[];
  data?: unknown;
}
type LlValidate = (statement: unknown) => LlWarning[];
const llModule = require("@learninglocker/xapi-validation") as { default: LlValidate } | LlValidate;
const llValidate: LlValidate = typeof llModule === "function" ? llModule : llModule.default;

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params?: unknown;
}
interface AjvValidateFn {
  (data: unknown): boolean;
  errors?: AjvError[] | null;
}
// ajv-draft-04 is CommonJS with a default export class.
const AjvDraft04 = (require("ajv-draft-04") as { default: new (opts: object) => AjvLike }).default;
interface AjvLike {
  addFormat(name: string, re: RegExp): unknown;
  addSchema(schema: object, key: string): unknown;
  getSchema(key: string): AjvValidateFn | undefined;
}

const ajv = new AjvDraft04({ allErrors: true, strict: false, unicodeRegExp: false });
const formats = require("tin-can-json-schema/formats.json") as Record<string, string>;
for (const [name, source] of Object.entries(formats)) ajv.addFormat(name, new RegExp(source));
ajv.addSchema(require("tin-can-json-schema/1.0.1.json") as object, "tincan");
const tincanStatement = ajv.getSchema("tincan#statement");
if (!tincanStatement) throw new Error("tin-can-json-schema has no #statement schema");

/** Learning Locker warnings as `Name@path`; [] when valid. */
export function learningLockerWarnings(statement: JsonObject): string[] {
  return llValidate(statement).map((w) => `${w.name}@${w.path.join(".")}`);
}

/** Rustici schema errors (without the combinator noise) as `/path keyword message`; [] when valid. */
export function tincanSchemaErrors(statement: JsonObject): string[] {
  if (tincanStatement!(statement)) return [];
  const errors = (tincanStatement!.errors ?? []).filter((e) => !["oneOf", "anyOf", "allOf", "not"].includes(e.keyword));
  const all = errors.length > 0 ? errors : (tincanStatement!.errors ?? []);
  return all.map((e) => `${e.instancePath || "/"} ${e.keyword} ${e.message ?? ""}`.trim());
}

/** Both validators' findings for one statement. */
export function xapiValidationProblems(statement: JsonObject): string[] {
  return [...learningLockerWarnings(statement).map((w) => `LL ${w}`), ...tincanSchemaErrors(statement).map((e) => `tincan ${e}`)];
}
