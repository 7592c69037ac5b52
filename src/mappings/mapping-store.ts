/**
 * Custom mappings in a JetStream KV bucket (key = mapping id, value = the mapping spec as JSON, with its times).
 * Every instance watches the bucket and keeps the compiled set in memory (custom/mapping-set.ts), so the emit path
 * reads `current()` with no I/O and a change is live on every instance as soon as its watch delivers it (well
 * under a second on a healthy NATS), the way routers are (routing/router-store.ts, whose rules this follows:
 * the watch is the only writer of the in-memory copy, an admin write waits for its own change to come back through
 * it, and a watch that ends or fails is reopened after the last revision applied, with backoff).
 *
 * A stored mapping is compiled when the watch applies it, never per event. One that no longer compiles (written
 * by a newer version, or edited by hand in the bucket) is reported and left out; it handles no event until fixed.
 */
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { NatsConnection, QueuedIterator } from "@nats-io/transport-node";
import { Backoff, sleep } from "../backoff.js";
import { AlreadyExistsError, ConflictError, NotFoundError, UnavailableError, ValidationError } from "../errors.js";
import { openKvBucket } from "../nats/kv-bucket.js";
import type { NatsNames } from "../nats/names.js";
import { compileMapping, type CompiledMapping } from "../transform/custom/compile-mapping.js";
import type { MappingSpec } from "../transform/custom/mapping-format.js";
import { MappingSet } from "../transform/custom/mapping-set.js";

export interface StoredMapping {
  readonly spec: MappingSpec;
  readonly createTime: string;
  readonly updateTime: string;
  /** The KV revision; increases with every change. */
  readonly revision: number;
}

export interface MappingStoreOptions {
  /** Bucket replicas (3 in a NATS cluster). Only used when the bucket is created. */
  readonly replicas?: number;
  /** How long an admin write waits for its change to come back through the watch. */
  readonly applyTimeoutMs?: number;
  /** A stored value that cannot be used (bad JSON, does not compile); the mapping is treated as absent. */
  readonly onInvalid?: (id: string, error: Error) => void;
  /** The watch ended or failed and is reopened in `retryInMs` (log it), or was reopened (`retryInMs` absent). */
  readonly onWatchRestart?: (event: { readonly error?: string; readonly retryInMs?: number; readonly fromRevision: number }) => void;
}

type Stored = Omit<StoredMapping, "revision">;

export class MappingStore {
  readonly #kv: KV;
  #watch: QueuedIterator<KvWatchEntry>;
  readonly #closing = new AbortController();
  readonly #entries = new Map<string, { stored: StoredMapping; compiled: CompiledMapping }>();
  readonly #waiters = new Set<() => void>();
  readonly #opts: MappingStoreOptions;
  readonly #maxPayload: () => number | undefined;
  #set: MappingSet = MappingSet.EMPTY;
  #seen = 0;
  #closed = false;

  private constructor(kv: KV, watch: QueuedIterator<KvWatchEntry>, opts: MappingStoreOptions, maxPayload: () => number | undefined) {
    this.#kv = kv;
    this.#watch = watch;
    this.#opts = opts;
    this.#maxPayload = maxPayload;
  }

  /** Creates the bucket if needed, loads every mapping and starts watching; resolves once the initial set is loaded. */
  static async open(nc: NatsConnection, names: NatsNames, opts: MappingStoreOptions = {}): Promise<MappingStore> {
    const kv = await openKvBucket(nc, names.mappingsBucket, { replicas: opts.replicas ?? 1, history: 5 });
    const lastSeq = (await kv.status()).streamInfo.state.last_seq;
    const store = new MappingStore(kv, await kv.watch(), opts, () => nc.info?.max_payload);
    const loaded = store.#waitFor(() => store.#seen >= lastSeq, 30_000);
    void store.#run();
    try {
      await loaded;
    } catch (e) {
      await store.close();
      throw e;
    }
    return store;
  }

  /** The compiled mappings as last seen in the bucket: what the emit path reads, per event, with no I/O. */
  current(): MappingSet {
    return this.#set;
  }

