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
  readonly #derive: ExternalIdDerivation;

  private constructor(kv: KV, cache: KvLookupCache<IdentityRecord>, derive: ExternalIdDerivation) {
    this.#kv = kv;
    this.#cache = cache;
    this.#derive = derive;
  }

  static async open(
    nc: NatsConnection,
    names: NatsNames,
    derive: ExternalIdDerivation,
    opts: KvDirectoryOptions = {},
  ): Promise<KvIdentityDirectory> {
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

  close(): void {
    this.#cache.stop();
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
