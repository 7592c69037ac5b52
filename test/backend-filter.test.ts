import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { test } from "node:test";
import { RegexSyntaxError } from "../src/linear-regex.js";
import { compiledMatchFor, compilePattern, MATCH_VALUE_MAX_CHARS, matchesEvent } from "../src/routing/match-params.js";
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

test("filters and match_params run in linear time: a backtracking-prone pattern on a hostile string is instant", () => {
  const hostile = `${"a".repeat(100_000)}!`;
  const start = performance.now();
  assert.equal(filterAccepts(compileRegexFilter("allowlist", ["(a+)+$"]), hostile), false);
  assert.equal(compilePattern("^(a+)+$").test(hostile), false);
  assert.equal(compilePattern("(x+x+)+y").test("x".repeat(100_000)), false);
  // Backtracking would take longer than the age of the universe; RE2 takes a few ms. The bound is a guard only,
  // far above a loaded machine's noise.
  assert.ok(performance.now() - start < 10_000);
});

test("a source cannot escape the start anchor, and RE2-incompatible patterns are refused", () => {
  assert.throws(() => compileRegexFilter("allowlist", ["a)|(b"]), RegexSyntaxError);
  assert.throws(() => compileRegexFilter("allowlist", ["(?=edx)edx"]), /invalid regex .*RE2 syntax/);
  assert.throws(() => compilePattern("(a)\\1"), RegexSyntaxError);
  assert.equal(compilePattern("(?i)^EDX$").test("edx"), true, "inline flags work as in Python");
});

test("match_params values longer than MATCH_VALUE_MAX_CHARS never match", () => {
  const router = { matchParams: [{ path: "username", patterns: ["a"] }] };
  const event = (username: string) => ({ body: { username }, name: "x", rawTimestamp: "t" });
  assert.equal(matchesEvent(compiledMatchFor(router), event("a".repeat(MATCH_VALUE_MAX_CHARS))), true);
  assert.equal(matchesEvent(compiledMatchFor(router), event("a".repeat(MATCH_VALUE_MAX_CHARS + 1))), false);
});
