/**
 * Caliper output against the IMS Caliper 1.2 JSON Schemas (test/support/caliper-validator.ts): every event produced
 * from every raw fixture, every one of the 35 names (names without a raw fixture are exercised by renaming a
 * fixture of the same family), and one envelope holding all of them. An explicit (type, action, object type)
 * table per edX name pins what the schemas cannot (they accept any action and any object).
 *
 * Self-check of the validator on the IMS v1p2 fixtures: every valid fixture passes except the endpoint configuration
 * payload (not Caliper data), and every deliberate error fixture fails except four whose only defect is writing a
 * number without a decimal point: after JSON.parse they are identical to the valid fixture they were made from.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { eventFromObject, type EdxEvent, type JsonObject } from "../src/transform/edx-event.js";
import { applyEnvelopeOverrides, caliperEnvelope, caliperSensorId } from "../src/transform/caliper/envelope.js";
import { createCaliperRegistry } from "../src/transform/caliper/index.js";
import { transformForBackend, type BackendSettings } from "../src/transform/transform-event.js";
import {
  checkCaliperEntities,
  validateCaliperDocument,
  validateCaliperDocumentSchemaOnly,
  validateCaliperEnvelope,
  validateCaliperEvent,
} from "./support/caliper-validator.js";
import {
  CALIPER_REFERENCE_DIR,
  ERB_TEST_ENV,
  ERB_FIXTURES_DIR,
  isAnonymousFixture,
  rawFixtureFiles,
  readRawFixture,
} from "./support/erb-fixtures.js";

const registry = createCaliperRegistry();
const settings: BackendSettings = { backend: "caliper", enabled: true, filter: { kind: "all" }, registry };

type Kind = readonly [type: string, action: string, objectType: string];

/** The Caliper (type, action, object type) each edX name may produce: all 35 of ERB's Caliper names. */
const KINDS: Readonly<Record<string, readonly Kind[]>> = {
  "edx.course.enrollment.activated": [["Event", "Activated", "CourseOffering"]],
  "edx.course.enrollment.deactivated": [["Event", "Deactivated", "CourseOffering"]],
  "edx.course.grade.passed.first_time": [["Event", "Completed", "CourseOffering"]],
  "edx.ui.lms.sequence.next_selected": [["NavigationEvent", "NavigatedTo", "DigitalResourceCollection"]],
  "edx.ui.lms.sequence.previous_selected": [["NavigationEvent", "NavigatedTo", "DigitalResourceCollection"]],
  "edx.ui.lms.sequence.tab_selected": [["NavigationEvent", "NavigatedTo", "DigitalResourceCollection"]],
  "edx.ui.lms.link_clicked": [["NavigationEvent", "NavigatedTo", "WebPage"]],
  "edx.ui.lms.outline.selected": [["NavigationEvent", "NavigatedTo", "DigitalResource"]],
  "edx.ui.lms.sequence.outline.selected": [["NavigationEvent", "NavigatedTo", "DigitalResource"]],
  problem_check: [
    ["AssessmentEvent", "Submitted", "Assessment"],
    ["GradeEvent", "Graded", "Attempt"],
  ],
  "edx.grades.problem.submitted": [["AssessmentEvent", "Submitted", "Assessment"]],
  showanswer: [["Event", "Viewed", "Annotation"]],
  "edx.problem.hint.demandhint_displayed": [["Event", "Viewed", "Annotation"]],
  "edx.problem.completed": [["AssessmentItemEvent", "Completed", "AssessmentItem"]],
  ...Object.fromEntries(
    (
      [
        [["load_video", "edx.video.loaded"], "Started"],
        [["play_video", "edx.video.played"], "Resumed"],
        [["stop_video", "edx.video.stopped", "complete_video", "edx.video.completed"], "Ended"],
        [["pause_video", "edx.video.paused"], "Paused"],
        [["seek_video", "edx.video.position.changed"], "JumpedTo"],
        [
          ["hide_transcript", "edx.video.transcript.hidden", "edx.video.closed_captions.hidden", "video_hide_cc_menu"],
          "DisabledClosedCaptioning",
        ],
        [
          ["show_transcript", "edx.video.transcript.shown", "edx.video.closed_captions.shown", "video_show_cc_menu"],
          "EnabledClosedCaptioning",
        ],
        [["speed_change_video"], "ChangedSpeed"],
      ] as const
    ).flatMap(([names, action]) => names.map((n) => [n, [["MediaEvent", action, "VideoObject"]] as readonly Kind[]])),
  ),
};

