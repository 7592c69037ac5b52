/**
 * Targeted xAPI checks beyond ERB's fixtures: ccx video ids, tincan durations and 3-decimal rounding, the
 * response-type map and list answers, the browser problem block id from the referer, forum thread grouping, the
 * language-menu mapping, exam events in the live shape, and the shared edX field readers.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { eventFromObject, type EdxEvent, type JsonObject } from "../src/transform/edx-event.js";
import {
  activateBlockIdFromReferer,
  blockUsageKey,
  browserProblemUsageKey,
  videoCurrentTime,
  videoUsageKey,
} from "../src/transform/edx-fields.js";
import { createXapiRegistry } from "../src/transform/xapi/index.js";
import { interactionType, pyRepr } from "../src/transform/xapi/problem-events.js";
import { ERB_TEST_ENV, readRawFixture } from "./support/erb-fixtures.js";
import { toLiveShape, toLogShape } from "./support/event-shapes.js";

const registry = createXapiRegistry();
const LMS = ERB_TEST_ENV.lmsRootUrl;

function transform(event: EdxEvent): JsonObject[] {
  const t = registry.get(event.name);
  assert.ok(t, event.name);
  return t.transform(event, ERB_TEST_ENV);
}

function withData(file: string, patch: JsonObject, contextPatch: JsonObject = {}, name?: string): EdxEvent {
  const base = readRawFixture(file).body;
  const body: JsonObject = {
    ...base,
    data: { ...(base["data"] as JsonObject), ...patch },
    context: { ...(base["context"] as JsonObject), ...contextPatch },
  };
  if (name) body["name"] = name;
  return eventFromObject(body);
}

const at = (o: JsonObject, path: string): unknown => path.split(".").reduce<unknown>((v, k) => (v as JsonObject)?.[k], o);

test("video in a ccx course uses ccx-block-v1 usage keys", () => {
  const ccx = "ccx-v1:edX+DemoX+Demo_Course+ccx@2";
  const [s] = transform(withData("play_video.json", {}, { course_id: ccx }));
  assert.equal(
    at(s!, "object.id"),
    `${LMS}/xblock/ccx-block-v1:edX+DemoX+Demo_Course+ccx@2+type@video+block@0b9e39477cf34507a7a48f74be381fdd`,
  );
  assert.equal(at(s!, "context.contextActivities.parent.0.id"), `${LMS}/course/${ccx}`);
  assert.equal(videoUsageKey("course-v1:a+b+c", "v"), "block-v1:a+b+c+type@video+block@v");
});

test("complete_video: tincan duration, time = duration; numbers rounded to 3 decimals", () => {
  const [s] = transform(withData("complete_video.json", { duration: 3723.5 }));
  assert.equal(at(s!, "result.duration"), "PT01H02M03.5S");
  const ext = at(s!, "result") as JsonObject;
  assert.equal((ext["extensions"] as JsonObject)["https://w3id.org/xapi/video/extensions/time"], 3723.5);
  assert.equal(ext["completion"], true);
  const [p] = transform(withData("pause_video.json", { currentTime: 12.34567, duration: 99.99951 }));
  assert.equal(((p!["result"] as JsonObject)["extensions"] as JsonObject)["https://w3id.org/xapi/video/extensions/time"], 12.346);
  assert.equal(((p!["context"] as JsonObject)["extensions"] as JsonObject)["https://w3id.org/xapi/video/extensions/length"], 100);
  assert.equal(videoCurrentTime(withData("pause_video.json", { currentTime: 0 })), 0);
});

test("edx.video.language_menu.shown/hidden: interacted with the playhead time, no cc-enabled", () => {
  for (const name of ["edx.video.language_menu.shown", "edx.video.language_menu.hidden"]) {
    const [s] = transform(withData("video_show_cc_menu.json", {}, {}, name));
    assert.equal(at(s!, "verb.id"), "http://adlnet.gov/expapi/verbs/interacted");
    const ext = (s!["result"] as JsonObject)["extensions"] as JsonObject;
    assert.deepEqual(ext, { "https://w3id.org/xapi/video/extensions/time": 19.134 });
  }
});

test("response type -> interactionType, and list / dict answers", () => {
  const expected: Record<string, string> = {
    choiceresponse: "choice",
    multiplechoiceresponse: "choice",
    choicetextresponse: "choice",
    optionresponse: "choice",
    numericalresponse: "numeric",
    stringresponse: "fill-in",
    formularesponse: "fill-in",
    annotationresponse: "fill-in",
    symbolicresponse: "fill-in",
    imageresponse: "matching",
    truefalseresponse: "true-false",
    customresponse: "other",
    toString: "other",
  };
  for (const [rt, it] of Object.entries(expected)) assert.equal(interactionType(rt), it, rt);
  assert.equal(interactionType(undefined), "other");
  assert.equal(pyRepr({ a: ["x", "it's"], b: true, c: null }), `{'a': ['x', "it's"], 'b': True, 'c': None}`);
  const sub = { q_2_1: { question: "Q?", answer: ["é", 'a "b"'], response_type: "numericalresponse", correct: true } };
  const [s] = transform(withData("problem_check(server).json", { submission: sub }));
  assert.equal(at(s!, "object.definition.interactionType"), "numeric");
  assert.equal(at(s!, "result.response"), '["é", "a \\"b\\""]');
});

test("browser problem_check: block from the referer's activate_block_id, else from input_<hash>_ keys", () => {
  const referer = `${LMS}/courses/x/courseware/a/b/?activate_block_id=block-v1%3AedX%2BDemoX%2BDemo_Course%2Btype%40problem%2Bblock%40abc&x=1`;
  assert.equal(activateBlockIdFromReferer(referer), "block-v1:edX+DemoX+Demo_Course+type@problem+block@abc");
  const viaReferer = withData("problem_check(browser).json", {}, { referer });
  assert.equal(browserProblemUsageKey(viaReferer), "block-v1:edX+DemoX+Demo_Course+type@problem+block@abc");
  const [s] = transform(readRawFixture("problem_check(browser).json"));
  assert.equal(at(s!, "verb.id"), "http://adlnet.gov/expapi/verbs/attempted");
  assert.equal(
    at(s!, "object.id"),
    `${LMS}/xblock/${blockUsageKey("course-v1:edX+DemoX+Demo_Course", "problem", "3fc5461f86764ad7bdbdf6cbdde61e66")}`,
  );
  // Tracking-log shape: referer at top level, payload as the `event` string.
  const [l] = transform(toLogShape(readRawFixture("problem_check(browser).json")));
  assert.deepEqual(l, s);
});

test("multi-question problem: children follow submission order and reference the parent", () => {
  const statements = transform(readRawFixture("problem_check(server,multiple_questions,correct).json"));
  assert.equal(statements.length, 4);
  const parentId = statements[0]!["id"];
  assert.equal(at(statements[0]!, "object.objectType"), "Activity");
  const keys = statements.slice(1).map((s) => String(at(s, "object.id")).split("@").pop());
  assert.deepEqual(keys, [
    "a0effb954cca4759994f1ac9e9434bf4_2_1",
    "a0effb954cca4759994f1ac9e9434bf4_4_1",
    "a0effb954cca4759994f1ac9e9434bf4_3_1",
  ]);
  for (const c of statements.slice(1)) assert.deepEqual(at(c, "context.statement"), { objectType: "StatementRef", id: parentId });
});

test("forum: comments are grouped under their thread; ids strip the post id from the path", () => {
  const [c] = transform(readRawFixture("edx.forum.comment.created.json"));
  assert.equal(at(c!, "context.contextActivities.grouping.0.id"), `${LMS}/api/discussion/v1/threads/64d1df0887e82a002b35a6f7`);
  const [v] = transform(readRawFixture("edx.forum.thread.voted.json"));
  assert.equal(at(v!, "object.id"), `${LMS}/api/discussion/v1/threads/64a817fce68f35002fd013c3`);
  const [r] = transform(withData("edx.forum.thread.voted.json", {}, {}, "edx.forum.response.voted"));
  assert.equal(((r!["context"] as JsonObject)["extensions"] as JsonObject)["https://w3id.org/xapi/acrossx/extensions/type"], "up");
});

test("exam events in the live shape (payload under data) give the same statement as the log shape", () => {
  const log = readRawFixture("edx.special_exam.proctored.attempt.submitted.json");
  const live = toLiveShape(log);
  assert.ok(!("event" in live.body) && "data" in live.body);
  assert.deepEqual(transform(live), transform(log));
  const [s] = transform(live);
  assert.match(
    String(at(s!, "context.contextActivities.grouping.0.id")),
    /^http:\/\/localhost:18000\/xblock\/block-v1:.+\/attempt\/438AD672-/,
  );
});

test("no course name: the name is omitted and the event still transforms", () => {
  const event = readRawFixture("edx.grades.course.grade_calculated_letter_grade.json");
  const [s] = registry.get(event.name)!.transform(event, { ...ERB_TEST_ENV, courseName: undefined });
  assert.equal(at(s!, "object.definition.name"), undefined);
  assert.equal(at(s!, "context.contextActivities.parent.0.definition.name"), undefined);
});
