import assert from "node:assert/strict";
import { test } from "node:test";
import { compileRegexFilter, filterAccepts } from "../src/transform/backend-filter.js";

test("regex filters anchor at the start only, like event-tracking's re.match", () => {
  const allow = compileRegexFilter("allowlist", ["edx\\.video\\.", "problem_check"]);
  assert.equal(filterAccepts(allow, "edx.video.played"), true);
  assert.equal(filterAccepts(allow, "problem_check_extra"), true, "not anchored at the end");
  assert.equal(filterAccepts(allow, "x.edx.video.played"), false, "anchored at the start");
  const block = compileRegexFilter("blocklist", ["edx\\.forum\\."]);
  assert.equal(filterAccepts(block, "edx.forum.thread.created"), false);
  assert.equal(filterAccepts(block, "showanswer"), true);
});

test("a name allowlist accepts exactly its names", () => {
  const names = { kind: "names", names: new Set(["showanswer"]) } as const;
  assert.equal(filterAccepts(names, "showanswer"), true);
  assert.equal(filterAccepts(names, "showanswers"), false);
  assert.equal(filterAccepts({ kind: "all" }, "anything"), true);
});