/** Fixture used as the body for names that have no raw fixture of their own. */
const TEMPLATE_FOR_FAMILY: Readonly<Record<string, string>> = {
  video: "speed_change_video.json",
  navigation: "edx.ui.lms.outline.selected.json",
  problem: "edx.grades.problem.submitted.json",
  enrollment: "edx.course.enrollment.activated.json",
  "course grade": "edx.course.grade.passed.first_time.json",
};

function renamed(file: string, name: string, patch?: (body: JsonObject) => JsonObject): EdxEvent {
  const base = readRawFixture(file).body;
  const body = patch ? patch({ ...base, name }) : { ...base, name };
  return eventFromObject(body);
}

/** Every produced event: all raw fixtures, plus a renamed fixture for each name without one. */
function producedEvents(): { label: string; name: string; statements: JsonObject[] }[] {
  const out: { label: string; name: string; statements: JsonObject[] }[] = [];
  const covered = new Set<string>();
  const run = (label: string, event: EdxEvent) => {
    const r = transformForBackend(settings, event, ERB_TEST_ENV);
    if (r.outcome === "transformed") {
      covered.add(event.name);
      out.push({ label, name: event.name, statements: r.statements });
    }
    return r;
  };
  for (const file of rawFixtureFiles()) {
    if (isAnonymousFixture(file)) continue;
    const event = readRawFixture(file);
    if (registry.has(event.name)) run(file, event);
  }
  for (const t of registry.entries()) {
    if (covered.has(t.eventName)) continue;
    const template = TEMPLATE_FOR_FAMILY[t.family];
    assert.ok(template, `no template for family ${t.family}`);
    const r = run(`${template} as ${t.eventName}`, renamed(template, t.eventName));
    assert.equal(r.outcome, "transformed", `${t.eventName}: ${r.outcome !== "transformed" ? r.reason : ""}`);
  }
  // The sequence branch of sequence.outline.selected (ERB's only branch): a sequence event renamed.
  run(
    "tab_selected as sequence.outline.selected",
    renamed("edx.ui.lms.sequence.tab_selected.json", "edx.ui.lms.sequence.outline.selected"),
  );
  return out;
}

const produced = producedEvents();

test("the Caliper registry has exactly ERB's 35 names, each with a kind table entry", () => {
  assert.equal(registry.eventNames().length, 35);
  assert.deepEqual(registry.eventNames().sort(), Object.keys(KINDS).sort());
});

test("every Caliper name produced at least one event", () => {
  const names = new Set(produced.map((p) => p.name));
  assert.deepEqual([...names].sort(), registry.eventNames().sort());
});

test("every produced event validates against the Caliper 1.2 schemas and the profile table", () => {
  let n = 0;
  for (const p of produced) {
    for (const [i, s] of p.statements.entries()) {
      n++;
      assert.deepEqual(validateCaliperEvent(s), [], `${p.label}[${i}]`);
    }
  }
  assert.ok(n >= 45, `only ${n} events validated`);
});

test("every produced event has the (type, action, object type) its edX name allows", () => {
  for (const p of produced) {
    const allowed = KINDS[p.name];
    assert.ok(allowed, `${p.name}: not in the kind table`);
    for (const s of p.statements) {
      const kind = [s["type"], s["action"], (s["object"] as JsonObject)["type"]];
      assert.ok(
        allowed.some((k) => k[0] === kind[0] && k[1] === kind[1] && k[2] === kind[2]),
        `${p.label}: (${kind.join(", ")}) not allowed for ${p.name}`,
      );
    }
  }
  // Both problem_check branches are exercised.
  const checks = produced.filter((p) => p.name === "problem_check").map((p) => p.statements[0]!["type"]);
  assert.ok(checks.includes("AssessmentEvent") && checks.includes("GradeEvent"));
});

