/**
 * Caliper golden test against ERB's expected fixtures (ERB_FIXTURES_DIR/caliper). As in ERB's own test, only `id`
 * is ignored in the comparison (ERB's is a random uuid4); ours is checked separately for form and determinism.
 *
 * Where we deliberately differ from ERB (spec fixes, docs/caliper-deviations.md), the EXPECTED side is rewritten
 * at a precise path by the DEVIATIONS table below, and every entry must still be needed: the unrewritten ERB
 * value must differ from our output, so a stale entry fails the test.
 *
 * Prints exactly one line: `caliper golden: N matched, N deviated, N failed`.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, test } from "node:test";
import { isDeepStrictEqual } from "node:util";
import { eventFromObject, type JsonObject, type JsonValue } from "../src/transform/edx-event.js";
import { createCaliperRegistry } from "../src/transform/caliper/index.js";
import { transformForBackend, type BackendSettings } from "../src/transform/transform-event.js";
import {
  ERB_TEST_ENV,
  ERB_TEST_ENV_NO_USER,
  isAnonymousFixture,
  rawFixtureFiles,
  readExpectedFixture,
  readRawFixture,
} from "./support/erb-fixtures.js";

const registry = createCaliperRegistry();
const settings: BackendSettings = {
  backend: "caliper",
  enabled: true,
  filter: { kind: "all" },
  registry,
};

const UUID_URN = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

type Rewrite = {
  readonly file: string;
  /** Dotted path inside expected event 0. */
  readonly path: string;
  readonly value: JsonValue | ((expected: JsonObject) => JsonValue);
  readonly why: string;
};
type ExpectSkip = { readonly file: string; readonly skipReason: RegExp; readonly why: string };

/** Every intentional difference from ERB's expected Caliper output. Mirrors docs/caliper-deviations.md. */
const REWRITES: readonly Rewrite[] = [
  ...["edx.ui.lms.link_clicked.json", "edx.ui.lms.link_clicked.required.only.data.json"].map((file) => ({
    file,
    path: "object.type",
    value: "WebPage",
    why: 'D1: the Caliper term is WebPage; ERB\'s "Webpage" is not in the v1p2 context and fails the schemas',
  })),
  {
    file: "problem_check(server).json",
    path: "generated",
    value: (exp: JsonObject): JsonValue => {
      const erbScore = (exp["generated"] as JsonObject)["score"] as JsonObject;
      const erbExtensions = erbScore["extensions"] as JsonObject;
      return {
        id: erbScore["id"]!,
        type: erbScore["type"]!,
        attempt: (exp["object"] as JsonObject)["id"]!,
        maxScore: erbScore["maxScore"]!,
        scoreGiven: erbScore["scoreGiven"]!,
        extensions: { ...erbExtensions, attempts: erbScore["attempts"]! },
      };
    },
    why: "D3: generated is the Score entity itself (ERB wraps it in {score: ...}); non-Caliper `attempts` moves to extensions; attempt -> the graded Attempt",
  },
];

const EXPECTED_SKIPS: readonly ExpectSkip[] = [
  {
    file: "problem_check(browser).required.only.data.json",
    skipReason: /problem block/,
    why: "D2: no course, referer block or input keys, so no problem id; ERB emits an Assessment without id (invalid Caliper)",
  },
];

function setPath(obj: JsonObject, path: string, value: JsonValue): void {
  const parts = path.split(".");
  let cur: JsonObject = obj;
  for (const part of parts.slice(0, -1)) {
    const next = cur[part];
    assert.ok(typeof next === "object" && next !== null && !Array.isArray(next), `deviation path ${path} not in expected`);
    cur = next as JsonObject;
  }
  assert.ok(parts.at(-1)! in cur, `deviation path ${path} not in expected`);
  cur[parts.at(-1)!] = value;
}

function withoutId(o: JsonObject): JsonObject {
  const { id: _id, ...rest } = o;
  return rest;
}

const counts = { matched: 0, deviated: 0, failed: 0 };
const failures: string[] = [];

after(() => {
  console.log(`caliper golden: ${counts.matched} matched, ${counts.deviated} deviated, ${counts.failed} failed`);
});

const goldenFiles = rawFixtureFiles().filter((f) => readExpectedFixture("caliper", f) !== undefined);

