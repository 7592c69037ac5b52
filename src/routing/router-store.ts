/**
 * Routers in a JetStream KV bucket (key = router id, value = RouterConfig JSON without the revision). Every
 * instance watches the bucket and keeps an in-memory copy, so the emit path's list() does no I/O and admin
 * changes apply everywhere within about a second (ERB cached routers for 10 minutes).
 *
 * The bucket, its watch and the in-memory copy are nats/watched-bucket.ts (the watch is the only writer of the copy,
 * admin writes wait for their own change to come back through it, a watch that ends or fails is reopened after the
 * last revision applied). What is routing's stays here: the stored form, the match params compiled when a router
 * arrives, incarnations, and the change listeners delivery subscribes.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { AlreadyExistsError, ConflictError, NotFoundError } from "../errors.js";
import type { NatsNames } from "../nats/names.js";
import { type OpenWatch, WatchedBucket, type WatchRestart } from "../nats/watched-bucket.js";
import { compiledMatchFor, type CompiledMatch } from "./match-params.js";
import type { RouterConfig } from "./router-model.js";
import type { RouterChange, RouterSource } from "./router-source.js";
import type { ValidRouter } from "./router-validation.js";

export interface RouterStoreOptions {
  /** Bucket replicas (3 in a NATS cluster). Only used when the bucket is created. */
  readonly replicas?: number;
  /** How long an admin write waits for its change to come back through the watch. */
  readonly applyTimeoutMs?: number;
  /** A stored value that cannot be used (bad JSON, invalid regex); the router is treated as absent. */
  readonly onInvalid?: (id: string, error: Error) => void;
  /** The watch ended or failed and will be reopened in `retryInMs` (log it), or was reopened (`retryInMs` absent). */
  readonly onWatchRestart?: (event: WatchRestart) => void;
  /**
   * A change listener threw (log it at error): the other listeners and the watch carry on, but whatever that
   * listener does for the change (delivery starting or stopping a router's consumer) did not happen.
   */
  readonly onListenerError?: (change: RouterChange, error: unknown) => void;
  /** Opens the watch; tests wrap it to end a real watch. Default: kv.watch(), resuming after `fromRevision`. */
  readonly openWatch?: OpenWatch;
}

type Stored = Omit<RouterConfig, "revision">;

export class RouterStore implements RouterSource {
  readonly #bucket: WatchedBucket<RouterConfig>;
  readonly #listeners: Set<(change: RouterChange) => void>;

  private constructor(bucket: WatchedBucket<RouterConfig>, listeners: Set<(change: RouterChange) => void>) {
    this.#bucket = bucket;
    this.#listeners = listeners;
  }

  /** Creates the bucket if needed, loads every router and starts watching. Resolves once the initial set is loaded. */
  static async open(nc: NatsConnection, names: NatsNames, opts: RouterStoreOptions = {}): Promise<RouterStore> {
    // Filled by subscribe() once the store is open; the bucket's watch calls them on every later change.
    const listeners = new Set<(change: RouterChange) => void>();
    const onListenerError = opts.onListenerError ?? (() => {});
    const bucket = await WatchedBucket.open<RouterConfig>(nc, {
      ...opts,
      bucket: names.routersBucket,
      what: "router",
      decode: (e) => {
        const router = decode(e);
        compiledMatchFor(router); // compiles now, and rejects a stored invalid regex before anything matches with it
        return router;
      },
      onChange: (c) => {
        const change: RouterChange = c.value
          ? { kind: "put", router: c.value, ...(c.previous ? { previous: c.previous } : {}) }
          : { kind: "delete", id: c.key, previous: c.previous };
        for (const l of listeners) {
          try {
            l(change);
          } catch (err) {
            // A failing listener must not stop the others or the watch, nor go unseen.
            onListenerError(change, err);
          }
        }
      },
    });
    return new RouterStore(bucket, listeners);
  }

  list(): readonly RouterConfig[] {
    return this.#bucket.values();
  }

  get(id: string): RouterConfig | undefined {
    return this.#bucket.get(id);
  }

  subscribe(listener: (change: RouterChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Compiled match params of this router version. Each revision is a new immutable object, compiled once when the
   * watch applies it (compiledMatchFor caches per object), so the emit path never compiles.
   */
  compiledMatch(router: RouterConfig): readonly CompiledMatch[] {
    return compiledMatchFor(router);
  }

  /** Reads the bucket directly (not the watched copy). */
  async fetch(id: string): Promise<RouterConfig> {
    const e = await this.#bucket.read(id);
    if (e?.operation !== "PUT") throw new NotFoundError(`router ${id} not found`);
    return decode(e);
  }

  /**
   * Under an id whose router was deleted, the new router is a new incarnation (router-model.ts): the deletion's
   * marker revision names it, and the write is conditional on that marker still being the last entry, so two
   * creates racing over one marker cannot both succeed with the same incarnation.
   */
  async create(router: ValidRouter): Promise<RouterConfig> {
    const now = new Date().toISOString();
    const marker = await this.#bucket.read(router.id);
    if (marker?.operation === "PUT") throw new AlreadyExistsError(`router ${router.id} already exists`);
    const stored: Stored = { ...router, ...(marker ? { incarnation: marker.revision } : {}), createTime: now, updateTime: now };
    const value = this.#bucket.encode(stored);
    const revision = await this.#bucket.write(
      // previousSeq 0 rather than kv.create, which would write over a marker that appeared meanwhile.
      (kv) => kv.put(router.id, value, { previousSeq: marker ? marker.revision : 0 }),
      () => new AlreadyExistsError(`router ${router.id} already exists`),
    );
    return { ...stored, revision };
  }

  /**
   * Optimistic read-modify-write: `change` gets the stored router and returns the new writable fields. When
   * another write lands in between, the update fails with ConflictError (Aborted) instead of losing it.
   * `expectedRevision` (non-zero) makes the caller's own read part of the check.
   */
  async update(id: string, change: (current: RouterConfig) => ValidRouter, expectedRevision = 0): Promise<RouterConfig> {
    const current = await this.fetch(id);
    if (expectedRevision !== 0 && expectedRevision !== current.revision) {
      throw new ConflictError(`router ${id} was changed (revision ${current.revision}, expected ${expectedRevision}); read it again`);
    }
    const next: Stored = {
      ...change(current),
      id,
      ...(current.incarnation ? { incarnation: current.incarnation } : {}),
      createTime: current.createTime,
      updateTime: new Date().toISOString(),
    };
    const value = this.#bucket.encode(next);
    const revision = await this.#bucket.write(
      (kv) => kv.update(id, value, current.revision),
      () => new ConflictError(`router ${id} was changed concurrently; retry`),
    );
    return { ...next, revision };
  }

  async delete(id: string): Promise<void> {
    const current = await this.fetch(id);
    await this.#bucket.purge(id, current.revision, () => new ConflictError(`router ${id} was changed concurrently; retry`));
  }

  async close(): Promise<void> {
    await this.#bucket.close();
    this.#listeners.clear();
  }
}

function decode(e: { key: string; revision: number; json<T>(): T }): RouterConfig {
  const stored = e.json<Stored>();
  if (stored === null || typeof stored !== "object" || stored.id !== e.key) throw new Error(`router value under key ${e.key} is malformed`);
  return { ...stored, revision: e.revision };
}
