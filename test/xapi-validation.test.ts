/**
 * Every statement we produce passes BOTH independent xAPI validators with zero warnings: Learning Locker's rules
 * and Rustici's JSON Schema. Covered inputs: every ERB raw fixture in its own shape and converted to the other
 * input shape; every registered event name without a fixture of its own (a fixture of the same mapping, renamed);
 * the IFI modes; an unknown course name. Statements ERB would drop are never published, with a reason.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { EdxEvent, JsonObject } from "../src/transform/edx-event.js";
import type { Transformer } from "../src/transform/registry.js";
import { v5 as uuidv5 } from "uuid";
import { actorJson, verbJson, type IdVerb, type XapiAgent } from "../src/transform/statement-id.js";
import type { TransformEnv } from "../src/transform/transform-env.js";
import { transformForBackend, type BackendSettings } from "../src/transform/transform-event.js";
import { createXapiRegistry } from "../src/transform/xapi/index.js";
import {
  ERB_TEST_ENV,
  ERB_TEST_ENV_NO_USER,
  isAnonymousFixture,
  rawFixtureFiles,
  readExpectedFixture,
  readRawFixture,
} from "./support/erb-fixtures.js";
import { isLogShaped, renamed, toLiveShape, toLogShape } from "./support/event-shapes.js";
import { learningLockerWarnings, tincanSchemaErrors, xapiValidationProblems } from "./support/xapi-validators.js";

const registry = createXapiRegistry();
const settings: BackendSettings = { backend: "xapi", enabled: true, filter: { kind: "all" }, registry };

/** Fixtures whose statements are dropped (never published) and why. */
const DROPPED: Readonly<Record<string, string>> = {
  "problem_check(browser).required.only.data.json": "no object id",
};

interface Case {
  readonly label: string;
  readonly event: EdxEvent;
  readonly dropped?: string;
}

function fixtureCases(): Case[] {
  const cases: Case[] = [];
  for (const file of rawFixtureFiles()) {
    if (isAnonymousFixture(file)) continue;
    const event = readRawFixture(file);
    const other = isLogShaped(event.body) ? toLiveShape(event) : toLogShape(event);
    const otherLabel = isLogShaped(event.body) ? "as live event" : "as tracking-log event";
    cases.push({ label: file, event, dropped: DROPPED[file] });
    cases.push({ label: `${file} ${otherLabel}`, event: other, dropped: DROPPED[file] });
  }
  return cases;
}

/** A fixture event for a registered name with no fixture: same transformer, else same family and verb. */
function donorFor(t: Transformer, fixtures: ReadonlyMap<string, EdxEvent>): EdxEvent | undefined {
  const candidates = [...fixtures.values()].filter((e) => !DROPPED_NAMES.has(e) && registry.get(e.name));
  const same = candidates.find((e) => registry.get(e.name)!.transform === t.transform);
  if (same) return same;
  const family = t.family.split(" ")[0]!;
  return (
    candidates.find((e) => registry.get(e.name)!.family.startsWith(family) && registry.get(e.name)!.mapping.verb === t.mapping.verb) ??
    candidates.find((e) => registry.get(e.name)!.family.startsWith(family))
  );
}
const DROPPED_NAMES = new Set<EdxEvent>();

function syntheticCases(): Case[] {
  const fixtures = new Map<string, EdxEvent>();
  for (const file of rawFixtureFiles()) {
    if (isAnonymousFixture(file)) continue;
    const event = readRawFixture(file);
    if (DROPPED[file]) DROPPED_NAMES.add(event);
    if (!fixtures.has(event.name) || file.includes("required.only")) {
      // Prefer the full fixture of a name over its required-only variant.
      if (!fixtures.has(event.name)) fixtures.set(event.name, event);
    }
  }
  const cases: Case[] = [];
  for (const t of registry.entries()) {
    if (fixtures.has(t.eventName)) continue;
    const donor = donorFor(t, fixtures);
    assert.ok(donor, `no donor fixture for ${t.eventName}`);
    const event = renamed(donor, t.eventName);
    cases.push({ label: `${t.eventName} (from ${donor.name})`, event });
    cases.push({
      label: `${t.eventName} (from ${donor.name}) in the other shape`,
      event: isLogShaped(event.body) ? toLiveShape(event) : toLogShape(event),
    });
  }
  return cases;
}

function checkCases(cases: readonly Case[], env: TransformEnv): { statements: number; events: number; dropped: number } {
  let statements = 0;
  let dropped = 0;
  const problems: string[] = [];
  for (const c of cases) {
    const r = transformForBackend(settings, c.event, env);
    if (c.dropped) {
      assert.equal(r.outcome, "skipped", `${c.label} must not be published`);
      assert.ok((r as { reason: string }).reason.includes(c.dropped), `${c.label}: ${(r as { reason: string }).reason}`);
      dropped++;
      continue;
    }
    assert.equal(r.outcome, "transformed", `${c.label}: ${(r as { reason?: string }).reason ?? ""}`);
    const list = (r as { statements: JsonObject[] }).statements;
    assert.ok(list.length > 0, `${c.label}: no statements`);
    list.forEach((s, i) => {
      statements++;
      for (const p of xapiValidationProblems(s)) problems.push(`${c.label} [${i}]: ${p}`);
    });
  }
  assert.deepEqual(problems, []);
  return { statements, events: cases.length, dropped };
}

