/**
 * A bounded, short-lived cache in front of KV gets, so the emit path does not pay a NATS round trip per event
 * for hot learners and courses. Misses are cached too (most learners are not in the table). A watch on the bucket
 * drops changed keys, so imports apply within the watch latency; the TTL only bounds staleness if the watch lags.
 *
 * The watch can end under us (nats.js stops it when its subscription fails, e.g. a permissions violation, or when
 * it cannot re-create its consumer): it is then logged and started again with backoff until it is stopped, and
 * the cache is emptied once the new watch runs, because changes made while no watch ran were never seen.
 */
import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/transport-node";
import { LRUCache } from "lru-cache";
import type { Logger } from "pino";
import { Backoff, sleep } from "../backoff.js";
import { UnavailableError } from "../errors.js";

export interface LookupCacheOptions {
  readonly max?: number;
  readonly ttlMs?: number;
  /** Called after a watched change dropped a key (tests await it instead of sleeping). */
  readonly onInvalidate?: (key: string) => void;
  /** Where an ended watch is reported (at error), with `label` (the bucket) to tell the caches apart. */
  readonly logger?: Logger;
  readonly label?: string;
  /** First wait before the watch is started again (doubles up to 30 s); default 500 ms. */
  readonly restartDelayMs?: number;
}

interface Slot<T> {
  readonly value: T | undefined;
}

export class KvLookupCache<T> {
  readonly #kv: KV;
  readonly #parse: (e: { json<J>(): J }) => T;
  readonly #cache: LRUCache<string, Slot<T>>;
  readonly #inFlight = new Map<string, Promise<T | undefined>>();
  #watch: QueuedIterator<KvWatchEntry> | undefined;
  /** Bumped on every watched change; a get that raced a change is not cached (it may have read the old value). */
  #generation = 0;
  readonly #onInvalidate: (key: string) => void;
  readonly #opts: LookupCacheOptions;
  readonly #stopped = new AbortController();

  constructor(kv: KV, parse: (e: { json<J>(): J }) => T, opts: LookupCacheOptions = {}) {
    this.#kv = kv;
    this.#parse = parse;
    this.#opts = opts;
    this.#onInvalidate = opts.onInvalidate ?? (() => {});
    this.#cache = new LRUCache<string, Slot<T>>({ max: opts.max ?? 50_000, ttl: opts.ttlMs ?? 60_000 });
  }

  /** Starts the invalidating watch; resolves once it is subscribed (and rejects when the first one cannot be). */
  async start(): Promise<void> {
    this.#watch = await this.#openWatch();
    void this.#keepWatching(this.#watch);
  }

  #openWatch(): Promise<QueuedIterator<KvWatchEntry>> {
    return this.#kv.watch({ include: "updates", headers_only: true });
  }

  /** Applies the watch's changes; when it ends without stop(), logs why and starts a new one, with backoff. */
  async #keepWatching(first: QueuedIterator<KvWatchEntry>): Promise<void> {
    const backoff = new Backoff(this.#opts.restartDelayMs ?? 500, 30_000);
    const signal = this.#stopped.signal;
    let watch = first;
    for (let restarts = 0; ; restarts++) {
      let why: unknown = "the watch ended";
      try {
        for await (const e of watch) {
          this.#generation++;
          this.#cache.delete(e.key);
          this.#onInvalidate(e.key);
          backoff.reset();
        }
      } catch (e) {
        why = e;
      }
      if (signal.aborted) return;
      // nats.js ends the watch's iterator without its reason (the connection's status stream carries it).
      this.#log(why, restarts);
      for (;;) {
        await sleep(backoff.next(), signal);
        if (signal.aborted) return;
        try {
          watch = await this.#openWatch();
          break;
        } catch (e) {
          this.#log(e, restarts);
        }
      }
      this.#watch = watch;
      // Changes made while no watch ran were missed: forget everything rather than serve it until the TTL.
      this.#generation++;
      this.#cache.clear();
    }
  }

  #log(why: unknown, restarts: number): void {
    const err = why instanceof Error ? why : new Error(String(why));
    this.#opts.logger?.error(
      { err, bucket: this.#opts.label, restarts },
      "look-up cache: the invalidating watch ended; starting it again (until then changes apply within the cache TTL)",
    );
  }

  async get(key: string): Promise<T | undefined> {
    const hit = this.#cache.get(key);
    if (hit) return hit.value;
    const pending = this.#inFlight.get(key);
    if (pending) return pending;
    const p = this.#load(key).finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, p);
    return p;
  }

  /** The cached answer for a key (`value` undefined: cached as unknown), or undefined when get() would load it. */
  peek(key: string): Slot<T> | undefined {
    return this.#cache.get(key);
  }

  /** Forgets a key at once (after this instance wrote it), without waiting for the watch. */
  invalidate(key: string): void {
    this.#generation++;
    this.#cache.delete(key);
  }

  stop(): void {
    this.#stopped.abort();
    this.#watch?.stop();
    this.#cache.clear();
  }

  async #load(key: string): Promise<T | undefined> {
    const generation = this.#generation;
    let entry: Awaited<ReturnType<KV["get"]>>;
    try {
      entry = await this.#kv.get(key);
    } catch (err) {
      throw new UnavailableError(`look-up of ${key} failed: ${(err as Error).message}`);
    }
    let value: T | undefined;
    try {
      value = entry && entry.operation === "PUT" ? this.#parse(entry) : undefined;
    } catch {
      // A value this version cannot read counts as unknown rather than failing every event about it.
      value = undefined;
    }
    if (generation === this.#generation) this.#cache.set(key, { value });
    return value;
  }
}