test("every Caliper expected fixture has a raw fixture and a registered transformer", () => {
  assert.ok(goldenFiles.length >= 33, `only ${goldenFiles.length} golden pairs found`);
  for (const f of goldenFiles) assert.ok(registry.has(readRawFixture(f).name), `${f}: no Caliper transformer`);
});

for (const file of goldenFiles) {
  test(`golden ${file}`, () => {
    try {
      checkFixture(file);
    } catch (e) {
      counts.failed++;
      failures.push(file);
      throw e;
    }
  });
}

function checkFixture(file: string): void {
  const event = readRawFixture(file);
  const expectedRaw = readExpectedFixture("caliper", file)!;

  if (isAnonymousFixture(file)) {
    const r = transformForBackend(settings, event, ERB_TEST_ENV_NO_USER);
    assert.equal(r.outcome, "skipped");
    assert.match(r.outcome === "skipped" ? r.reason : "", /no resolvable user/);
    counts.matched++;
    return;
  }

  const skip = EXPECTED_SKIPS.find((s) => s.file === file);
  const r = transformForBackend(settings, event, ERB_TEST_ENV);
  if (skip) {
    assert.equal(r.outcome, "skipped", `${file}: ${skip.why}`);
    assert.match(r.outcome === "skipped" ? r.reason : "", skip.skipReason);
    counts.deviated++;
    return;
  }
  assert.equal(r.outcome, "transformed", r.outcome !== "transformed" ? r.reason : "");
  const actual = r.outcome === "transformed" ? r.statements : [];
  assert.equal(actual.length, expectedRaw.length);

  for (const [i, e] of expectedRaw.entries()) {
    assert.ok(typeof e["id"] === "string", `${file}[${i}]: ERB expected has an id`);
    assert.match(String(actual[i]!["id"]), UUID_URN, `${file}[${i}]: id must be urn:uuid:<uuid5>`);
  }

  const rewrites = REWRITES.filter((d) => d.file === file);
  const expected = expectedRaw.map((e) => structuredClone(withoutId(e)));
  for (const d of rewrites) {
    const before = structuredClone(expected[0]!);
    setPath(expected[0]!, d.path, typeof d.value === "function" ? d.value(expectedRaw[0]!) : d.value);
    assert.ok(!isDeepStrictEqual(before, expected[0]), `${file}: deviation at ${d.path} changes nothing (stale entry)`);
    assert.ok(!isDeepStrictEqual(actual.map(withoutId), [before]), `${file}: deviation at ${d.path} no longer needed`);
  }
  assert.deepStrictEqual(actual.map(withoutId), expected);
  if (rewrites.length > 0) counts.deviated++;
  else counts.matched++;
}

test("every deviation names a golden fixture and is documented in docs/caliper-deviations.md", () => {
  const doc = readFileSync(new URL("../docs/caliper-deviations.md", import.meta.url), "utf8");
  for (const d of [...REWRITES, ...EXPECTED_SKIPS]) {
    assert.ok(goldenFiles.includes(d.file), `${d.file} is not a golden fixture`);
    const tag = /^(D\d+):/.exec(d.why)?.[1];
    assert.ok(tag, `${d.file}: deviation reason must start with its D-number`);
    assert.ok(doc.includes(`| ${tag} |`), `${tag} (${d.file}) is missing from docs/caliper-deviations.md`);
  }
});