  list(): StoredMapping[] {
    return [...this.#entries.values()].map((e) => e.stored).sort((a, b) => (a.spec.id < b.spec.id ? -1 : 1));
  }

  get(id: string): StoredMapping | undefined {
    return this.#entries.get(id)?.stored;
  }

  /** Reads the bucket directly (not the watched copy): the base of a read-modify-write. */
  async fetch(id: string): Promise<StoredMapping> {
    const e = await nats(() => this.#kv.get(id));
    if (e?.operation !== "PUT") throw new NotFoundError(`mapping ${id} not found`);
    return decode(e);
  }

  /** `spec` was checked by the caller (mapping-check.ts). */
  async create(spec: MappingSpec): Promise<StoredMapping> {
    const now = new Date().toISOString();
    const stored: Stored = { spec, createTime: now, updateTime: now };
    let revision: number;
    try {
      revision = await this.#kv.create(spec.id, this.#encode(stored));
    } catch (e) {
      if (isWrongLastSequence(e)) throw new AlreadyExistsError(`mapping ${spec.id} already exists`);
      throw unavailable(e);
    }
    await this.#applied(revision);
    return { ...stored, revision };
  }

  /**
   * Optimistic read-modify-write; a write in between fails it with ConflictError instead of being lost.
   * `expectedRevision` (non-zero) makes the caller's own earlier read part of the check.
   */
  async update(id: string, change: (current: StoredMapping) => MappingSpec, expectedRevision = 0): Promise<StoredMapping> {
    const current = await this.fetch(id);
    if (expectedRevision !== 0 && expectedRevision !== current.revision) {
      throw new ConflictError(`mapping ${id} was changed (revision ${current.revision}, expected ${expectedRevision}); retry`);
    }
    const next: Stored = { spec: { ...change(current), id }, createTime: current.createTime, updateTime: new Date().toISOString() };
    let revision: number;
    try {
      revision = await this.#kv.update(id, this.#encode(next), current.revision);
    } catch (e) {
      if (isWrongLastSequence(e)) throw new ConflictError(`mapping ${id} was changed concurrently; retry`);
      throw unavailable(e);
    }
    await this.#applied(revision);
    return { ...next, revision };
  }

  async delete(id: string): Promise<void> {
    const current = await this.fetch(id);
    let revision: number;
    try {
      // Purge, not delete: nothing of a deleted mapping stays in the bucket's history.
      await this.#kv.purge(id, { previousSeq: current.revision });
      revision = (await this.#kv.status()).streamInfo.state.last_seq;
    } catch (e) {
      if (isWrongLastSequence(e)) throw new ConflictError(`mapping ${id} was changed concurrently; retry`);
      throw unavailable(e);
    }
    await this.#applied(revision);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#closing.abort();
    this.#watch.stop();
  }

  /** A value above the server's limit is the admin's input being too large (InvalidArgument), not NATS down. */
  #encode(stored: Stored): string {
    const json = JSON.stringify(stored);
    const limit = (this.#maxPayload() ?? Number.POSITIVE_INFINITY) - 1024;
    const bytes = Buffer.byteLength(json);
    if (bytes > limit) throw new ValidationError("mapping", `is ${bytes} bytes as stored; the NATS server accepts at most ${limit}`);
    return json;
  }

  async #run(): Promise<void> {
    const backoff = new Backoff(250, 30_000);
    while (!this.#closed) {
      let error: string;
      try {
        for await (const e of this.#watch) {
          this.#apply(e);
          backoff.reset();
        }
        error = "the mapping watch ended";
      } catch (err) {
        error = `the mapping watch failed: ${(err as Error).message}`;
      }
      while (!this.#closed) {
        const retryInMs = backoff.next();
        this.#opts.onWatchRestart?.({ error, retryInMs, fromRevision: this.#seen });
        await sleep(retryInMs, this.#closing.signal);
        if (this.#closed) return;
        try {
          this.#watch = await this.#kv.watch({ resumeFromRevision: this.#seen + 1 });
          if (this.#closed) this.#watch.stop();
          else this.#opts.onWatchRestart?.({ fromRevision: this.#seen });
          break;
        } catch (err) {
          error = `the mapping watch could not be reopened: ${(err as Error).message}`;
        }
      }
    }
  }

  #apply(e: KvWatchEntry): void {
    this.#seen = Math.max(this.#seen, e.revision);
    const previous = this.#entries.get(e.key);
    if (previous && previous.stored.revision >= e.revision) {
      this.#wake();
      return;
    }
    let changed = false;
    if (e.operation === "PUT") {
      try {
        const stored = decode(e);
        this.#entries.set(e.key, { stored, compiled: compileMapping(stored.spec) });
        changed = true;
      } catch (err) {
        this.#opts.onInvalid?.(e.key, err as Error);
        changed = this.#entries.delete(e.key);
      }
    } else changed = this.#entries.delete(e.key);
    if (changed) this.#set = new MappingSet([...this.#entries.values()].map((x) => x.compiled));
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
        reject(new UnavailableError("mapping bucket watch did not catch up"));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
    });
  }

  /** The write is durable once the KV call returned; waiting only makes this instance's copy reflect it. */
  async #applied(revision: number): Promise<void> {
    await this.#waitFor(() => this.#seen >= revision, this.#opts.applyTimeoutMs ?? 5_000).catch(() => {});
  }
}

function decode(e: { key: string; revision: number; json<T>(): T }): StoredMapping {
  const stored = e.json<Stored>();
  if (stored === null || typeof stored !== "object" || stored.spec?.id !== e.key)
    throw new Error(`mapping value under key ${e.key} is malformed`);
  return { ...stored, revision: e.revision };
}

function isWrongLastSequence(e: unknown): boolean {
  return (
    e instanceof JetStreamApiError &&
    (e.code === JetStreamApiCodes.StreamWrongLastSequence || e.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

function unavailable(e: unknown): Error {
  return new UnavailableError(`mapping bucket unavailable: ${(e as Error).message}`);
}

async function nats<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw unavailable(e);
  }
}