test("one envelope of all produced events validates (spec §5)", () => {
  const events = produced.flatMap((p) => p.statements);
  const envelope = caliperEnvelope(caliperSensorId(ERB_TEST_ENV), events, new Date("2026-01-02T03:04:05.678Z"));
  assert.equal(envelope["sensor"], "http://localhost:18000");
  assert.equal(envelope["sendTime"], "2026-01-02T03:04:05.678Z");
  assert.equal((envelope["data"] as JsonObject[]).length, events.length);
  assert.deepEqual(validateCaliperEnvelope(envelope), []);
  // ...and each event alone in its own envelope (a batch of one).
  for (const p of produced) assert.deepEqual(validateCaliperEnvelope(caliperEnvelope("http://localhost:18000", p.statements)), [], p.label);
  // override_args apply at the envelope root; data cannot be replaced.
  const overridden = applyEnvelopeOverrides(envelope, { sensor: "https://sensor.example.org/lms", data: [] });
  assert.equal(overridden["sensor"], "https://sensor.example.org/lms");
  assert.equal((overridden["data"] as JsonObject[]).length, events.length);
  assert.deepEqual(validateCaliperEnvelope(overridden), []);
  assert.equal(caliperSensorId(ERB_TEST_ENV, "https://configured.example"), "https://configured.example");
  // The hand-written envelope checks bite.
  assert.match(validateCaliperEnvelope(applyEnvelopeOverrides(envelope, { extra: 1 })).join("\n"), /custom properties/);
  assert.match(validateCaliperEnvelope({ ...envelope, data: [] }).join("\n"), /non-empty array/);
  assert.match(validateCaliperEnvelope({ ...envelope, sendTime: "2026-01-02T03:04:05Z" }).join("\n"), /sendTime/);
  assert.match(
    validateCaliperEnvelope({ ...envelope, dataVersion: "http://purl.imsglobal.org/ctx/caliper/v1p1" }).join("\n"),
    /dataVersion/,
  );
});

test("the profile table rejects what the schemas accept", () => {
  const event = produced.find((p) => p.name === "play_video")!.statements[0]!;
  assert.deepEqual(validateCaliperDocumentSchemaOnly({ ...event, action: "Submitted" }), []);
  assert.match(validateCaliperEvent({ ...event, action: "Submitted" }).join("\n"), /action: "Submitted" is not allowed for MediaEvent/);
  const wrongObject = { ...event, object: { id: "https://example.edu/p/1", type: "Person" } };
  assert.deepEqual(validateCaliperDocumentSchemaOnly(wrongObject), []);
  assert.match(validateCaliperEvent(wrongObject).join("\n"), /object\/type: "Person"/);
  assert.match(validateCaliperEvent({ ...event, id: "not-a-uuid" }).join("\n"), /urn:uuid/);
});

test("the entity rules reject what the schemas accept, inside our own events too", () => {
  const graded = produced.find((p) => p.statements[0]!["type"] === "GradeEvent")!.statements[0]!;
  const video = produced.find((p) => p.name === "play_video")!.statements[0]!;
  const cases: [JsonObject, RegExp][] = [
    // Session.user is a Person (the schema allows any Agent).
    [
      {
        ...video,
        session: {
          id: "https://example.edu/sessions/1",
          type: "Session",
          user: { id: "https://example.edu/app", type: "SoftwareApplication" },
        },
      },
      /session\/user\/type: "SoftwareApplication" is not allowed/,
    ],
    // Score.comment is xsd:string in the JSON-LD context (the Score schema has no `comment`).
    [{ ...graded, generated: { ...(graded["generated"] as JsonObject), comment: 1 } }, /generated\/comment: must be a string/],
    // Attempt.isPartOf is the parent Attempt; an entity-valued string must be an IRI.
    [
      { ...graded, object: { ...(graded["object"] as JsonObject), isPartOf: { id: "https://example.edu/u/1", type: "Person" } } },
      /object\/isPartOf\/type: "Person"/,
    ],
    [
      { ...video, object: { ...(video["object"] as JsonObject), isPartOf: "not an IRI" } },
      /object\/isPartOf: "not an IRI" is neither an entity nor an IRI/,
    ],
  ];
  for (const [doc, re] of cases) {
    assert.deepEqual(validateCaliperDocumentSchemaOnly(doc), [], `schema alone accepts ${re}`);
    assert.match(validateCaliperEvent(doc).join("\n"), re);
  }
  // Our produced events do exercise the rules: they hold nested Person, Session, Attempt, Score, VideoObject...
  assert.deepEqual(checkCaliperEntities(graded), []);
  // schema_1_2's Membership.roles enum lacks "Manager#Manager" (patched in memory); unknown roles still fail.
  const membership = { id: "https://example.edu/m/1", type: "Membership", roles: ["Manager#Manager"] };
  assert.deepEqual(validateCaliperEvent(membership), []);
  assert.notDeepEqual(validateCaliperEvent({ ...membership, roles: ["Manager#Boss"] }), []);
});

/** ERB's own expected Caliper output: these files violate the spec, which is why we deviate (see golden test). */
const ERB_EXPECTED_INVALID = [
  "edx.ui.lms.link_clicked(anonymous_user).json", // object type "Webpage"
  "edx.ui.lms.link_clicked.json", // object type "Webpage"
  "edx.ui.lms.link_clicked.required.only.data.json", // object type "Webpage"
  "problem_check(browser).required.only.data.json", // Assessment without id
  "problem_check(server).json", // generated {score: ...} is not an entity (profile table)
];

