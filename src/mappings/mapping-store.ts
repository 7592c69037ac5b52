/**
 * Custom mappings in a JetStream KV bucket (key = mapping id, value = the mapping spec as JSON, with its times).
 * Every instance watches the bucket and keeps the compiled set in memory (custom/mapping-set.ts), so the emit path
 * reads `current()` with no I/O and a change is live on every instance as soon as its watch delivers it (well
 * under a second on a healthy NATS), the way routers are: both stores sit on nats/watched-bucket.ts (the watch is
 * the only writer of the in-memory copy, an admin write waits for its own change to come back through it, and a
 * watch that ends or fails is reopened after the last revision applied, with backoff).
 *
 * A stored mapping is compiled when the watch applies it, never per event. One that no longer compiles (written
 * by a newer version, or edited by hand in the bucket) is reported and left out; it handles no event until fixed.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { AlreadyExistsError, ConflictError, NotFoundError } from "../errors.js";
import type { NatsNames } from "../nats/names.js";
import { WatchedBucket, type WatchRestart } from "../nats/watched-bucket.js";
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
  readonly onWatchRestart?: (event: WatchRestart) => void;
}

type Stored = Omit<StoredMapping, "revision">;

interface Entry {
  readonly stored: StoredMapping;
  readonly compiled: CompiledMapping;
}

export class MappingStore {
  readonly #bucket: WatchedBucket<Entry>;
  readonly #set: { current: MappingSet };

  private constructor(bucket: WatchedBucket<Entry>, set: { current: MappingSet }) {
    this.#bucket = bucket;
    this.#set = set;
  }

  /** Creates the bucket if needed, loads every mapping and starts watching; resolves once the initial set is loaded. */
  static async open(nc: NatsConnection, names: NatsNames, opts: MappingStoreOptions = {}): Promise<MappingStore> {
    // Rebuilt by the watch on every change, the initial load included; read as it is by the emit path.
    const set = { current: MappingSet.EMPTY };
    const bucket = await WatchedBucket.open<Entry>(nc, {
      ...opts,
      bucket: names.mappingsBucket,
      what: "mapping",
      decode: (e) => {
        const stored = decode(e);
        return { stored, compiled: compileMapping(stored.spec) };
      },
      onChange: (_change, entries) => {
        set.current = new MappingSet(entries.map((x) => x.compiled));
      },
    });
    return new MappingStore(bucket, set);
  }

  /** The compiled mappings as last seen in the bucket: what the emit path reads, per event, with no I/O. */
  current(): MappingSet {
    return this.#set.current;
  }

  list(): StoredMapping[] {
    return this.#bucket
      .values()
      .map((e) => e.stored)
      .sort((a, b) => (a.spec.id < b.spec.id ? -1 : 1));
  }

  get(id: string): StoredMapping | undefined {
    return this.#bucket.get(id)?.stored;
  }

  /** Reads the bucket directly (not the watched copy): the base of a read-modify-write. */
  async fetch(id: string): Promise<StoredMapping> {
    const e = await this.#bucket.read(id);
    if (e?.operation !== "PUT") throw new NotFoundError(`mapping ${id} not found`);
    return decode(e);
  }

  /** `spec` was checked by the caller (mapping-check.ts). */
  async create(spec: MappingSpec): Promise<StoredMapping> {
    const now = new Date().toISOString();
    const stored: Stored = { spec, createTime: now, updateTime: now };
    const value = this.#bucket.encode(stored);
    const revision = await this.#bucket.write(
      (kv) => kv.create(spec.id, value),
      () => new AlreadyExistsError(`mapping ${spec.id} already exists`),
    );
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
    const value = this.#bucket.encode(next);
    const revision = await this.#bucket.write(
      (kv) => kv.update(id, value, current.revision),
      () => new ConflictError(`mapping ${id} was changed concurrently; retry`),
    );
    return { ...next, revision };
  }

  async delete(id: string): Promise<void> {
    const current = await this.fetch(id);
    await this.#bucket.purge(id, current.revision, () => new ConflictError(`mapping ${id} was changed concurrently; retry`));
  }

  async close(): Promise<void> {
    await this.#bucket.close();
  }
}

function decode(e: { key: string; revision: number; json<T>(): T }): StoredMapping {
  const stored = e.json<Stored>();
  if (stored === null || typeof stored !== "object" || stored.spec?.id !== e.key)
    throw new Error(`mapping value under key ${e.key} is malformed`);
  return { ...stored, revision: e.revision };
}
