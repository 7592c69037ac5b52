/**
 * Creates or updates the streams the service needs. Idempotent: every instance runs it at start-up.
 *
 * The delivery stream uses Limits retention, not WorkQueue: several routers consume the same stream, and on
 * nats-server 2.9 a crash resurrects acked WorkQueue messages. Delivered statements age out after max_age.
 *
 * Size limits (docs/delivery.md "Sizing"): the delivery stream refuses new statements when full (discard New):
 * Emit answers Unavailable and the emitter retries, instead of the stream silently dropping the oldest statements,
 * which may be undelivered. The advisory stream drops its oldest advisories when full (discard Old): they only
 * matter for a few minutes after a crash, and a full advisory stream must never block the server's advisories.
 * A limit must fit the server's JetStream storage (max_file_store), or the stream cannot be created: a limit the
 * operator set is used as it is (a clear start-up error if it does not fit), while on a single server the default
 * delivery limit is halved until the server can reserve it (then once more, leaving room for the other streams), so
 * `npm start` works on a small disk and the log says what was chosen. Not in a cluster: every size change is a
 * meta-log entry there, and nats-server 2.9.10 panics replaying one that no longer fits (seen in the cluster fault
 * test); a cluster's operator sizes DELIVERY_MAX_BYTES, and start-up says so when the default does not fit.
 */
import {
  DiscardPolicy,
  JetStreamApiError,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import { isStreamNotFound } from "./jetstream-errors.js";
import type { IngestNames, NatsNames } from "./names.js";

export interface StreamSettings {
  readonly replicas: number;
  /** How long delivery messages are kept, in hours. */
  readonly deliveryMaxAgeHours: number;
  /**
   * The delivery stream's de-duplication window in hours (DELIVERY_DUPLICATE_WINDOW_HOURS, default 2, at most the
   * max age): a statement id stored longer ago is stored again. The server keeps every id of the window in memory.
   */
  readonly deliveryDuplicateWindowHours?: number;
  /**
   * Largest size of the delivery stream in bytes (DELIVERY_MAX_BYTES); 0 = no limit; absent = the default
   * (DEFAULT_DELIVERY_MAX_BYTES, or less when the server cannot reserve that much).
   */
  readonly deliveryMaxBytes?: number;
  /** Largest size of the advisory stream in bytes (ADVISORY_MAX_BYTES); 0 or absent = no limit. */
  readonly advisoryMaxBytes?: number;
}

/** JetStream's "no limit". */
const UNLIMITED = -1;

export const DEFAULT_DELIVERY_MAX_BYTES = 8 * 1024 ** 3;
/** The default limit is never lowered below this: a server with less room is a configuration error. */
const MIN_DEFAULT_DELIVERY_MAX_BYTES = 256 * 1024 ** 2;
/** nats-server's JSStorageResourcesExceededErr: the requested max_bytes does not fit max_file_store. */
const INSUFFICIENT_STORAGE = 10047;

const HOUR_MS = 3_600_000;

export function streamConfigs(names: NatsNames, s: StreamSettings): Array<Partial<StreamConfig> & { name: string }> {
  const deliveryMaxAge = s.deliveryMaxAgeHours * HOUR_MS;
  return [
    {
      name: names.deliveryStream,
      subjects: [`${names.prefix}.deliver.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: s.replicas,
      max_age: nanos(deliveryMaxAge),
      // Dedupe window for retried Emits, replays and redelivered input; at most max_age.
      duplicate_window: nanos(Math.min((s.deliveryDuplicateWindowHours ?? 2) * HOUR_MS, deliveryMaxAge)),
      allow_direct: true,
      max_bytes: (s.deliveryMaxBytes ?? DEFAULT_DELIVERY_MAX_BYTES) || UNLIMITED,
      discard: DiscardPolicy.New,
    },
    {
      name: names.failedStream,
      subjects: [`${names.prefix}.failed.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: s.replicas,
      // Kept until retried or purged.
      max_age: 0,
      duplicate_window: nanos(24 * HOUR_MS),
      allow_direct: true,
    },
    {
      name: names.advisoryStream,
      subjects: names.advisorySubjects(),
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: s.replicas,
      max_age: nanos(7 * 24 * HOUR_MS),
      max_bytes: s.advisoryMaxBytes || UNLIMITED,
      discard: DiscardPolicy.Old,
    },
  ];
}

export async function ensureStreams(
  nc: NatsConnection,
  names: NatsNames,
  s: StreamSettings,
  onDefaultLimitLowered?: (stream: string, maxBytes: number) => void,
): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  for (const cfg of streamConfigs(names, s)) {
    if (cfg.name === names.deliveryStream && s.deliveryMaxBytes === undefined) {
      await addStreamWithDefaultLimit(jsm, { ...cfg, max_bytes: DEFAULT_DELIVERY_MAX_BYTES }, MIN_DEFAULT_DELIVERY_MAX_BYTES, {
        clustered: nc.info?.cluster !== undefined,
        lowered: onDefaultLimitLowered,
      });
    } else {
      await addOrUpdateStream(jsm, cfg);
    }
  }
  return jsm;
}

/**
 * Adds or updates a stream whose max_bytes is a default, not the operator's choice: halves it while the server
 * answers "insufficient storage", down to `floor`. A size that just fits would leave no room for the streams
 * created after it, so once lowered it is halved once more. Calls `lowered` with the size chosen.
 */
export async function addStreamWithDefaultLimit(
  jsm: JetStreamManager,
  cfg: Partial<StreamConfig> & { name: string; max_bytes: number },
  floor: number,
  opts: { readonly clustered: boolean; readonly lowered?: ((stream: string, maxBytes: number) => void) | undefined },
): Promise<void> {
  const { lowered } = opts;
  if (opts.clustered) {
    try {
      return await addOrUpdateStream(jsm, cfg);
    } catch (e) {
      throw new Error(`${(e as Error).message} (in a cluster, size it explicitly: DELIVERY_MAX_BYTES, docs/delivery.md Sizing)`, {
        cause: e,
      });
    }
  }
  let maxBytes = cfg.max_bytes;
  while (true) {
    try {
      await addOrUpdateStream(jsm, { ...cfg, max_bytes: maxBytes });
      if (maxBytes === cfg.max_bytes) return;
      if (maxBytes / 2 >= floor) {
        maxBytes /= 2;
        await addOrUpdateStream(jsm, { ...cfg, max_bytes: maxBytes });
      }
      lowered?.(cfg.name, maxBytes);
      return;
    } catch (e) {
      const cause = (e as Error).cause;
      // A cluster answers "no suitable peers for placement, insufficient storage" (another code, same cause).
      const tooBig =
        cause instanceof JetStreamApiError && (cause.code === INSUFFICIENT_STORAGE || /insufficient storage/i.test(cause.message));
      if (!tooBig || maxBytes / 2 < floor) throw e;
      maxBytes /= 2;
    }
  }
}

export async function addOrUpdateStream(jsm: JetStreamManager, cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    try {
      await jsm.streams.add(cfg);
    } catch (e) {
      // Already there (another instance may have created it a moment ago, so "not found, then add" would race):
      // bring its configuration up to date instead.
      if (!(await streamExists(jsm, cfg.name))) throw e;
      await jsm.streams.update(cfg.name, cfg);
    }
  } catch (e) {
    // The usual cause is a size limit above the server's JetStream storage: name the stream and its limit.
    const limit = cfg.max_bytes !== undefined && cfg.max_bytes > 0 ? ` with max_bytes ${cfg.max_bytes}` : "";
    throw new Error(`stream ${cfg.name}${limit} could not be created or updated: ${(e as Error).message}`, { cause: e });
  }
}