test("ERB's expected Caliper fixtures: exactly the known spec violations fail", () => {
  const dir = join(ERB_FIXTURES_DIR, "caliper");
  const invalid: string[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()) {
    const parsed = JSON.parse(readFileSync(join(dir, file), "utf8")) as JsonObject | JsonObject[];
    const items = Array.isArray(parsed) ? parsed : [parsed];
    if (items.some((e) => validateCaliperEvent(e).length > 0)) invalid.push(file);
  }
  assert.deepEqual(invalid, ERB_EXPECTED_INVALID);
});

// ---------------------------------------------------------------------------------------------------------------
// Self-check of the validator on the IMS fixtures (1EdTech caliper-spec develop, fixtures/v1p2).
// ---------------------------------------------------------------------------------------------------------------

const IMS_DIR = join(CALIPER_REFERENCE_DIR, "fixtures_v1p2");
const IMS_ERRORS_DIR = join(IMS_DIR, "commonErrorFixtures");

/** Valid IMS fixtures we do not accept, and why. */
const IMS_VALID_EXCEPTIONS: Readonly<Record<string, string>> = {
  "caliperEndpointConfigPayload.json":
    "an endpoint configuration payload (spec §6, what a Caliper endpoint advertises), not a Caliper event, entity or envelope: it has no type",
};

/**
 * Deliberate error fixtures no validator of parsed JSON can reject, each mapped to the valid fixture it was made
 * from. Their only change is a number written without a decimal point (`25` for `25.0`, `50` for `50.0`); JSON
 * (RFC 8259 §6) has one number type, JSON.parse yields identical documents, and the properties are xsd:decimal in
 * the JSON-LD context, whose lexical space includes `25`. A rule on the source text would be wrong per spec and
 * would reject our own GradeEvents: JSON.stringify writes Score.maxScore 1.0 as `1`. The test proves the identity.
 */
const IMS_ERRORS_SAME_AS_VALID: Readonly<Record<string, string>> = {
  "caliperEntityAggregateMeasure-MalformedMaxMetricValueNotAnInt.json": "caliperEntityAggregateMeasure.json",
  "caliperEntityAggregateMeasure-MalformedMetricValueNotAnInt.json": "caliperEntityAggregateMeasure.json",
  "caliperEntityAssignableDigitalResource-MalformedMaxScoreNotAFloat.json": "caliperEntityAssignableDigitalResource.json",
  "caliperEntityScore-MalformedMaxScoreNotAnInt.json": "caliperEntityScore.json",
};

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return undefined; // caliperEntity-BadJson: not JSON at all, so rejected
  }
}

test("IMS v1p2 valid fixtures pass (except the endpoint configuration payload)", () => {
  const files = readdirSync(IMS_DIR)
    .filter((f) => f.endsWith(".json"))
    .sort();
  assert.equal(files.length, 145);
  const failing: string[] = [];
  for (const f of files) {
    const errors = validateCaliperDocument(readJson(join(IMS_DIR, f)));
    if (errors.length > 0) failing.push(f);
  }
  assert.deepEqual(failing, Object.keys(IMS_VALID_EXCEPTIONS).sort());
});

test("IMS v1p2 error fixtures all fail, except four that parse to their valid fixture", () => {
  const files = readdirSync(IMS_ERRORS_DIR)
    .filter((f) => f.endsWith(".json"))
    .sort();
  assert.equal(files.length, 279);
  const accepted: string[] = [];
  let schemaOnlyAccepted = 0;
  for (const f of files) {
    const doc = readJson(join(IMS_ERRORS_DIR, f));
    if (doc === undefined) continue;
    if (validateCaliperDocument(doc).length === 0) accepted.push(f);
    if (validateCaliperDocumentSchemaOnly(doc).length === 0) schemaOnlyAccepted++;
  }
  assert.equal(schemaOnlyAccepted, 91, "the schemas alone accept 91 error fixtures (XAPI-CALIPER-VALIDATION.md §3.2)");
  assert.deepEqual(accepted, Object.keys(IMS_ERRORS_SAME_AS_VALID).sort());
  for (const [bad, good] of Object.entries(IMS_ERRORS_SAME_AS_VALID)) {
    assert.notEqual(readFileSync(join(IMS_ERRORS_DIR, bad), "utf8"), readFileSync(join(IMS_DIR, good), "utf8"));
    assert.deepStrictEqual(readJson(join(IMS_ERRORS_DIR, bad)), readJson(join(IMS_DIR, good)), `${bad} parses to ${good}`);
  }
});
