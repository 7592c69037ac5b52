/**
 * The custom mapping format: a transformer written as data (issue 23), what an ERB plugin transformer
 * (`XApiTransformersRegistry.register(...)`) does without code or a release. A mapping file is the JSON form of the
 * proto `Mapping` (proto/eventrouting/v1/mapping_admin_service.proto), written as YAML or JSON:
 *
 *   id: bookmark-added                   # [a-z0-9_-]{1,64}; results name it "mapping:bookmark-added"
 *   backend: BACKEND_XAPI                # or BACKEND_CALIPER ("xapi" / "caliper" accepted in files)
 *   event_names: [edx.bookmark.added]    # exact names, and/or
 *   event_pattern: "edx\\.bookmark\\..*" # RE2, matched against the whole name
 *   replace_builtin: false               # only with true does it take over an event a built-in handles
 *   conditions:                          # the event is SKIPPED with the reason when a value is missing
 *     - {require: data.component_usage_id, skip_reason: "no bookmarked component"}
 *   statements:                          # one template per statement produced, in the statement's own shape
 *     - verb: {id: "https://w3id.org/xapi/adl/verbs/bookmarked", display: {en-US: bookmarked}}
 *       object:
 *         id: "${xblock_iri(data.component_usage_id)}"
 *         definition: {type: "http://adlnet.gov/expapi/activities/module", name: {en-US: "${data.component_type}"}}
 *   samples: [ {name: edx.bookmark.added, timestamp: "...", context: {...}, data: {...}} ]
 *
 * The shared parts come from the built-in transformers' own helpers and a template cannot write them: xAPI `id`
 * (ERB's uuid5 rule), `actor` (identity table, HMAC ids, mbox modes), `timestamp`, `version`, the transformer-version
 * and session-id context extensions and the course as contextActivities.parent (a template's own `parent`
 * replaces it); Caliper `@context`, `id`, `actor`, `eventTime`, `session`, `extensions.transformerVersion` and the
 * object's `extensions.isPartOf`.
 *
 * Templates. Any string in a template may hold `${expression}` parts. A string that is exactly one `${...}` takes
 * the expression's JSON value (a number stays a number, an object stays an object); a string mixing text and
 * parts is text. A missing value (no such field, or null) leaves the key out, and a text with a missing part is
 * missing as a whole (so no IRI is built with a hole in it); a statement then missing `verb.id` or `object.id`
 * is skipped like a built-in's. `$${` writes a literal `${`.
 *
 * Expressions: a path, a literal, a function call, or `a ?? b` (the first that is not missing).
 *   paths      data.problem_id, context.course_id, event.answers[0], data["odd key"]: exact paths into the event
 *              as it arrived (either ERB shape); no search. Variables: $name (event name), $timestamp (the raw
 *              timestamp), $lms (LMS root URL), $course_name (from the course directory; missing when unknown).
 *   literals   'text' or "text", numbers, true, false, null.
 *   functions  a fixed set (MAPPING_FUNCTIONS in expression-functions.ts): IRIs (lms_iri, course_iri, xblock_iri),
 *              ERB look-ups (find: get_data's depth-first search; payload: data.<key> else event.<key>), time
 *              (duration: seconds as ISO 8601, as the built-ins write it; timestamp), text (concat, lower, upper,
 *              trim, replace, split, join, substring, json), RE2 (matches, extract; the pattern a literal, compiled
 *              once), numbers (number, add, sub, mul, div, round, min, max), logic (if, eq, not, and, or, exists,
 *              default), lists and objects (count, first, last, at, get).
 *
 * Why a small path language and not JSONata: the transform path is synchronous and hot (EmitBatch runs it per
 * event in a tight loop), and jsonata 2.x's evaluate() is async; its loops, recursion and higher-order functions
 * would need a timer, a depth guard and an output cap around every call, and a time limit is only as good as the
 * event loop checking it. Here there is nothing to loop or recurse with: an expression's cost is bounded by its
 * size times the sizes it reads, every function counts its work against one budget per event
 * (MAPPING_LIMITS.workUnits), and every value built is capped in length, entries and depth. A mapping that hits a
 * limit on some event skips that event with the reason; it cannot stall the service.
 */
import type { JsonObject, JsonValue } from "../edx-event.js";
import type { BackendName } from "../registry.js";

/** A JSON value whose strings may hold `${expression}` parts. */
export type Template = JsonValue;

