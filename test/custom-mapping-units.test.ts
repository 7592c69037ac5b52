// biome-ignore-all lint/suspicious/noTemplateCurlyInString: mapping templates use ${...} in plain strings.
/**
 * The custom mapping core without a network (src/transform/custom/): compiling and its errors naming the field,
 * the expression language and its limits, the shared parts added by the built-in helpers (ids ERB's rule gives),
 * the sample check against the xAPI and Caliper validators, and which transformer the registry view picks.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { compileMapping } from "../src/transform/custom/compile-mapping.js";
import { checkMapping, runCompiled, sampleEnv } from "../src/transform/custom/mapping-check.js";
import type { MappingSpec } from "../src/transform/custom/mapping-format.js";
import { MappingSet, withMappings } from "../src/transform/custom/mapping-set.js";
import { createStatementChecks } from "../src/transform/custom/statement-checks.js";
import { MappingError } from "../src/transform/custom/template.js";
import { eventFromObject, type JsonObject } from "../src/transform/edx-event.js";
import { xapiStatementId } from "../src/transform/statement-id.js";
import type { TransformSettings } from "../src/transform/transform-env.js";
import { createXapiRegistry } from "../src/transform/xapi/index.js";

const SETTINGS: TransformSettings = {
  lmsRootUrl: "http://lms.example.org",
  transformerVersion: "event-routing@test",
  agentIfiType: "external_id",
};
const checks = createStatementChecks();

const BOOKMARK_EVENT: JsonObject = {
  name: "edx.bookmark.added",
  timestamp: "2024-03-01T10:00:00.123456+00:00",
  context: { user_id: 7, course_id: "course-v1:edX+Demo+2024", org_id: "edX", path: "/api/bookmarks/v1/bookmarks/" },
  data: {
    course_id: "course-v1:edX+Demo+2024",
    component_type: "vertical",
    component_usage_id: "block-v1:edX+Demo+2024+type@vertical+block@abc",
    bookmark_id: "7,block-v1:edX+Demo+2024+type@vertical+block@abc",
  },
};

function xapiSpec(over: Partial<MappingSpec> = {}): MappingSpec {
  return {
    id: "bookmark-added",
    displayName: "",
    description: "",
    backend: "xapi",
    eventNames: ["edx.bookmark.added"],
    eventPattern: "",
    replaceBuiltin: false,
    disabled: false,
    conditions: [{ require: "data.component_usage_id", skipReason: "no bookmarked component" }],
    statements: [
      {
        verb: { id: "https://w3id.org/xapi/adl/verbs/bookmarked", display: { "en-US": "bookmarked" } },
        object: {
          id: "${xblock_iri(data.component_usage_id)}",
          definition: { type: "http://adlnet.gov/expapi/activities/module", name: { "en-US": "${data.component_type}" } },
        },
        context: { extensions: { "https://w3id.org/xapi/openedx/extension/bookmark-id": "${data.bookmark_id}" } },
      },
    ],
    samples: [BOOKMARK_EVENT],
    ...over,
  };
}

function refused(spec: MappingSpec, field: RegExp): void {
  assert.throws(
    () => checkMapping(spec, SETTINGS, checks),
    (e: unknown) => e instanceof MappingError && field.test(e.message),
  );
}

test("an xAPI mapping builds its statement with the built-ins' shared parts and ERB's statement id", () => {
  const compiled = checkMapping(xapiSpec(), SETTINGS, checks);
  const env = sampleEnv(SETTINGS);
  const r = runCompiled(compiled, eventFromObject(BOOKMARK_EVENT), env);
  assert.equal(r.outcome, "transformed");
  assert.ok(r.outcome === "transformed");
  assert.equal(r.transformer, "mapping:bookmark-added");
  const s = r.statements[0]!;
  const actor = { objectType: "Agent" as const, account: { homePage: SETTINGS.lmsRootUrl, name: env.user!.externalId! } };
  assert.deepEqual(s["actor"], actor);
  const verb = { id: "https://w3id.org/xapi/adl/verbs/bookmarked", display: { "en-US": "bookmarked" } };
  assert.equal(s["id"], xapiStatementId(verb, actor, "2024-03-01T10:00:00.123456+00:00"));
  assert.equal((s["object"] as JsonObject)["id"], "http://lms.example.org/xblock/block-v1:edX+Demo+2024+type@vertical+block@abc");
  const context = s["context"] as JsonObject;
  const ext = context["extensions"] as JsonObject;
  assert.equal(ext["https://w3id.org/xapi/openedx/extension/transformer-version"], "event-routing@test");
  assert.equal(ext["https://w3id.org/xapi/openedx/extension/bookmark-id"], "7,block-v1:edX+Demo+2024+type@vertical+block@abc");
  const parent = (context["contextActivities"] as { parent: JsonObject[] }).parent[0]!;
  assert.equal(parent["id"], "http://lms.example.org/course/course-v1:edX+Demo+2024");
  assert.equal(s["version"], "1.0.3");
});

test("a condition that fails skips the event with the mapping's reason", () => {
  const compiled = compileMapping(xapiSpec());
  const event = eventFromObject({ ...BOOKMARK_EVENT, data: { course_id: "x" } });
  const r = runCompiled(compiled, event, sampleEnv(SETTINGS));
  assert.equal(r.outcome, "skipped");
  assert.ok(r.outcome === "skipped");
  assert.equal(r.reason, "no bookmarked component");
  assert.equal(r.skip.kind, "condition_failed");
});

test("a Caliper mapping passes the Caliper 1.2 schemas and gets isPartOf, actor and a urn:uuid id", () => {
  const spec = xapiSpec({
    id: "bookmark-caliper",
    backend: "caliper",
    conditions: [],
    statements: [
      {
        type: "AnnotationEvent",
        action: "Bookmarked",
        object: { id: "${xblock_iri(data.component_usage_id)}", type: "Page", name: "${data.component_type}" },
        generated: { id: "${lms_iri(concat('/bookmarks/', data.bookmark_id))}", type: "BookmarkAnnotation" },
      },
    ],
  });
  const compiled = checkMapping(spec, SETTINGS, checks);
  const r = runCompiled(compiled, eventFromObject(BOOKMARK_EVENT), sampleEnv(SETTINGS));
  assert.ok(r.outcome === "transformed");
  const e = r.statements[0]!;
  assert.match(String(e["id"]), /^urn:uuid:/);
  assert.deepEqual((e["object"] as JsonObject)["extensions"], {
    isPartOf: { id: "http://lms.example.org/course/course-v1:edX+Demo+2024", type: "CourseOffering" },
  });
  assert.deepEqual(e["actor"], { id: `http://lms.example.org/user/${sampleEnv(SETTINGS).user!.externalId}`, type: "Person" });
});

test("an invalid statement is refused at registration, naming the sample, statement and field", () => {
  const bad = xapiSpec({
    statements: [{ verb: { id: "not an iri", display: { "en-US": "x" } }, object: { id: "${xblock_iri(data.component_usage_id)}" } }],
  });
  refused(bad, /^samples\[0\]: statement 0: verb\.id: /);
  const badCaliper = xapiSpec({
    backend: "caliper",
    conditions: [],
    statements: [{ type: "AnnotationEvent", action: "Bookmarked", object: { id: "x", type: "NoSuchEntity" } }],
  });
  refused(badCaliper, /^samples\[0\]: statement 0: /);
});

test("compile errors name the field", () => {
  refused(xapiSpec({ id: "Bad Id" }), /^id: /);
  refused(xapiSpec({ eventNames: [], eventPattern: "" }), /^event_names: /);
  refused(xapiSpec({ eventNames: [], eventPattern: "(a" }), /^event_pattern: /);
  refused(xapiSpec({ eventPattern: "(a)\\1" }), /^event_pattern: .*RE2/);
  refused(
    xapiSpec({ statements: [{ verb: { id: "${nope(1)}" }, object: { id: "x" } }] }),
    /^statements\[0\]\.verb\.id: unknown function nope\(\)/,
  );
  refused(xapiSpec({ statements: [{ verb: { id: "${concat(}" }, object: { id: "x" } }] }), /^statements\[0\]\.verb\.id: expression/);
  refused(xapiSpec({ statements: [{ actor: {}, verb: { id: "x" }, object: { id: "x" } }] }), /^statements\[0\]\.actor: not allowed/);
  refused(xapiSpec({ statements: [{ verb: { id: "${matches(data.x, data.y)}" }, object: { id: "x" } }] }), /pattern must be a quoted text/);
  refused(
    xapiSpec({ statements: [{ verb: { id: `\${${"(".repeat(40)}1${")".repeat(40)}}` }, object: { id: "x" } }] }),
    /nested deeper than/,
  );
  refused(xapiSpec({ samples: [{ ...BOOKMARK_EVENT, name: "other.event" }] }), /^samples\[0\]\.name: /);
  refused(xapiSpec({ samples: [] }), /^samples: /);
});

test("expressions: paths, ?? fallback, functions, text with a missing part leaves the key out", () => {
  const spec = xapiSpec({
    conditions: [],
    statements: [
      {
        verb: { id: "https://w3id.org/xapi/adl/verbs/bookmarked", display: { "en-US": "${upper(data.component_type)}" } },
        object: {
          id: "${xblock_iri(data.component_usage_id)}",
          definition: {
            type: "http://adlnet.gov/expapi/activities/module",
            name: { "en-US": "${data.title ?? data.component_type}" },
            description: { "en-US": "about ${data.missing}" },
            extensions: {
              "https://example.org/x/count": "${count(split(data.bookmark_id, ','))}",
              "https://example.org/x/search": "${find('org_id')}",
              "https://example.org/x/half": "${round(div(7, 2), 1)}",
              "https://example.org/x/if": "${if(matches(data.component_type, '^vert'), 'v', 'other')}",
              "https://example.org/x/literal": "$${not an expression}",
            },
          },
        },
      },
    ],
  });
  const r = runCompiled(checkMapping(spec, SETTINGS, checks), eventFromObject(BOOKMARK_EVENT), sampleEnv(SETTINGS));
  assert.ok(r.outcome === "transformed");
  const s = r.statements[0]!;
  assert.deepEqual((s["verb"] as JsonObject)["display"], { "en-US": "VERTICAL" });
  const def = (s["object"] as JsonObject)["definition"] as JsonObject;
  assert.deepEqual(def["name"], { "en-US": "vertical" });
  assert.equal(def["description"], undefined, "a text with a missing part is missing, and so is the map it empties");
  assert.deepEqual(def["extensions"], {
    "https://example.org/x/count": 2,
    "https://example.org/x/search": "edX",
    "https://example.org/x/half": 3.5,
    "https://example.org/x/if": "v",
    "https://example.org/x/literal": "${not an expression}",
  });
});

test("hostile events reach a limit and skip the event instead of running long", () => {
  const copy = compileMapping(
    xapiSpec({
      conditions: [],
      statements: [
        {
          verb: { id: "https://w3id.org/xapi/adl/verbs/bookmarked" },
          object: { id: "http://x.example/a", definition: { extensions: { "https://example.org/x/all": "${data}" } } },
          result: { response: "${concat(data.s, data.s, data.s, data.s)}" },
        },
      ],
    }),
  );
  const env = sampleEnv(SETTINGS);
  const cases: [string, JsonObject][] = [
    ["huge array", { items: Array.from({ length: 50_000 }, (_, i) => i) }],
    ["huge string", { s: "x".repeat(20_000) }],
    ["deep value", JSON.parse(`${'{"a":'.repeat(25)}1${"}".repeat(25)}`) as JsonObject],
  ];
  for (const [what, data] of cases) {
    const started = performance.now();
    const r = runCompiled(copy, eventFromObject({ ...BOOKMARK_EVENT, data }), env);
    assert.equal(r.outcome, "skipped", what);
    assert.ok(r.outcome === "skipped");
    assert.equal(r.skip.kind, "limit_exceeded", `${what}: ${r.reason}`);
    assert.match(r.reason, /mapping limit reached/);
    assert.ok(performance.now() - started < 250, `${what} took ${performance.now() - started} ms`);
  }
});

test("the registry view: built-in first unless replace_builtin; mappings for events without a built-in", () => {
  const builtin = createXapiRegistry();
  const enrollment = "edx.course.enrollment.activated";
  assert.ok(builtin.has(enrollment));
  const shadow = compileMapping(xapiSpec({ id: "shadow", eventNames: [enrollment, "edx.bookmark.added"], samples: [] }));
  let set = new MappingSet([shadow]);
  const view = withMappings("xapi", builtin, () => set);
  assert.equal(view.get(enrollment)?.source, undefined, "the built-in stays without replace_builtin");
  assert.equal(view.get("edx.bookmark.added")?.source, "mapping:shadow");
  assert.equal(view.get("unknown.event"), undefined);
  set = new MappingSet([compileMapping(xapiSpec({ id: "replace", eventNames: [enrollment], replaceBuiltin: true, samples: [] }))]);
  assert.equal(view.get(enrollment)?.source, "mapping:replace");
  set = new MappingSet([compileMapping(xapiSpec({ id: "pat", eventNames: [], eventPattern: "edx\\.bookmark\\..*", samples: [] }))]);
  assert.equal(view.get("edx.bookmark.removed")?.source, "mapping:pat");
  assert.equal(view.get("xedx.bookmark.removed"), undefined, "the pattern is anchored");
  set = new MappingSet([compileMapping(xapiSpec({ id: "off", disabled: true, samples: [] }))]);
  assert.equal(view.get("edx.bookmark.added"), undefined, "a disabled mapping handles nothing");
});
