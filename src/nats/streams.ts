/**
 * Creates or updates the streams the service needs. Idempotent: every instance runs it at start-up.
 *
 * The delivery stream uses Limits retention, not WorkQueue: several routers consume the same stream, and on
 * nats-server 2.9 a crash resurrects acked WorkQueue messages. Delivered statements age out after max_age.
 */
import { jetstreamManager, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import { isStreamNotFound } from "./jetstream-errors.js";
import type { NatsNames } from "./names.js";

export interface StreamSettings {
  readonly replicas: number;
  /** How long delivery messages are kept, in hours. */
  readonly deliveryMaxAgeHours: number;
}

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
      // Dedupe window for retried Emits; at most max_age.
      duplicate_window: nanos(Math.min(2 * HOUR_MS, deliveryMaxAge)),
      allow_direct: true,
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
    },
  ];
}

export async function ensureStreams(nc: NatsConnection, names: NatsNames, s: StreamSettings): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  for (const cfg of streamConfigs(names, s)) {
    try {
      await jsm.streams.add(cfg);
    } catch (e) {
      // Already there (another instance may have created it a moment ago, so "not found, then add" would race):
      // bring its configuration up to date instead.
      if (!(await streamExists(jsm, cfg.name))) throw e;
      await jsm.streams.update(cfg.name, cfg);
    }
  }
  return jsm;
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
