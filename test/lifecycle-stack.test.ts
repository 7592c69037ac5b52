/**
 * The composition root's LifecycleStack (src/composition/lifecycle-stack.ts): what started stops in reverse order,
 * a start that fails stops what had already started, and a failing stop step does not skip the ones after it (the
 * first failure is thrown, the later ones are reported, none lost). Pure: the steps are plain functions.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { LifecycleStack } from "../src/composition/lifecycle-stack.js";

test("steps stop in reverse order of registration (defer, use, adopt)", async () => {
  const stopped: string[] = [];
  const stack = new LifecycleStack();
  stack.defer(() => void stopped.push("nats"));
  const store = stack.adopt({ name: "routers" }, (s) => void stopped.push(s.name));
  assert.equal(store.name, "routers", "adopt returns the value");
  stack.use({ stop: async () => void stopped.push("delivery") });
  assert.equal(stack.use(undefined), undefined, "a part that is off is passed through");
  stack.defer(() => void stopped.push("server"));
  await stack.disposeAsync();
  assert.deepEqual(stopped, ["server", "delivery", "routers", "nats"]);
  await stack.disposeAsync();
  assert.deepEqual(stopped, ["server", "delivery", "routers", "nats"], "a second dispose stops nothing again");
  assert.throws(() => stack.defer(() => {}), /already disposed/);
});

test("a start that fails stops what had started, in reverse, and rethrows the start's error", async () => {
  const stopped: string[] = [];
  const suppressed: unknown[] = [];
  const stack = new LifecycleStack((e) => suppressed.push(e));
  const busy = Object.assign(new Error("listen EADDRINUSE"), { code: "EADDRINUSE" });
  await assert.rejects(
    stack.build(async (s) => {
      s.defer(() => void stopped.push("nats"));
      s.defer(() => {
        throw new Error("routers close failed");
      });
      s.defer(() => void stopped.push("rpc server"));
      throw busy;
    }),
    (e) => e === busy,
  );
  assert.deepEqual(stopped, ["rpc server", "nats"], "the failing stop did not skip NATS");
  assert.deepEqual(
    suppressed.map((e) => (e as Error).message),
    ["routers close failed"],
    "the stop failure is reported, not lost",
  );
});

test("a start that succeeds returns its value and leaves everything running", async () => {
  const stopped: string[] = [];
  const stack = new LifecycleStack();
  const value = await stack.build(async (s) => {
    s.defer(() => void stopped.push("nats"));
    return 42;
  });
  assert.equal(value, 42);
  assert.deepEqual(stopped, []);
  await stack.disposeAsync();
  assert.deepEqual(stopped, ["nats"]);
});

test("every stop step runs when some fail; the first failure is thrown, the later ones reported", async () => {
  const stopped: string[] = [];
  const suppressed: unknown[] = [];
  const stack = new LifecycleStack((e) => suppressed.push(e));
  stack.defer(() => void stopped.push("statement log"));
  stack.defer(async () => {
    stopped.push("nats");
    throw new Error("drain failed");
  });
  stack.defer(() => void stopped.push("delivery"));
  stack.defer(() => {
    stopped.push("ingest");
    throw new Error("ingest stop failed");
  });
  await assert.rejects(stack.disposeAsync(), /ingest stop failed/);
  assert.deepEqual(stopped, ["ingest", "delivery", "nats", "statement log"]);
  assert.deepEqual(
    suppressed.map((e) => (e as Error).message),
    ["drain failed"],
  );
});