test("the validators are wired: they reject ERB's known-invalid expected statements", () => {
  const group = readExpectedFixture("xapi", "problem_check(server).list_answers.json")![0]!;
  assert.notDeepEqual(learningLockerWarnings(group), [], "LL must reject GroupActivity");
  assert.notDeepEqual(tincanSchemaErrors(group), [], "Rustici schema must reject GroupActivity");
  const exam = readExpectedFixture("xapi", "edx.special_exam.timed.attempt.created.json")![0]!;
  assert.notDeepEqual(tincanSchemaErrors(exam), [], "Rustici schema must reject the bare attempt GUID");
  assert.notDeepEqual(learningLockerWarnings(exam), [], "LL must reject the bare usage key");
});

test("every statement from every raw fixture, in both input shapes, passes both validators", () => {
  const r = checkCases(fixtureCases(), ERB_TEST_ENV);
  console.log(
    `xapi validation: ${r.statements} statements from ${r.events} fixture events valid (LL 3.0.0 + tin-can schema), ${r.dropped} dropped`,
  );
  assert.ok(r.statements >= 120);
});

test("every registered name without a fixture produces valid statements (renamed fixture of the same mapping)", () => {
  const cases = syntheticCases();
  const names = new Set(cases.map((c) => c.event.name));
  assert.ok(names.has("edx.video.language_menu.shown") && names.has("edx.video.language_menu.hidden"));
  assert.ok(names.has("edx.special_exam.timed.attempt.submitted"));
  const r = checkCases(cases, ERB_TEST_ENV);
  console.log(`xapi validation: ${r.statements} statements for ${names.size} fixture-less names valid`);
});

test("all 67 names are registered", () => {
  assert.equal(registry.eventNames().length, 67);
});

test("IFI modes and an unknown course name give valid statements; the course name is omitted, not the event", () => {
  const cases = fixtureCases().filter((c) => !c.dropped);
  for (const agentIfiType of ["mbox", "mbox_sha1sum"] as const) checkCases(cases, { ...ERB_TEST_ENV, agentIfiType });
  const noCourse: TransformEnv = { ...ERB_TEST_ENV, courseName: undefined };
  checkCases(cases, noCourse);
  const r = transformForBackend(settings, readRawFixture("load_video.json"), noCourse);
  assert.equal(r.outcome, "transformed");
  const parent = ((r as { statements: JsonObject[] }).statements[0]!["context"] as JsonObject)["contextActivities"] as JsonObject;
  const course = (parent["parent"] as JsonObject[])[0]!;
  assert.equal((course["definition"] as JsonObject)["name"], undefined);
});

test("an unresolvable user is never published: the result says why", () => {
  for (const c of fixtureCases()) {
    const r = transformForBackend(settings, c.event, ERB_TEST_ENV_NO_USER);
    assert.equal(r.outcome, "skipped", c.label);
    assert.match((r as { reason: string }).reason, /no resolvable user|no object id/, c.label);
  }
});

test("statement ids equal a plain uuid5 computation of ERB's rule in every IFI mode (children included)", () => {
  const cases = fixtureCases().filter((c) => !c.dropped);
  let compared = 0;
  for (const agentIfiType of ["external_id", "mbox", "mbox_sha1sum"] as const) {
    const env: TransformEnv = { ...ERB_TEST_ENV, agentIfiType };
    for (const c of cases) {
      const statements = registry.get(c.event.name)!.transform(c.event, env);
      statements.forEach((s, i) => {
        const childKey = i === 0 || statements.length === 1 ? undefined : childKeyOf(s);
        const expected = referenceStatementId(
          s["verb"] as unknown as IdVerb,
          s["actor"] as unknown as XapiAgent,
          c.event.rawTimestamp,
          childKey,
        );
        assert.equal(s["id"], expected, `${c.label} [${i}] (${agentIfiType})`);
        compared++;
      });
    }
  }
  assert.ok(compared > 300);
});

/** ERB's rule spelled out with the uuid library: an oracle independent of the optimised implementation. */
function referenceStatementId(verb: IdVerb, actor: XapiAgent, rawTimestamp: string, childKey?: string): string {
  const namespace = uuidv5(
    childKey === undefined ? verbJson(verb) : `${verbJson(verb)}-${childKey}`,
    "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
  );
  return uuidv5(`${actorJson(actor)}-${rawTimestamp}`, namespace);
}

/** The submission key of a multi-question child: the object id's last "@" segment. */
function childKeyOf(statement: JsonObject): string {
  const id = (statement["object"] as JsonObject)["id"] as string;
  return id.slice(id.lastIndexOf("@") + 1);
}
