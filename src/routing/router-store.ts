/**
 * Routers in a JetStream KV bucket (key = router id, value = RouterConfig JSON without the revision). Every
 * instance watches the bucket and keeps an in-memory copy, so the emit path's list() does no I/O and admin
 * changes apply everywhere within about a second (ERB cached routers for 10 minutes).
 *
 * The watch is the only writer of the in-memory map: admin writes wait until their own change has come back
 * through it, which gives read-your-writes on the writing instance and one ordering for every listener.
 *
 * The watch is restarted when it ends or fails (an ordered consumer can stop for good, e.g. its subscription is
 * closed): with backoff, resuming after the last revision applied, so no change is missed and none is applied
 * twice. Without that, this instance would silently keep a stale copy of every router until restarted.
 */
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { KV, KvWatchEntry } from "@nats-io/kv";
import { openKvBucket } from "../nats/kv-bucket.js";
import { Backoff, sleep } from "../backoff.js";
import type { NatsConnection, QueuedIterator } from "@nats-io/transport-node";
import { AlreadyExistsError, ConflictError, NotFoundError, UnavailableError, ValidationError } from "../errors.js";
import type { NatsNames } from "../nats/names.js";
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
  readonly onWatchRestart?: (event: { readonly error?: string; readonly retryInMs?: number; readonly fromRevision: number }) => void;
  /**
   * A change listener threw (log it at error): the other listeners and the watch carry on, but whatever that
   * listener does for the change (delivery starting or stopping a router's consumer) did not happen.
   */
  readonly onListenerError?: (change: RouterChange, error: unknown) => void;
  /** Opens the watch; tests wrap it to end a real watch. Default: kv.watch(), resuming after `fromRevision`. */
  readonly openWatch?: (kv: KV, fromRevision: number) => Promise<QueuedIterator<KvWatchEntry>>;
}

function defaultOpenWatch(kv: KV, fromRevision: number): Promise<QueuedIterator<KvWatchEntry>> {
  return fromRevision > 0 ? kv.watch({ resumeFromRevision: fromRevision + 1 }) : kv.watch();
}

type Stored = Omit<RouterConfig, "revision">;

export class RouterStore implements RouterSource {
  readonly #kv: KV;
  #watch: QueuedIterator<KvWatchEntry>;
  readonly #openWatch: (kv: KV, fromRevision: number) => Promise<QueuedIterator<KvWatchEntry>>;
  readonly #onWatchRestart: NonNullable<RouterStoreOptions["onWatchRestart"]>;
  readonly #closing = new AbortController();
  readonly #entries = new Map<string, RouterConfig>();
  readonly #listeners = new Set<(change: RouterChange) => void>();
  readonly #waiters = new Set<() => void>();
  readonly #applyTimeoutMs: number;
  readonly #onInvalid: (id: string, error: Error) => void;
  readonly #onListenerError: NonNullable<RouterStoreOptions["onListenerError"]>;
  /** list() result, rebuilt only after a change: the emit path calls list() for every event. */
  #snapshot: readonly RouterConfig[] | undefined;
  #seen = 0;
  #closed = false;
  /** The connected server's max_payload: larger values are refused by NATS, so they are refused here first. */
  readonly #maxPayload: () => number | undefined;

  private constructor(kv: KV, watch: QueuedIterator<KvWatchEntry>, opts: RouterStoreOptions, maxPayload: () => number | undefined) {
    this.#kv = kv;
    this.#maxPayload = maxPayload;
    this.#watch = watch;
    this.#applyTimeoutMs = opts.applyTimeoutMs ?? 5_000;
    this.#onInvalid = opts.onInvalid ?? (() => {});
    this.#onListenerError = opts.onListenerError ?? (() => {});
    this.#openWatch = opts.openWatch ?? defaultOpenWatch;
    this.#onWatchRestart = opts.onWatchRestart ?? (() => {});
  }

