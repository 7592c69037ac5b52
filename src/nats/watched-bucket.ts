/**
 * A JetStream KV bucket mirrored in memory by a watch: the part the router store (routing/router-store.ts) and the
 * mapping store (mappings/mapping-store.ts) share, so that the emit path reads their values with no I/O and an
 * admin change is live on every instance as soon as its watch delivers it (well under a second on a healthy NATS).
 *
 * The rules, and why:
 * - The watch is the only writer of the in-memory map. A store's write waits until its own change has come back
 *   through it, which gives read-your-writes on the writing instance and one ordering for every reader.
 * - `open` resolves once the watch has applied everything up to the bucket's last sequence at opening, so a store
 *   is never served half loaded.
 * - A value is decoded (and compiled: the store's `decode`) once, when the watch applies it, never per read. One
 *   that cannot be used is reported and treated as absent.
 * - The watch is reopened when it ends or fails (an ordered consumer can stop for good, e.g. its subscription is
 *   closed): with backoff, resuming after the last revision applied, so no change is missed and none is applied
 *   twice. Without that, the instance would silently keep a stale copy until restarted.
 *
 * What a value is, how it is checked and what its errors say stay in the store.
 */
import { JetStreamApiError } from "@nats-io/jetstream";
import type { KV, KvEntry, KvWatchEntry } from "@nats-io/kv";
import type { NatsConnection, QueuedIterator } from "@nats-io/transport-node";
import { Backoff, sleep } from "../backoff.js";
import { UnavailableError, ValidationError } from "../errors.js";
import { isWrongLastSequence } from "./jetstream-errors.js";
import { openKvBucket } from "./kv-bucket.js";

/** The watch ended or failed and is reopened in `retryInMs` (log it), or was reopened (`retryInMs` absent). */
export interface WatchRestart {
  readonly error?: string;
  readonly retryInMs?: number;
  readonly fromRevision: number;
}

/** Opens the watch, resuming after `fromRevision` (0: from the start). Tests wrap it to end a real watch. */
export type OpenWatch = (kv: KV, fromRevision: number) => Promise<QueuedIterator<KvWatchEntry>>;

/** A key's value appeared or changed (`value` set), or went away (`value` absent). */
export type BucketChange<V> =
  | { readonly key: string; readonly value: V; readonly previous?: V }
  | { readonly key: string; readonly value?: undefined; readonly previous: V };

export interface WatchedBucketOptions<V> {
  readonly bucket: string;
  /** What one value is, in messages: "router" gives "router bucket unavailable: ...". */
  readonly what: string;
  /** Bucket replicas (3 in a NATS cluster). Only used when the bucket is created. */
  readonly replicas?: number;
  /** How long a write waits for its change to come back through the watch. */
  readonly applyTimeoutMs?: number;
  /** A stored entry as the store keeps it; throws when the value cannot be used (the key is then treated as absent). */
  readonly decode: (e: KvEntry) => V;
  /**
   * The map changed; `values` is every value after the change (what values() returns from now on). Runs inside the
   * watch, also while `open` loads the bucket: must not throw.
   */
  readonly onChange?: (change: BucketChange<V>, values: readonly V[]) => void;
  /** A stored value that `decode` refused. */
  readonly onInvalid?: (key: string, error: Error) => void;
  readonly onWatchRestart?: (event: WatchRestart) => void;
  /** Default: kv.watch(), resuming after `fromRevision`. */
  readonly openWatch?: OpenWatch;
}

const defaultOpenWatch: OpenWatch = (kv, fromRevision) =>
  fromRevision > 0 ? kv.watch({ resumeFromRevision: fromRevision + 1 }) : kv.watch();

/** How long `open` waits for the watch to replay the bucket before the start fails. */
const LOAD_TIMEOUT_MS = 30_000;

export class WatchedBucket<V> {
  readonly #kv: KV;
  readonly #opts: WatchedBucketOptions<V>;
  readonly #maxPayload: () => number | undefined;
  readonly #closing = new AbortController();
  readonly #entries = new Map<string, { readonly value: V; readonly revision: number }>();
  readonly #waiters = new Set<() => void>();
  #watch: QueuedIterator<KvWatchEntry>;
  /** values() result, rebuilt only after a change: the emit path reads it for every event. */
  #values: readonly V[] | undefined;
  #seen = 0;
  #closed = false;

  private constructor(kv: KV, watch: QueuedIterator<KvWatchEntry>, opts: WatchedBucketOptions<V>, maxPayload: () => number | undefined) {
    this.#kv = kv;
    this.#watch = watch;
    this.#opts = opts;
    this.#maxPayload = maxPayload;
  }

  /** Creates the bucket if needed, starts the watch and resolves once it has applied the bucket's initial contents. */
  static async open<V>(nc: NatsConnection, opts: WatchedBucketOptions<V>): Promise<WatchedBucket<V>> {
    const kv = await openKvBucket(nc, opts.bucket, { replicas: opts.replicas ?? 1, history: 5 });
    // Everything up to this sequence is the initial state; the watch replays the last value of every key first.
    const lastSeq = (await kv.status()).streamInfo.state.last_seq;
    const watch = await (opts.openWatch ?? defaultOpenWatch)(kv, 0);
    const bucket = new WatchedBucket(kv, watch, opts, () => nc.info?.max_payload);
    const loaded = bucket.#waitFor(() => bucket.#seen >= lastSeq, LOAD_TIMEOUT_MS);
    void bucket.#run();
    try {
      await loaded;
    } catch (e) {
      await bucket.close();
      throw e;
    }
    return bucket;
  }

