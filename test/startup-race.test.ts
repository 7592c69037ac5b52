/**
 * Instances that start together on a fresh NATS (a first deployment with two replicas, a compose file) race to
 * create the same KV buckets and the identity HMAC key. Before src/nats/kv-bucket.ts about one start in fifty failed
 * ("subjects overlap with an existing stream" from the bucket's create, or the first write to the new stream going
 * unanswered), and in CI a failed start once left a test file hanging. Real nats-server; fresh buckets each round.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { identityHmacSecret } from "../src/directory/hmac-secret.js";
import { openKvBucket, retryWhileCreating } from "../src/nats/kv-bucket.js";
import { natsNames } from "../src/nats/names.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";

let nats: TestNatsServer;
let ncs: NatsConnection[] = [];

before(async () => {
  nats = await startNatsServer();
  ncs = await Promise.all(Array.from({ length: 4 }, () => connect({ servers: nats.url })));
});
after(async () => {
  await Promise.all(ncs.map((nc) => nc.close()));
  await nats?.stop();
});

test("four instances starting together on fresh buckets all get the same identity key, round after round", async () => {
  for (let round = 0; round < 100; round++) {
    const names = natsNames(`race${round}`);
    const keys = await Promise.allSettled(ncs.map((nc) => identityHmacSecret(nc, names)));
    const failed = keys.filter((k) => k.status === "rejected").map((k) => String((k as PromiseRejectedResult).reason));
    assert.deepEqual(failed, [], `round ${round}`);
    assert.equal(new Set(keys.map((k) => (k as PromiseFulfilledResult<string>).value)).size, 1, `round ${round}: one key`);
  }
});

test("a bucket that exists already is opened as it is, whatever the options asked for", async () => {
  await new Kvm(ncs[0]!).create("race_existing", { history: 3 });
  const kv = await openKvBucket(ncs[1]!, "race_existing", { history: 1 });
  assert.equal((await kv.status()).history, 3);
});

test("an unanswered write is repeated a few times, other errors are not", async () => {
  /** A write that fails with these error names in turn, then is stored (or, `forever`, keeps failing with the last). */
  const writeFailing = (names: readonly string[], forever = false) => {
    const write = Object.assign(
      async () => {
        const name = names[write.calls] ?? (forever ? names.at(-1) : undefined);
        write.calls++;
        if (name === undefined) return "stored";
        throw Object.assign(new Error(name), { name });
      },
      { calls: 0 },
    );
    return write;
  };

  const flaky = writeFailing(["TimeoutError", "JetStreamNotEnabled"]);
  assert.equal(await retryWhileCreating(flaky), "stored");
  assert.equal(flaky.calls, 3);

  const refused = writeFailing(["JetStreamApiError"], true);
  await assert.rejects(retryWhileCreating(refused), { name: "JetStreamApiError" });
  assert.equal(refused.calls, 1, "a refusal is not repeated");

  const silent = writeFailing(["TimeoutError"], true);
  await assert.rejects(retryWhileCreating(silent), { name: "TimeoutError" });
  assert.equal(silent.calls, 4, "three repeats, then the timeout stands");
});
