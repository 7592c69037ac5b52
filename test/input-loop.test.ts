/** The inputs' shared loop alone: health transitions, last error, attempts, backoff between sessions, stop order. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { InputStats } from "../src/ingest/ingest-stats.js";
import { InputLoop, type InputFailure } from "../src/ingest/input-loop.js";

test("failed sessions: NOT_SERVING once, errors counted by attempt; a session that connects is SERVING; stop ends it", async () => {
  const stats = new InputStats();
  const health: boolean[] = [];
  const failures: InputFailure[] = [];
  const order: string[] = [];
  let sessions = 0;
  let consuming!: () => void;
  const isConsuming = new Promise<void>((resolve) => (consuming = resolve));
  const loop = new InputLoop({
    stats,
    onHealth: (serving) => health.push(serving),
    errorPrefix: "src: ",
    session: async ({ signal, connected }) => {
      sessions++;
      if (sessions <= 2) throw new Error(`down ${sessions}`);
      connected();
      consuming();
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
      order.push("session settled");
    },
    onFailure: (f) => {
      failures.push(f);
    },
  });
  loop.start();
  await isConsuming;
  assert.equal(loop.isServing, true);
  assert.deepEqual(
    failures.map((f) => [f.message, f.attempt]),
    [
      ["down 1", 1],
      ["down 2", 2],
    ],
  );
  assert.ok(failures[1]!.retryInMs > failures[0]!.retryInMs, "the wait grows between failures");
  assert.equal(stats.lastError, "src: down 2");
  // Only changes are reported: not serving after the first failure is already the initial state.
  assert.deepEqual(health, [true]);

  await loop.stop(() => order.push("interrupted"));
  order.push("stopped");
  assert.deepEqual(order, ["interrupted", "session settled", "stopped"]);
  assert.deepEqual(health, [true, false]);
  assert.equal(sessions, 3, "no session after the stop");
});

test("a failure after the source answered resets the attempt count (0: the connection was lost) and reports NOT_SERVING", async () => {
  const stats = new InputStats();
  const health: boolean[] = [];
  const attempts: number[] = [];
  let sessions = 0;
  let third!: () => void;
  const reachedThird = new Promise<void>((resolve) => (third = resolve));
  const loop = new InputLoop({
    stats,
    onHealth: (serving) => health.push(serving),
    session: async ({ signal, connected }) => {
      sessions++;
      if (sessions === 3) {
        third();
        await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
        return;
      }
      connected();
      throw new Error("lost");
    },
    onFailure: (f) => {
      attempts.push(f.attempt);
    },
  });
  loop.start();
  await reachedThird;
  await loop.stop();
  assert.deepEqual(attempts, [0, 0]);
  assert.deepEqual(health, [true, false, true, false]);
  assert.equal(stats.lastError, "lost");
});