  /** Creates the bucket if needed, loads every router and starts watching. Resolves once the initial set is loaded. */
  static async open(nc: NatsConnection, names: NatsNames, opts: RouterStoreOptions = {}): Promise<RouterStore> {
    const kv = await openKvBucket(nc, names.routersBucket, { replicas: opts.replicas ?? 1, history: 5 });
    // Everything up to this sequence is the initial state; the watch replays the last value of every key first.
    const lastSeq = (await kv.status()).streamInfo.state.last_seq;
    const watch = await (opts.openWatch ?? defaultOpenWatch)(kv, 0);
    const store = new RouterStore(kv, watch, opts, () => nc.info?.max_payload);
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

  list(): readonly RouterConfig[] {
    this.#snapshot ??= Object.freeze([...this.#entries.values()]);
    return this.#snapshot;
  }

  get(id: string): RouterConfig | undefined {
    return this.#entries.get(id);
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
    const e = await nats(() => this.#kv.get(id));
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
    const marker = await nats(() => this.#kv.get(router.id));
    if (marker?.operation === "PUT") throw new AlreadyExistsError(`router ${router.id} already exists`);
    const stored: Stored = { ...router, ...(marker ? { incarnation: marker.revision } : {}), createTime: now, updateTime: now };
    const value = this.#encode(stored);
    let revision: number;
    try {
      // previousSeq 0 rather than kv.create, which would write over a marker that appeared meanwhile.
      revision = await this.#kv.put(router.id, value, { previousSeq: marker ? marker.revision : 0 });
    } catch (e) {
      if (isWrongLastSequence(e)) throw new AlreadyExistsError(`router ${router.id} already exists`);
      throw unavailable(e);
    }
    await this.#applied(router.id, revision);
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
    const value = this.#encode(next);
    let revision: number;
    try {
      revision = await this.#kv.update(id, value, current.revision);
    } catch (e) {
      if (isWrongLastSequence(e)) throw new ConflictError(`router ${id} was changed concurrently; retry`);
      throw unavailable(e);
    }
    await this.#applied(id, revision);
    return { ...next, revision };
  }

  async delete(id: string): Promise<void> {
    const current = await this.fetch(id);
    try {
      // Purge, not delete: a soft delete would keep the router's earlier values, and their secrets, in the history.
      await this.#kv.purge(id, { previousSeq: current.revision });
    } catch (e) {
      if (isWrongLastSequence(e)) throw new ConflictError(`router ${id} was changed concurrently; retry`);
      throw unavailable(e);
    }
    await this.#waitFor(() => !this.#entries.has(id) || this.#entries.get(id)!.revision > current.revision, this.#applyTimeoutMs).catch(
      () => {},
    );
  }

  /**
   * The stored form. A value above the server's limit is the admin's input being too large (InvalidArgument), not
   * NATS being down (Unavailable, which invites a retry that can never succeed). Headroom for the KV headers.
   */
  #encode(stored: Stored): string {
    const json = JSON.stringify(stored);
    const limit = (this.#maxPayload() ?? Number.POSITIVE_INFINITY) - 1024;
    const bytes = Buffer.byteLength(json);
    if (bytes > limit) throw new ValidationError("router", `is ${bytes} bytes as stored; the NATS server accepts at most ${limit}`);
    return json;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#closing.abort();
    this.#watch.stop();
    this.#listeners.clear();
  }

  /** Applies the watch; when it ends or fails while open, reopens it after the last revision seen (see header). */
  async #run(): Promise<void> {
    const backoff = new Backoff(250, 30_000);
    while (!this.#closed) {
      let error: string;
      try {
        for await (const e of this.#watch) {
          this.#apply(e);
          backoff.reset();
        }
        error = "the router watch ended";
      } catch (err) {
        error = `the router watch failed: ${(err as Error).message}`;
      }
      while (!this.#closed) {
        const retryInMs = backoff.next();
        this.#onWatchRestart({ error, retryInMs, fromRevision: this.#seen });
        await sleep(retryInMs, this.#closing.signal);
        if (this.#closed) return;
        try {
          this.#watch = await this.#openWatch(this.#kv, this.#seen);
          if (this.#closed) this.#watch.stop();
          else this.#onWatchRestart({ fromRevision: this.#seen });
          break;
        } catch (err) {
          error = `the router watch could not be reopened: ${(err as Error).message}`;
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
    let change: RouterChange | undefined;
    if (e.operation === "PUT") {
      try {
        const router = decode(e);
        compiledMatchFor(router); // compiles now, and rejects a stored invalid regex before anything matches with it
        this.#entries.set(e.key, router);
        change = { kind: "put", router, ...(previous ? { previous } : {}) };
      } catch (err) {
        this.#onInvalid(e.key, err as Error);
        if (previous) {
          this.#entries.delete(e.key);
          change = { kind: "delete", id: e.key, previous };
        }
      }
    } else if (previous) {
      this.#entries.delete(e.key);
      change = { kind: "delete", id: e.key, previous };
    }
    if (change) {
      this.#snapshot = undefined;
      for (const l of this.#listeners) {
        try {
          l(change);
        } catch (err) {
          // A failing listener must not stop the others or the watch, nor go unseen.
          this.#onListenerError(change, err);
        }
      }
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
        reject(new UnavailableError("router bucket watch did not catch up"));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
    });
  }

  /** The write is durable once the KV call returned; waiting only makes the local copy reflect it. */
  async #applied(id: string, revision: number): Promise<void> {
    await this.#waitFor(() => this.#seen >= revision || (this.#entries.get(id)?.revision ?? 0) >= revision, this.#applyTimeoutMs).catch(
      () => {},
    );
  }
}

function decode(e: { key: string; revision: number; json<T>(): T }): RouterConfig {
  const stored = e.json<Stored>();
  if (stored === null || typeof stored !== "object" || stored.id !== e.key) throw new Error(`router value under key ${e.key} is malformed`);
  return { ...stored, revision: e.revision };
}

function isWrongLastSequence(e: unknown): boolean {
  return (
    e instanceof JetStreamApiError &&
    (e.code === JetStreamApiCodes.StreamWrongLastSequence || e.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

function unavailable(e: unknown): Error {
  return e instanceof JetStreamApiError
    ? new UnavailableError(`router bucket: ${e.message}`)
    : new UnavailableError(`router bucket unavailable: ${(e as Error).message}`);
}

async function nats<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw unavailable(e);
  }
}
