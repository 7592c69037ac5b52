/**
 * A bounded, short-lived cache in front of KV gets, so the emit path does not pay a NATS round trip per event
 * for hot learners and courses. Misses are cached too (most learners are not in the table). A watch on the bucket
 * drops changed keys, so imports apply within the watch latency; the TTL only bounds staleness if the watch lags.
 */
import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/transport-node";
import { LRUCache } from "lru-cache";
import { UnavailableError } from "../errors.js";

export interface LookupCacheOptions {
  readonly max?: number;
  readonly ttlMs?: number;
  /** Called after a watched change dropped a key (tests await it instead of sleeping). */
  readonly onInvalidate?: (key: string) => void;
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

  constructor(kv: KV, parse: (e: { json<J>(): J }) => T, opts: LookupCacheOptions = {}) {
    this.#kv = kv;
    this.#parse = parse;
    this.#onInvalidate = opts.onInvalidate ?? (() => {});
    this.#cache = new LRUCache<string, Slot<T>>({ max: opts.max ?? 50_000, ttl: opts.ttlMs ?? 60_000 });
  }

  /** Starts the invalidating watch; resolves once it is subscribed. */
  async start(): Promise<void> {
    this.#watch = await this.#kv.watch({ include: "updates", headers_only: true });
    void (async () => {
      try {
        for await (const e of this.#watch!) {
          this.#generation++;
          this.#cache.delete(e.key);
          this.#onInvalidate(e.key);
        }
      } catch {
        // Stopped or the connection closed; the TTL still bounds staleness.
      }
    })();
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