/** `{lang: text}` maps (xAPI language maps). */
export type LanguageMapTemplate = Readonly<Record<string, Template>>;

/** An xAPI statement template. Unlisted statement keys (`attachments`, ...) are refused; listed ones are optional. */
export interface XapiStatementTemplate {
  readonly verb: { readonly id: Template; readonly display?: LanguageMapTemplate };
  /** An Activity (default objectType), Agent, Group, StatementRef or SubStatement, as the xAPI spec allows. */
  readonly object: Readonly<Record<string, Template>>;
  readonly result?: Readonly<Record<string, Template>>;
  /**
   * Any xAPI context property. `contextActivities` adds to the course parent (or replaces it with its own
   * `parent`); `extensions` adds to the transformer-version and session-id extensions, which it cannot replace.
   */
  readonly context?: Readonly<Record<string, Template>>;
}

/** A Caliper 1.2 event template. */
export interface CaliperEventTemplate {
  /** e.g. "NavigationEvent". */
  readonly type: Template;
  /** e.g. "NavigatedTo". */
  readonly action: Template;
  /** `{id, type, name, description, ...entity fields, extensions}`; extensions.isPartOf is added. */
  readonly object: Readonly<Record<string, Template>>;
  readonly target?: Readonly<Record<string, Template>>;
  readonly generated?: Readonly<Record<string, Template>>;
  /** Event-level extensions besides transformerVersion (which it cannot replace). */
  readonly extensions?: Readonly<Record<string, Template>>;
}

export interface MappingCondition {
  /** An expression; the condition fails when its value is missing by ERB's get_data rule (null, "", false, [], {}). */
  readonly require: string;
  /** Default: `<require> is missing`. */
  readonly skipReason?: string;
}

/** A mapping as the service keeps it (the model behind the proto `Mapping`); pure data. */
export interface MappingSpec {
  readonly id: string;
  readonly displayName: string;
  readonly description: string;
  readonly backend: BackendName;
  readonly eventNames: readonly string[];
  /** "" when none. */
  readonly eventPattern: string;
  readonly replaceBuiltin: boolean;
  readonly disabled: boolean;
  readonly conditions: readonly MappingCondition[];
  /** XapiStatementTemplate or CaliperEventTemplate, by backend; checked by the compiler. */
  readonly statements: readonly JsonObject[];
  /** Events in either ERB input shape. */
  readonly samples: readonly JsonObject[];
}

/** A mapping file (YAML or JSON) as written: the proto Mapping's JSON form, with short backend names allowed. */
export interface MappingFile {
  readonly id: string;
  readonly display_name?: string;
  readonly description?: string;
  readonly backend: "BACKEND_XAPI" | "BACKEND_CALIPER" | "xapi" | "caliper";
  readonly event_names?: readonly string[];
  readonly event_pattern?: string;
  readonly replace_builtin?: boolean;
  readonly disabled?: boolean;
  readonly conditions?: readonly { readonly require: string; readonly skip_reason?: string }[];
  readonly statements: readonly JsonObject[];
  readonly samples?: readonly JsonObject[];
}

/**
 * The limits that make every mapping bounded. Compile-time limits refuse the mapping; run-time limits skip the one
 * event that reaches them (SKIPPED, kind "limit_exceeded", the reason naming the limit and where).
 */
export const MAPPING_LIMITS = {
  /** Mapping id: like a router id (a KV key and a result label). */
  idMaxLength: 64,
  /** Statement templates per mapping. */
  maxStatements: 20,
  /** Conditions per mapping. */
  maxConditions: 50,
  /** Samples per mapping (each is run at every create and update). */
  maxSamples: 50,
  /** One expression's source text. */
  maxExpressionLength: 2_000,
  /** Nesting of calls and brackets in one expression (the parser stops there, it does not recurse deeper). */
  maxExpressionDepth: 16,
  /** Nesting of a template's objects and lists. */
  maxTemplateDepth: 12,
  /** Work per event and mapping: path steps, call steps, and characters or entries each function reads or writes. */
  workUnits: 200_000,
  /** Characters of any one string value built. */
  maxStringLength: 32_768,
  /** Entries of any one list or object value built or copied from the event. */
  maxEntries: 1_000,
  /** Nesting of any value built or copied from the event. */
  maxValueDepth: 12,
  /** One statement as JSON text. */
  maxStatementBytes: 256 * 1024,
} as const;
