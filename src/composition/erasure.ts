/**
 * Forgetting learners (src/erasure/): the tombstones the inputs and the delivery workers ask, and the forgets'
 * scans. Opened after the stores (it reads and removes identity rows) and before delivery and the emit path, which
 * take its gate; closed after them, so no scan outlives the NATS connection and a stopped scan releases its claim.
 */
import type { Logger } from "pino";
import type { Config } from "../config.js";
import { type Erasure, openErasure } from "../erasure/erasure.js";
import type { LifecycleStack } from "./lifecycle-stack.js";
import type { NatsLayer } from "./nats.js";
import type { Stores } from "./stores.js";

export async function openErasureLayer(
  stack: LifecycleStack,
  { nc, names }: NatsLayer,
  { directories }: Stores,
  config: Config,
  logger: Logger,
): Promise<Erasure> {
  return stack.adopt(
    await openErasure({
      nc,
      names,
      replicas: config.natsReplicas,
      identities: directories.identities,
      hasher: directories.learnerHash,
      derive: directories.deriveExternalId,
      logger,
      scanRate: config.forgetScanRate,
    }),
    (e) => e.close(),
  );
}
