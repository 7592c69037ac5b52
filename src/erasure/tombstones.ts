/**
 * The tombstones of forgotten learners: keys `t.<hash>` of the forgotten bucket, one per keyed hash of an
 * identifier (directory/learner-hash.ts), held in memory as a set so the emit path and the delivery workers ask a
 * Set, never NATS. Every instance watches the keys, so a forget is live everywhere within the watch latency
 * (milliseconds; the issue asks for a second). Tombstones are never removed: an event replayed a year later is
 * still skipped.
 *
 * The watch is started before the keys are listed, so a tombstone written in between is seen by one or the other.
 * When the watch ends (nats.js stops it when its subscription fails), it is logged and started again with backoff,
 * and the keys are listed again: tombstones are only ever added, so a fresh listing is the whole truth.
 */
import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { Backoff, sleep } from "../backoff.js";
import { UnavailableError } from "../errors.js";

export const TOMBSTONE_PREFIX = "t.";

export interface TombstoneOptions {
  readonly logger?: Logger;
  /** Called after tombstones this instance did not know were added (clears what remembers identifiers). */
  readonly onAdded?: () => void;
}

export class Tombstones {
  readonly #kv: KV;
  readonly #hashes = new Set<string>();
  readonly #opts: TombstoneOptions;
  readonly #stopped = new AbortController();
  #watch: QueuedIterator<KvWatchEntry> | undefined;

  private constructor(kv: KV, opts: TombstoneOptions) {
    this.#kv = kv;
    this.#opts = opts;
  }

  /** Resolves once the watch runs and every stored tombstone is known. */
  static async open(kv: KV, opts: TombstoneOptions = {}): Promise<Tombstones> {
    const t = new Tombstones(kv, opts);
    const watch = await t.#openWatch();
    t.#watch = watch;
    await t.#load();
    void t.#keepWatching(watch);
    return t;
  }

  get size(): number {
    return this.#hashes.size;
  }

  has(hash: string): boolean {
    return this.#hashes.has(hash);
  }

  /** Stores tombstones (idempotent) and makes them live in this instance at once. */
  async add(hashes: readonly string[], forgetId: string): Promise<void> {
    const value = JSON.stringify({ forget_id: forgetId });
    try {
      await Promise.all(hashes.map((h) => this.#kv.put(`${TOMBSTONE_PREFIX}${h}`, value)));
    } catch (e) {
      throw new UnavailableError(`cannot store the tombstone: ${(e as Error).message}`);
    }
    this.#learn(hashes);
  }

  stop(): void {
    this.#stopped.abort();
    this.#watch?.stop();
  }

  #learn(hashes: Iterable<string>): void {
    let added = false;
    for (const h of hashes) {
      if (this.#hashes.has(h)) continue;
      this.#hashes.add(h);
      added = true;
    }
    if (added) this.#opts.onAdded?.();
  }

  #openWatch(): Promise<QueuedIterator<KvWatchEntry>> {
    return this.#kv.watch({ key: `${TOMBSTONE_PREFIX}>`, include: "updates", headers_only: true });
  }

  async #load(): Promise<void> {
    const keys: string[] = [];
    for await (const k of await this.#kv.keys(`${TOMBSTONE_PREFIX}>`)) keys.push(k.slice(TOMBSTONE_PREFIX.length));
    this.#learn(keys);
  }

  async #keepWatching(first: QueuedIterator<KvWatchEntry>): Promise<void> {
    const backoff = new Backoff(500, 30_000);
    const signal = this.#stopped.signal;
    let watch = first;
    for (;;) {
      let why: unknown = "the watch ended";
      try {
        for await (const e of watch) {
          if (e.operation === "PUT") this.#learn([e.key.slice(TOMBSTONE_PREFIX.length)]);
          backoff.reset();
        }
      } catch (e) {
        why = e;
      }
      if (signal.aborted) return;
      this.#opts.logger?.error({ err: why }, "forgotten learners: the tombstone watch ended; starting it again");
      watch = await this.#reopen(backoff, signal);
      if (signal.aborted) return;
    }
  }

  /** A new watch and a fresh listing, retried with backoff until both work or the store stops. */
  async #reopen(backoff: Backoff, signal: AbortSignal): Promise<QueuedIterator<KvWatchEntry>> {
    for (;;) {
      await sleep(backoff.next(), signal);
      if (signal.aborted) return this.#watch!;
      try {
        const watch = await this.#openWatch();
        try {
          await this.#load();
        } catch (e) {
          watch.stop();
          throw e;
        }
        this.#watch = watch;
        return watch;
      } catch (e) {
        this.#opts.logger?.error({ err: e }, "forgotten learners: cannot watch the tombstones yet; retrying");
      }
    }
  }
}
