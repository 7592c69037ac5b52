/**
 * The key for derived external ids. IDENTITY_HMAC_SECRET wins when configured (nothing is stored then).
 * Otherwise the first instance to start generates 32 random bytes and stores them in the settings bucket with
 * create-if-absent; every other instance (and every restart) reads the same value, so derived ids stay stable.
 * Losing or changing the key changes every derived id: back up the settings bucket or configure the secret.
 */
import { randomBytes } from "node:crypto";
import { isWrongLastSequence } from "../nats/jetstream-errors.js";
import { openKvBucket, retryWhileCreating } from "../nats/kv-bucket.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { UnavailableError } from "../errors.js";
import type { NatsNames } from "../nats/names.js";

export const IDENTITY_HMAC_KEY = "identity_hmac_key";

export interface HmacSecretOptions {
  /** IDENTITY_HMAC_SECRET, if set. */
  readonly configured?: string;
  readonly replicas?: number;
}

export async function identityHmacSecret(nc: NatsConnection, names: NatsNames, opts: HmacSecretOptions = {}): Promise<string> {
  if (opts.configured) return opts.configured;
  try {
    const kv = await openKvBucket(nc, names.settingsBucket, { replicas: opts.replicas ?? 1, history: 1 });
    try {
      const generated = randomBytes(32).toString("base64url");
      await retryWhileCreating(() => kv.create(IDENTITY_HMAC_KEY, generated));
      return generated;
    } catch (e) {
      // Another instance created it first: read theirs.
      if (!isWrongLastSequence(e)) throw e;
    }
    const stored = await kv.get(IDENTITY_HMAC_KEY);
    if (stored?.operation !== "PUT" || stored.length === 0) throw new Error(`${IDENTITY_HMAC_KEY} exists but is empty`);
    return stored.string();
  } catch (e) {
    throw new UnavailableError(`cannot read or create the identity HMAC key in ${names.settingsBucket}: ${(e as Error).message}`);
  }
}