async function streamExists(jsm: JetStreamManager, name: string): Promise<boolean> {
  try {
    await jsm.streams.info(name);
    return true;
  } catch (e) {
    if (isStreamNotFound(e)) return false;
    throw e;
  }
}

// ---- Ingest streams (src/ingest/): created by the instances that run an input ----

/** Raw events waiting for the ingest consumer: a week to catch up after an outage, at most 1 GiB. */
export const INGEST_MAX_AGE_MS = 7 * 24 * HOUR_MS;
export const INGEST_MAX_BYTES = 1024 ** 3;
/** Rejected copies are for diagnosis: kept 30 days, at most 256 MiB (the oldest go first). */
export const REJECTED_MAX_AGE_MS = 30 * 24 * HOUR_MS;
export const REJECTED_MAX_BYTES = 256 * 1024 ** 2;

/**
 * The ingest stream is a work queue: a message is removed once the consumer acknowledged it (its statements
 * are stored), so the byte limit bounds the unread backlog only. When that is full the stream refuses new
 * messages (discard new) and producers get an error, instead of unread events being dropped silently. The
 * rejected stream drops its oldest copies instead: they were already logged and counted.
 */
export interface IngestStreamSettings {
  readonly replicas: number;
  /** The NATS ingest input is on: create the ingest stream too (the rejected stream serves every input). */
  readonly ingest: boolean;
  /** The server is part of a cluster: default limits are used as they are (see addStreamWithDefaultLimit). */
  readonly clustered?: boolean;
}

export function ingestStreamConfigs(names: IngestNames, s: IngestStreamSettings): Array<Partial<StreamConfig> & { name: string }> {
  const rejected = {
    name: names.rejectedStream,
    subjects: [names.rejectedSubject("event-bus-redis"), names.rejectedSubject("nats")],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: s.replicas,
    max_age: nanos(REJECTED_MAX_AGE_MS),
    max_bytes: REJECTED_MAX_BYTES,
    discard: DiscardPolicy.Old,
    duplicate_window: nanos(24 * HOUR_MS),
    allow_direct: true,
  };
  if (!s.ingest) return [rejected];
  return [
    rejected,
    {
      name: names.ingestStream,
      subjects: names.ingestSubjects(),
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      num_replicas: s.replicas,
      max_age: nanos(INGEST_MAX_AGE_MS),
      max_bytes: INGEST_MAX_BYTES,
      discard: DiscardPolicy.New,
      // Producers may set Nats-Msg-Id to make their retries safe.
      duplicate_window: nanos(2 * 60_000),
    },
  ];
}

/** Both limits are defaults: lowered (to at most 32 MiB) when the server cannot reserve them. */
export async function ensureIngestStreams(
  jsm: JetStreamManager,
  names: IngestNames,
  s: IngestStreamSettings,
  onDefaultLimitLowered?: (stream: string, maxBytes: number) => void,
): Promise<void> {
  for (const cfg of ingestStreamConfigs(names, s)) {
    await addStreamWithDefaultLimit(jsm, { ...cfg, max_bytes: cfg.max_bytes ?? INGEST_MAX_BYTES }, 32 * 1024 ** 2, {
      clustered: s.clustered ?? false,
      lowered: onDefaultLimitLowered,
    });
  }
}