test("Caliper ids are deterministic and distinct per event", () => {
  const byKey = new Map<string, string>();
  const idToKey = new Map<string, string>();
  let produced = 0;
  for (const file of rawFixtureFiles()) {
    const event = readRawFixture(file);
    if (!registry.has(event.name)) continue;
    const first = transformForBackend(settings, event, ERB_TEST_ENV);
    if (first.outcome !== "transformed") continue;
    const second = transformForBackend(settings, readRawFixture(file), ERB_TEST_ENV);
    assert.equal(second.outcome, "transformed");
    const again = second.outcome === "transformed" ? second.statements : [];
    for (const [i, s] of first.statements.entries()) {
      produced++;
      const id = String(s["id"]);
      assert.match(id, UUID_URN);
      assert.equal(again[i]!["id"], id, `${file}: same input must give the same id`);
      const object = s["object"] as JsonObject;
      const key = [event.name, s["type"], s["action"], (s["actor"] as JsonObject)["id"], event.rawTimestamp, object["id"]].join("|");
      const known = byKey.get(key);
      if (known !== undefined) assert.equal(id, known, `${file}: same (name, type, action, actor, time, object) -> same id`);
      byKey.set(key, id);
      const otherKey = idToKey.get(id);
      assert.ok(otherKey === undefined || otherKey === key, `${file}: id ${id} reused by a different event (${otherKey})`);
      idToKey.set(id, key);
    }
  }
  assert.ok(produced >= 40, `only ${produced} events produced`);
  // stop_video and complete_video: same actor, timestamp, video and Caliper action, but different edX events.
  const ids = ["stop_video.json", "complete_video.json"].map((f) => {
    const r = transformForBackend(settings, readRawFixture(f), ERB_TEST_ENV);
    return r.outcome === "transformed" ? r.statements[0]!["id"] : undefined;
  });
  assert.ok(ids[0] && ids[1] && ids[0] !== ids[1], "stop_video and complete_video must not share an id");
  // Another user, same event: a different id.
  const other = transformForBackend(settings, readRawFixture("play_video.json"), {
    ...ERB_TEST_ENV,
    user: { externalId: "00000000-0000-4000-8000-000000000000" },
  });
  const mine = transformForBackend(settings, readRawFixture("play_video.json"), ERB_TEST_ENV);
  assert.ok(other.outcome === "transformed" && mine.outcome === "transformed");
  assert.notEqual(other.statements[0]!["id"], mine.statements[0]!["id"]);
});

function only(file: string, env = ERB_TEST_ENV): JsonObject {
  const r = transformForBackend(settings, readRawFixture(file), env);
  assert.equal(r.outcome, "transformed", r.outcome !== "transformed" ? r.reason : "");
  return r.outcome === "transformed" ? r.statements[0]! : {};
}

test("D4: a tracking-log server problem_check is a GradeEvent (top-level event_source)", () => {
  const s = only("problem_check(server,multiple_questions,correct).json");
  assert.equal(s["type"], "GradeEvent");
  const score = s["generated"] as JsonObject;
  assert.deepEqual([score["type"], score["scoreGiven"], score["maxScore"]], ["Score", 3, 3]);
  assert.deepEqual(score["extensions"], { success: "True", attempts: 3 });
  assert.match(String((s["object"] as JsonObject)["id"]), /\/user\/32e08e30-f8ae-4ce2-94a8-c2bfe38a70cb\/attempt\/3$/);
});

test("D5: sequence.outline.selected uses the sequence branch with data.id, the outline branch without", () => {
  const run = (file: string): JsonObject => {
    const body = { ...readRawFixture(file).body, name: "edx.ui.lms.sequence.outline.selected" };
    const r = transformForBackend(settings, eventFromObject(body), ERB_TEST_ENV);
    assert.equal(r.outcome, "transformed");
    return r.outcome === "transformed" ? (r.statements[0]!["object"] as JsonObject) : {};
  };
  const withId = run("edx.ui.lms.sequence.tab_selected.json");
  assert.deepEqual([withId["type"], withId["name"], (withId["extensions"] as JsonObject)["target"]], ["DigitalResource", "Unit", 8]);
  assert.match(String(withId["id"]), /\/xblock\/block-v1:.*type@sequential/);
  const withoutId = run("edx.ui.lms.outline.selected.json");
  assert.deepEqual([withoutId["type"], withoutId["name"]], ["DigitalResource", "Lesson 3 - Be Social"]);
  assert.match(String(withoutId["id"]), /\/jump_to\//);
});

test("D6: a null video duration is treated as missing (P0D), not an error", () => {
  const s = only("edx.video.closed_captions.hidden.null.duration.json");
  assert.equal((s["object"] as JsonObject)["duration"], "P0D");
  assert.equal((s["target"] as JsonObject)["currentTime"], "PT21.133524S");
});

test("an unknown course name omits object.name; the event still flows", () => {
  const s = only("edx.course.enrollment.activated.json", { ...ERB_TEST_ENV, courseName: undefined });
  assert.equal(s["action"], "Activated");
  assert.ok(!("name" in (s["object"] as JsonObject)));
});

test("golden run has no failures", () => {
  assert.deepEqual(failures, []);
});
