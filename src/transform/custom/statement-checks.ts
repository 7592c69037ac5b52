/**
 * The validation a custom mapping's statements must pass before the mapping is accepted (issue 23: "the
 * validation the built-ins pass"): xAPI 1.0.3 statement rules by Learning Locker's validator
 * (@learninglocker/xapi-validation, MIT: the rules of the LRS the tests deliver to), and the IMS Caliper 1.2 JSON
 * Schemas (vendored in third_party/caliper/, run by ajv-draft-04 as test/support/caliper-validator.ts does) plus
 * the event id form. Pure: the schemas are part of the bundle, nothing is read at run time.
 *
 * The Caliper schemas compile on first use (about 110 schemas, a few hundred milliseconds), per checker, not at
 * start-up: only registrations and TestMapping validate, never the emit path.
 */
import type { ErrorObject, Options, ValidateFunction } from "ajv";
import AjvDraft04Module from "ajv-draft-04";
import addFormatsModule from "ajv-formats";
import llValidateModule from "@learninglocker/xapi-validation";
import caliperSchemas from "../../../third_party/caliper/schema_1_2.json" with { type: "json" };
import type { JsonObject } from "../edx-event.js";
import type { BackendName } from "../registry.js";

// CommonJS packages with a `default` property: under NodeNext the default import may be the module object.
function interop<T>(m: unknown): T {
  return ((m as { default?: unknown }).default ?? m) as T;
}

interface AjvLike {
  addSchema(schema: object): unknown;
  addFormat(name: string, format: RegExp | object): unknown;
  getSchema(key: string): ValidateFunction | undefined;
}
const AjvDraft04 = interop<new (opts: Options) => AjvLike>(AjvDraft04Module);
const addFormats = interop<(ajv: AjvLike) => void>(addFormatsModule);
const llValidate =
  interop<(statement: unknown) => { name: string; path: (string | number)[]; typeName?: string; keys?: string[] }[]>(llValidateModule);

/** Problems of one statement, each "<path>: <what>"; empty = valid. */
export type StatementCheck = (statement: JsonObject) => string[];

/** xAPI 1.0.3: Learning Locker's rules, the warning's path without its leading "statement". */
export function xapiStatementProblems(statement: JsonObject): string[] {
  return llValidate(statement).map((w) => {
    const path = w.path[0] === "statement" ? w.path.slice(1) : w.path;
    const detail = w.typeName ? `must be ${w.typeName}` : w.keys ? `not allowed: ${w.keys.join(", ")}` : w.name;
    return `${path.length > 0 ? path.join(".") : "statement"}: ${detail} (${w.name})`;
  });
}

const EVENT_ID_RE = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** ISO 8601 durations with fractions on any part; ajv-formats' own refuses PT0.5S, which the built-ins write. */
const DURATION_RE =
  /^P(?!$)(\d+(?:[.,]\d+)?Y)?(\d+(?:[.,]\d+)?M)?(\d+(?:[.,]\d+)?W)?(\d+(?:[.,]\d+)?D)?(T(?=\d)(\d+(?:[.,]\d+)?H)?(\d+(?:[.,]\d+)?M)?(\d+(?:[.,]\d+)?S)?)?$/;

function compileCaliperSchemas(): AjvLike {
  const ajv = new AjvDraft04({ allErrors: true, strict: false, logger: false, inlineRefs: false });
  addFormats(ajv);
  ajv.addFormat("duration", DURATION_RE);
  ajv.addFormat("uint32", { type: "number", validate: (n: number) => Number.isInteger(n) && n >= 0 && n <= 4294967295 });
  for (const schema of Object.values(caliperSchemas as Record<string, Record<string, unknown>>)) {
    // The files say "schema" where draft-04 means "$schema"; a copy, the imported object stays as shipped.
    const { schema: _ignored, ...rest } = schema;
    ajv.addSchema(rest);
  }
  return ajv;
}

function at(doc: unknown, pointer: string): unknown {
  let cur = doc;
  for (const part of pointer.split("/").slice(1))
    cur = typeof cur === "object" && cur !== null ? (cur as Record<string, unknown>)[part] : undefined;
  return cur;
}

/**
 * ajv's errors, one per place: every entity slot is an `anyOf` over ~75 entity types, so one wrong `type` yields
 * one error per alternative ("must match pattern ^Agent$", ...); the first per path says enough, and a wrong type
 * is named by its value.
 */
function formatAjv(errors: readonly ErrorObject[] | null | undefined, event: JsonObject): string[] {
  const byPath = new Map<string, string>();
  for (const e of errors ?? []) {
    if (e.keyword === "anyOf" || e.keyword === "oneOf" || byPath.has(e.instancePath)) continue;
    const path = e.instancePath === "" ? "event" : e.instancePath.slice(1).replaceAll("/", ".");
    const wrongType = e.instancePath.endsWith("/type") && (e.keyword === "pattern" || e.keyword === "enum");
    byPath.set(
      e.instancePath,
      wrongType
        ? `${path}: ${JSON.stringify(at(event, e.instancePath))} is not a Caliper 1.2 type allowed here`
        : `${path}: ${e.message ?? e.keyword}`,
    );
  }
  return [...byPath.values()].slice(0, 5);
}

/** A Caliper 1.2 checker; its schemas compile on the first call. */
export function createCaliperCheck(): StatementCheck {
  let ajv: AjvLike | undefined;
  return (event) => {
    ajv ??= compileCaliperSchemas();
    const type = event["type"];
    if (typeof type !== "string") return ["type: must be a Caliper event type"];
    const validate = ajv.getSchema(type);
    if (!validate) return [`type: no Caliper 1.2 schema for "${type}"`];
    const problems: string[] = [];
    if (!validate(event)) {
      const found = formatAjv(validate.errors, event);
      problems.push(...(found.length > 0 ? found : [`event: does not match the ${type} schema`]));
    }
    const id = event["id"];
    if (typeof id !== "string" || !EVENT_ID_RE.test(id)) problems.push("id: must be urn:uuid:<UUID>");
    return problems;
  };
}

/** The checks per backend, one instance per service (the Caliper schemas compile once, on first use). */
export interface StatementChecks {
  readonly xapi: StatementCheck;
  readonly caliper: StatementCheck;
}

export function createStatementChecks(): StatementChecks {
  return { xapi: xapiStatementProblems, caliper: createCaliperCheck() };
}

export function checkFor(checks: StatementChecks, backend: BackendName): StatementCheck {
  return checks[backend];
}
