/**
 * Durations as people write them (src/cli/duration.ts): Go's grammar, exact to the nanosecond, the protobuf JSON
 * form included, and a bare number or a word refused with a message naming the accepted forms.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { DurationError, durationJson, durationMessage, formatDuration, parseDuration } from "../src/cli/duration.js";

test("200ms, 30s, 1m30s, 2h, 1.5s, 0.2s, 500us, 1h2m3.5s read as their nanoseconds", () => {
  const cases: Array<[string, bigint]> = [
    ["200ms", 200_000_000n],
    ["30s", 30_000_000_000n],
    ["1m30s", 90_000_000_000n],
    ["2h", 7_200_000_000_000n],
    ["1.5s", 1_500_000_000n],
    ["0.2s", 200_000_000n],
    ["500us", 500_000n],
    ["500µs", 500_000n],
    ["7ns", 7n],
    ["1h2m3.5s", 3_723_500_000_000n],
    [" 10s ", 10_000_000_000n],
    ["0s", 0n],
  ];
  for (const [text, ns] of cases) assert.equal(parseDuration(text, "x"), ns, text);
});

test("a number without its unit, words, signs and empty text are refused, naming the field and the forms", () => {
  for (const bad of [30, "30", "5 mins", "5mins", "1m 30s", "-1s", "s", "", "1.s", ".5s", "1d", true, null]) {
    assert.throws(
      () => parseDuration(bad, "delivery.countdown"),
      (e: unknown) => e instanceof DurationError && /^delivery\.countdown: /.test(e.message) && /200ms, 30s, 1m30s/.test(e.message),
      String(bad),
    );
  }
});

test("protobuf JSON, the Duration message and the display form agree with the nanoseconds (property)", () => {
  assert.equal(durationJson(90_000_000_000n), "90s");
  assert.equal(durationJson(200_000_000n), "0.2s");
  assert.equal(durationJson(1_000_000_001n), "1.000000001s");
  assert.equal(formatDuration(durationMessage(90_000_000_000n)), "1m30s");
  assert.equal(formatDuration(durationMessage(200_000_000n)), "200ms");
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 10n ** 15n }), (ns) => {
      assert.equal(parseDuration(durationJson(ns), "x"), ns);
      assert.equal(parseDuration(formatDuration(durationMessage(ns)), "x"), ns);
    }),
  );
});
