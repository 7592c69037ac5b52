/**
 * The identity table in a JetStream KV bucket: `id.<user_id>` and `name.<base64url(username)>` both hold the
 * record as JSON {user_id, username, external_id, email}, so an event naming either finds it with one get.
 * Look-ups go through a short-lived cache invalidated by a bucket watch.
 */
import type { KV } from "@nats-io/kv";
import { openKvBucket } from "../nats/kv-bucket.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { UnavailableError } from "../errors.js";
import type { NatsNames } from "../nats/names.js";
import type { ResolvedUser } from "../transform/transform-env.js";
import type { UserRef } from "../transform/user-ref.js";
import type { IdentityDirectory, IdentityRecord } from "./directory.js";
import type { ExternalIdDerivation } from "./external-id.js";

type Derivation = ExternalIdDerivation & { clear?(): void };
import { fromStored, refKey, resolveWith, toStored, userIdKey, usernameKey, type StoredIdentity } from "./identity-record.js";
import { KvLookupCache, type LookupCacheOptions } from "./kv-lookup-cache.js";
import { mapLimit } from "./map-limit.js";

export interface KvDirectoryOptions {
  readonly replicas?: number;
  readonly cache?: LookupCacheOptions;
}

/** Parallel writes per import: enough to pipeline over one connection without flooding the server. */
const IMPORT_CONCURRENCY = 64;

export class KvIdentityDirectory implements IdentityDirectory {
  readonly #kv: KV;
  readonly #cache: KvLookupCache<IdentityRecord>;
  readonly #derive: Derivation;

  private constructor(kv: KV, cache: KvLookupCache<IdentityRecord>, derive: Derivation) {
    this.#kv = kv;
    this.#cache = cache;
    this.#derive = derive;
  }

  static async open(nc: NatsConnection, names: NatsNames, derive: Derivation, opts: KvDirectoryOptions = {}): Promise<KvIdentityDirectory> {
    const kv = await openKvBucket(nc, names.identitiesBucket, { replicas: opts.replicas ?? 1, history: 1 });
    const cache = new KvLookupCache<IdentityRecord>(kv, (e) => fromStored(e.json<StoredIdentity>()), {
      label: names.identitiesBucket,
      ...opts.cache,
    });
    await cache.start();
    return new KvIdentityDirectory(kv, cache, derive);
  }

  resolveCached(ref: UserRef): { readonly user: ResolvedUser | undefined } | undefined {
    const key = refKey(ref);
    if (key === undefined) return { user: resolveWith(undefined, ref, this.#derive) };
    const slot = this.#cache.peek(key);
    return slot && { user: resolveWith(slot.value, ref, this.#derive) };
  }

  async resolve(ref: UserRef): Promise<ResolvedUser | undefined> {
    const key = refKey(ref);
    const record = key === undefined ? undefined : await this.#cache.get(key);
    return resolveWith(record, ref, this.#derive);
  }

  /**
   * Upserts validated records under both keys. When a user id's username changed, the old name key is removed so
   * the old username no longer resolves to this learner. Returns the number of records written.
   */
  async import(records: readonly IdentityRecord[]): Promise<number> {
    // Later rows win; writing duplicates concurrently would make the winner random.
    const last = new Map<string, IdentityRecord>();
    for (const r of records) last.set(r.userId ? `id:${r.userId}` : `name:${r.username}`, r);
    await mapLimit([...last.values()], IMPORT_CONCURRENCY, (r) => this.#importOne(r));
    return records.length;
  }

  /**
   * The stored records naming a learner by user id or username, and the records those point to in turn (a user id
   * whose record names the username, and back), so a forget given one identifier finds every row of the learner.
   */
  async recordsOf(userId: string | undefined, username: string | undefined): Promise<IdentityRecord[]> {
    const found = new Map<string, IdentityRecord>();
    const pending: UserRef[] = [];
    if (userId) pending.push({ kind: "user_id", value: userId });
    if (username) pending.push({ kind: "username", value: username });
    const seen = new Set<string>();
    for (let ref = pending.shift(); ref !== undefined; ref = pending.shift()) {
      const key = refKey(ref);
      if (key === undefined || seen.has(key)) continue;
      seen.add(key);
      const record = await this.#read(key);
      if (record === undefined) continue;
      // A row stored under both keys is one learner's one row.
      found.set(record.userId ? `id:${record.userId}` : `name:${record.username}`, record);
      if (record.userId) pending.push({ kind: "user_id", value: record.userId });
      if (record.username) pending.push({ kind: "username", value: record.username });
    }
    return [...found.values()];
  }

  /**
   * Removes a learner's rows (purged: no history of the value stays in the bucket). Every instance's look-up cache
   * drops the keys through its watch; this one's at once. Returns how many keys were removed.
   */
  async remove(userIds: readonly string[], usernames: readonly string[]): Promise<number> {
    const keys = new Set<string>();
    for (const id of userIds) {
      const k = refKey({ kind: "user_id", value: id });
      if (k !== undefined) keys.add(k);
    }
    for (const name of usernames) {
      const k = refKey({ kind: "username", value: name });
      if (k !== undefined) keys.add(k);
    }
    let removed = 0;
    try {
      for (const k of keys) {
        const held = await this.#kv.get(k);
        if (held?.operation !== "PUT") continue;
        await this.#kv.purge(k);
        this.#cache.invalidate(k);
        removed++;
      }
    } catch (e) {
      throw new UnavailableError(`identity removal failed: ${(e as Error).message}`);
    }
    this.#derive.clear?.();
    return removed;
  }

  close(): void {
    this.#cache.stop();
  }

  async #read(key: string): Promise<IdentityRecord | undefined> {
    try {
      const e = await this.#kv.get(key);
      return e?.operation === "PUT" ? fromStored(e.json<StoredIdentity>()) : undefined;
    } catch (e) {
      throw new UnavailableError(`identity look-up failed: ${(e as Error).message}`);
    }
  }

  async #importOne(r: IdentityRecord): Promise<void> {
    const value = JSON.stringify(toStored(r));
    const keys = [...(r.userId ? [userIdKey(r.userId)] : []), ...(r.username ? [usernameKey(r.username)] : [])];
    try {
      if (r.userId) {
        const previous = await this.#kv.get(userIdKey(r.userId));
        const old = previous?.operation === "PUT" ? fromStored(previous.json<StoredIdentity>()) : undefined;
        if (old?.username && old.username !== r.username) {
          const oldNameKey = usernameKey(old.username);
          const held = await this.#kv.get(oldNameKey);
          if (held?.operation === "PUT" && fromStored(held.json<StoredIdentity>()).userId === r.userId) {
            // Conditional: if another import re-pointed the name meanwhile, that write wins.
            await this.#kv.delete(oldNameKey, { previousSeq: held.revision }).catch(() => {});
          }
          this.#cache.invalidate(oldNameKey);
        }
      }
      for (const k of keys) await this.#kv.put(k, value);
    } catch (e) {
      throw new UnavailableError(`identity import failed: ${(e as Error).message}`);
    }
    for (const k of keys) this.#cache.invalidate(k);
  }
}
