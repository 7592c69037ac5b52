/**
 * KV buckets opened at start-up, safe for instances that start together on a fresh NATS (a first deployment with
 * two replicas, a compose file starting everything at once).
 *
 * nats.js creates a bucket by asking for its stream and adding it when it is not found. Two instances doing that
 * at once both find nothing, and the second add can fail ("subjects overlap with an existing stream"); the bucket
 * is there by then, so a failed create is followed by an open. And on nats-server 2.9 the first write to a stream
 * that several instances have just created together can go unanswered (a timeout) or find no responder (nats.js:
 * "jetstream is not enabled"); `retryWhileCreating` repeats such a write. Both were seen with four instances
 * starting together: about one start in fifty failed (test/startup-race.test.ts).
 */
import { Kvm, type KV, type KvOptions } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { Backoff } from "../backoff.js";
import { retry } from "../retry.js";

/** The bucket, created with `opts` when absent; an existing one is used as it is. */
export async function openKvBucket(nc: NatsConnection, bucket: string, opts: Partial<KvOptions>): Promise<KV> {
  const kvm = new Kvm(nc);
  try {
    return await kvm.create(bucket, opts);
  } catch (e) {
    // Created by another instance between nats.js's look-up and its add: open what is there. When even that
    // fails, the create's error is the one that explains (JetStream off, no storage, permissions).
    try {
      return await kvm.open(bucket, opts);
    } catch {
      throw e;
    }
  }
}

/** Repeats of a write that went unanswered; after the last, its error stands. */
const MAX_REPEATS = 3;

/**
 * `write`, repeated while it goes unanswered (TimeoutError) or finds no responder. Only for writes that are safe to
 * repeat: a create-if-absent whose first attempt was stored after all then fails as "already there", which the
 * caller handles like losing the race to another instance.
 */
export function retryWhileCreating<T>(write: () => Promise<T>): Promise<T> {
  return retry(write, {
    // Jittered: the instances that raced to create the stream should not repeat their writes in lock-step.
    backoff: new Backoff(50, 500),
    attempts: 1 + MAX_REPEATS,
    retryable: (e) => {
      const name = (e as Error)?.name;
      return name === "TimeoutError" || name === "JetStreamNotEnabled";
    },
  });
}
