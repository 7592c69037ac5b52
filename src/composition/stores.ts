/**
 * The domain stores on NATS KV: routers, then the directories (identities, courses and their look-up cache), then
 * the custom mappings.
 * Opened after the streams and before everything that reads them (delivery, the emit path, the admin RPCs);
 * closed after those have stopped, so nothing reads a closed store.
 */
import type { Logger } from "pino";
import type { Config } from "../config.js";
import { type KvDirectories, openDirectories } from "../directory/open-directories.js";
import { MappingStore } from "../mappings/mapping-store.js";
import { RouterStore } from "../routing/router-store.js";
import type { LifecycleStack } from "./lifecycle-stack.js";
import type { NatsLayer } from "./nats.js";

export interface Stores {
  readonly routers: RouterStore;
  readonly directories: KvDirectories;
  readonly mappings: MappingStore;
}

export async function openStores(stack: LifecycleStack, { nc, names }: NatsLayer, config: Config, logger: Logger): Promise<Stores> {
  const routers = stack.adopt(
    await RouterStore.open(nc, names, {
      replicas: config.natsReplicas,
      onInvalid: (id, err) => logger.error({ routerId: id, err: err.message }, "stored router is unusable; ignored until fixed"),
      onListenerError: (change, err) =>
        logger.error(
          { routerId: change.kind === "put" ? change.router.id : change.id, change: change.kind, err },
          "a router change was not applied everywhere in this instance: a listener failed",
        ),
      onWatchRestart: ({ error, retryInMs, fromRevision }) =>
        error
          ? logger.error(
              { err: error, retryInMs, fromRevision },
              "router watch stopped; reopening it (router changes are not seen meanwhile)",
            )
          : logger.warn({ fromRevision }, "router watch reopened"),
    }),
    (r) => r.close(),
  );
  const directories = stack.adopt(
    await openDirectories(nc, names, {
      replicas: config.natsReplicas,
      ...(config.identityHmacSecret ? { hmacSecret: config.identityHmacSecret } : {}),
      ...(config.coursesFile ? { coursesFile: config.coursesFile } : {}),
      cache: { logger },
    }),
    (d) => d.close(),
  );
  const mappings = stack.adopt(
    await MappingStore.open(nc, names, {
      replicas: config.natsReplicas,
      onInvalid: (id, err) => logger.error({ mappingId: id, err: err.message }, "stored mapping is unusable; ignored until fixed"),
      onWatchRestart: ({ error, retryInMs, fromRevision }) =>
        error
          ? logger.error(
              { err: error, retryInMs, fromRevision },
              "mapping watch stopped; reopening it (mapping changes are not seen meanwhile)",
            )
          : logger.warn({ fromRevision }, "mapping watch reopened"),
    }),
    (m) => m.close(),
  );
  return { routers, directories, mappings };
}
