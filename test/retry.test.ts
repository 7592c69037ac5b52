/** The retry helper alone: bounds, the retryable predicate, onRetry, and a stop that ends the wait and the tries. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff } from "../src/backoff.js";
import { retry } from "../src/retry.js";

const failing = (times: number) => {
  const op = Object.assign(
    async (attempt: number) => {
      op.calls.push(attempt);
      if (op.calls.length <= times) throw new Error(`failure ${op.calls.length}`);
      return "done";
    },
    { calls: [] as number[] },
  );
  return op;
};

test("retries until success, telling onRetry each failed try and its wait", async () => {
  const op = failing(2);
  const seen: Array<[string, number, number]> = [];
  const result = await retry(op, {
    backoff: new Backoff(1, 4),
    onRetry: (e, attempt, waitMs) => seen.push([(e as Error).message, attempt, waitMs]),
  });
  assert.equal(result, "done");
  assert.deepEqual(op.calls, [1, 2, 3]);
  assert.deepEqual(
    seen.map(([m, a]) => [m, a]),
    [
      ["failure 1", 1],
      ["failure 2", 2],
    ],
  );
  for (const [, , waitMs] of seen) assert.ok(waitMs >= 0 && waitMs <= 5, `jittered wait within the bounds: ${waitMs}`);
});

test("attempts bound the tries and the last error stands; a non-retryable error is thrown at once", async () => {
  const bounded = failing(10);
  await assert.rejects(retry(bounded, { backoff: new Backoff(1, 1), attempts: 3 }), { message: "failure 3" });
  assert.equal(bounded.calls.length, 3);

  const refused = failing(10);
  const retryable = (e: unknown) => (e as Error).message !== "failure 1";
  await assert.rejects(retry(refused, { backoff: new Backoff(1, 1), retryable }), { message: "failure 1" });
  assert.equal(refused.calls.length, 1);
});

test("a stop ends a long wait at once and starts no further try; already stopped: no try at all", async () => {
  const stop = new AbortController();
  const op = failing(10);
  const started = Date.now();
  const pending = retry(op, { backoff: new Backoff(60_000, 60_000), signal: stop.signal, onRetry: () => stop.abort() });
  await assert.rejects(pending, { message: "failure 1" });
  assert.equal(op.calls.length, 1);
  assert.ok(Date.now() - started < 10_000, "the 60 s wait did not run out");

  const never = failing(0);
  await assert.rejects(retry(never, { backoff: new Backoff(1, 1), signal: stop.signal }), { name: "AbortError" });
  assert.equal(never.calls.length, 0);
});