  get(key: string): V | undefined {
    return this.#entries.get(key)?.value;
  }

  /** Every usable value as last seen in the bucket; the same frozen array until the next change. */
  values(): readonly V[] {
    this.#values ??= Object.freeze([...this.#entries.values()].map((e) => e.value));
    return this.#values;
  }

  /** Reads the bucket itself (not the watched copy): the base of a read-modify-write. */
  async read(key: string): Promise<KvEntry | null> {
    try {
      return await this.#kv.get(key);
    } catch (e) {
      throw this.#unavailable(e);
    }
  }

  /**
   * A compare-and-set write; `write` returns the new revision. Throws `lost()` when the key changed since it was
   * read, UnavailableError when NATS failed. Resolves once this instance's watch has applied the write.
   */
  async write(write: (kv: KV) => Promise<number>, lost: () => Error): Promise<number> {
    let revision: number;
    try {
      revision = await write(this.#kv);
    } catch (e) {
      throw isWrongLastSequence(e) ? lost() : this.#unavailable(e);
    }
    await this.#settled(() => this.#seen >= revision);
    return revision;
  }

  /**
   * Removes `key` written at `revision` (a conditional purge: `lost()` when it changed since) and resolves once this
   * instance's watch has applied that. Purge, not delete: a soft delete would keep the earlier values (and the
   * secrets in them) in the bucket's history.
   */
  async purge(key: string, revision: number, lost: () => Error): Promise<void> {
    try {
      await this.#kv.purge(key, { previousSeq: revision });
    } catch (e) {
      throw isWrongLastSequence(e) ? lost() : this.#unavailable(e);
    }
    await this.#settled(() => (this.#entries.get(key)?.revision ?? Number.POSITIVE_INFINITY) > revision);
  }

  /**
   * The stored form of `value`. One above the server's limit is the admin's input being too large (InvalidArgument),
   * not NATS being down (Unavailable, which invites a retry that can never succeed). Headroom for the KV headers.
   */
  encode(value: unknown): string {
    const json = JSON.stringify(value);
    const limit = (this.#maxPayload() ?? Number.POSITIVE_INFINITY) - 1024;
    const bytes = Buffer.byteLength(json);
    if (bytes > limit) throw new ValidationError(this.#opts.what, `is ${bytes} bytes as stored; the NATS server accepts at most ${limit}`);
    return json;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#closing.abort();
    this.#watch.stop();
  }

  /** Applies the watch; when it ends or fails while open, reopens it after the last revision seen (see header). */
  async #run(): Promise<void> {
    const { what } = this.#opts;
    const openWatch = this.#opts.openWatch ?? defaultOpenWatch;
    const backoff = new Backoff(250, 30_000);
    while (!this.#closed) {
      let error: string;
      try {
        for await (const e of this.#watch) {
          this.#apply(e);
          backoff.reset();
        }
        error = `the ${what} watch ended`;
      } catch (err) {
        error = `the ${what} watch failed: ${(err as Error).message}`;
      }
      while (!this.#closed) {
        const retryInMs = backoff.next();
        this.#opts.onWatchRestart?.({ error, retryInMs, fromRevision: this.#seen });
        await sleep(retryInMs, this.#closing.signal);
        if (this.#closed) return;
        try {
          this.#watch = await openWatch(this.#kv, this.#seen);
          if (this.#closed) this.#watch.stop();
          else this.#opts.onWatchRestart?.({ fromRevision: this.#seen });
          break;
        } catch (err) {
          error = `the ${what} watch could not be reopened: ${(err as Error).message}`;
        }
      }
    }
  }

  #apply(e: KvWatchEntry): void {
    this.#seen = Math.max(this.#seen, e.revision);
    const previous = this.#entries.get(e.key);
    if (previous && previous.revision >= e.revision) {
      this.#wake();
      return;
    }
    let value: V | undefined;
    if (e.operation === "PUT") {
      try {
        value = this.#opts.decode(e);
      } catch (err) {
        this.#opts.onInvalid?.(e.key, err as Error);
      }
    }
    if (value !== undefined) this.#entries.set(e.key, { value, revision: e.revision });
    else this.#entries.delete(e.key);
    if (value !== undefined || previous) {
      this.#values = undefined;
      this.#opts.onChange?.(
        value !== undefined
          ? { key: e.key, value, ...(previous ? { previous: previous.value } : {}) }
          : { key: e.key, previous: (previous as { value: V }).value },
        this.values(),
      );
    }
    this.#wake();
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  #waitFor(done: () => boolean, timeoutMs: number): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!done()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new UnavailableError(`${this.#opts.what} bucket watch did not catch up`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
    });
  }

  /** A write is durable once the KV call returned; waiting only makes this instance's copy reflect it. */
  async #settled(done: () => boolean): Promise<void> {
    await this.#waitFor(done, this.#opts.applyTimeoutMs ?? 5_000).catch(() => {});
  }

  #unavailable(e: unknown): Error {
    const { what } = this.#opts;
    return e instanceof JetStreamApiError
      ? new UnavailableError(`${what} bucket: ${e.message}`)
      : new UnavailableError(`${what} bucket unavailable: ${(e as Error).message}`);
  }
}
