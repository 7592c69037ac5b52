/**
 * The Open edX event-bus input: a consumer in a Redis Streams consumer group, reading what event-bus-redis
 * writes for the tracking-log signal, through the Emit path into JetStream.
 *
 * Rules (each with its reason):
 * - XACK only after every statement of the batch (and every rejected copy) is confirmed by JetStream: a crash
 *   at any point leaves the entries pending, never lost.
 * - A session starts by re-reading this consumer's own pending entries ("0"), then reads new ones (">") in
 *   batches of `batchSize` with one pipelined publish per batch. Entries another consumer left pending are
 *   taken over by the claim loop after `claimIdleMs` (claim-loop.ts), so several instances share the group and
 *   a crashed one's entries are finished by the others (or by itself after a restart under the same name).
 * - Malformed entries are acknowledged after their copy is in the rejected stream, so the stream keeps flowing.
 * - Redis unreachable: the input's health is NOT_SERVING (the rest of the service keeps serving), the error is
 *   logged with the next retry time, and the session is re-established with exponential backoff.
 * - Stop: interrupts the blocking read, lets a batch being stored finish and acknowledge, removes this consumer
 *   from the group when it has nothing pending (a Kubernetes rollout names every pod anew; XINFO CONSUMERS would
 *   otherwise list a dead consumer per pod and rollout), then disconnects.
 */
import { hostname } from "node:os";
import type { Logger } from "pino";
import { sleep } from "../../backoff.js";
import type { IngestDeps } from "../ingest-batch.js";
import { InputStats, ingestBatchWithRetry } from "../ingest-stats.js";
import { InputLoop, type InputSession } from "../input-loop.js";
import { runClaimLoop } from "./claim-loop.js";
import { classifyEntries } from "./entry-batch.js";
import { RedisStream, type Backlog, type StreamEntry } from "./redis-stream.js";

export interface EventBusSettings {
  /** EVENT_BUS_REDIS_CONNECTION_URL; never logged (it may hold a password). */
  readonly url: string;
  readonly streamKey: string;
  readonly group: string;
  readonly consumer: string;
  /** Where a new group starts: "0" = everything still in the stream, "$" = only entries added from now on. */
  readonly startId: string;
  readonly batchSize: number;
  readonly claimIdleMs: number;
  /** How long one XREADGROUP waits for new entries before it is issued again. */
  readonly blockMs?: number;
  readonly connectTimeoutMs?: number;
}

/**
 * The stream event-bus-redis writes a topic to (internal/config.py get_full_topic): "<prefix>-<topic>", or the
 * topic alone when EVENT_BUS_TOPIC_PREFIX is unset or empty.
 */
export function eventBusStreamKey(topicPrefix: string | undefined, topic: string): string {
  return topicPrefix ? `${topicPrefix}-${topic}` : topic;
}

/** Default consumer name: the host name, stable across restarts of a container or machine. */
export function defaultConsumerName(): string {
  return hostname();
}

export interface EventBusStatus {
  readonly serving: boolean;
  readonly source: string;
  readonly stats: InputStats;
  /** Undefined while Redis is unreachable. */
  readonly backlog: Backlog | undefined;
}

export interface EventBusDeps {
  readonly ingest: IngestDeps;
  readonly logger: Logger;
  /** Reports reachability (the service maps it to this input's health status). */
  readonly onHealth: (serving: boolean) => void;
}

const STATUS_TIMEOUT_MS = 2000;

export class EventBusConsumer {
  readonly stats = new InputStats();
  private readonly loop: InputLoop;
  private readonly inFlight = new Set<string>();
  private current: RedisStream | undefined;

  constructor(
    private readonly settings: EventBusSettings,
    private readonly deps: EventBusDeps,
  ) {
    this.loop = new InputLoop({
      stats: this.stats,
      onHealth: deps.onHealth,
      errorPrefix: "redis: ",
      session: (s) => this.connection(s),
      onFailure: ({ message, attempt, retryInMs }) =>
        deps.logger.warn({ stream: settings.streamKey, err: message, attempt, retryInMs }, "event bus: Redis unreachable; retrying"),
    });
  }

  get source(): string {
    return `stream ${this.settings.streamKey}, group ${this.settings.group}, consumer ${this.settings.consumer}`;
  }

  start(): void {
    this.deps.onHealth(false);
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop(() => this.current?.interruptRead());
  }

  async status(): Promise<EventBusStatus> {
    let backlog: Backlog | undefined;
    const stream = this.current;
    if (stream && this.loop.isServing) {
      backlog = await Promise.race([stream.backlog(), sleep(STATUS_TIMEOUT_MS).then(() => undefined)]).catch(() => undefined);
    }
    return { serving: this.loop.isServing, source: this.source, stats: this.stats, backlog };
  }

  /** One connection: consumes until stopped (then leaves the group), rejects on a Redis error; always disconnects. */
  private async connection({ signal, connected }: InputSession): Promise<void> {
    let stream: RedisStream | undefined;
    try {
      stream = await RedisStream.connect({
        url: this.settings.url,
        key: this.settings.streamKey,
        group: this.settings.group,
        consumer: this.settings.consumer,
        connectTimeoutMs: this.settings.connectTimeoutMs ?? 5000,
        onLost: () => this.loop.setServing(false),
      });
      this.current = stream;
      await stream.ensureGroup(this.settings.startId);
      connected();
      const { streamKey, group, consumer } = this.settings;
      this.deps.logger.info({ stream: streamKey, group, consumer }, "event bus: consuming from Redis");
      await this.session(stream);
      // The session ends without an error only when stopped: a clean stop.
      if (signal.aborted) await this.leaveGroup(stream);
    } finally {
      this.current = undefined;
      stream?.destroy();
    }
  }

  /** Reads until stopped; rejects on the first Redis error, after both loops have settled. */
  private async session(stream: RedisStream): Promise<void> {
    const session = new AbortController();
    const stopSession = () => session.abort();
    this.loop.signal.addEventListener("abort", stopSession, { once: true });
    try {
      // Own pending first (what this consumer name read before a crash or a lost connection), before the claim
      // loop starts, so the two do not pick up the same entries.
      await this.recoverOwnPending(stream, session.signal);
      const claim = runClaimLoop(stream, {
        minIdleMs: this.settings.claimIdleMs,
        intervalMs: Math.max(250, Math.floor(this.settings.claimIdleMs / 2)),
        count: this.settings.batchSize,
        signal: session.signal,
        inFlight: this.inFlight,
        onClaimed: (entries) => this.storeAndAck(stream, entries, session.signal),
        onDeleted: (ids) => this.trimmed(ids),
      });
      const read = this.readLoop(stream, session.signal);
      try {
        await Promise.race([claim, read]);
      } finally {
        session.abort();
        stream.interruptRead();
        await Promise.allSettled([claim, read]);
      }
    } finally {
      this.loop.signal.removeEventListener("abort", stopSession);
    }
  }

  private async recoverOwnPending(stream: RedisStream, signal: AbortSignal): Promise<void> {
    for (let after = "0"; !signal.aborted; ) {
      const entries = await stream.readOwnPending(after, this.settings.batchSize);
      if (entries.length === 0) return;
      await this.storeAndAck(stream, entries, signal);
      after = entries[entries.length - 1]!.id;
    }
  }

  private async readLoop(stream: RedisStream, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let entries: StreamEntry[];
      try {
        entries = await stream.readNew(this.settings.batchSize, this.settings.blockMs ?? 2000);
      } catch (e) {
        if (signal.aborted) return;
        throw e;
      }
      if (entries.length > 0) await this.storeAndAck(stream, entries, signal);
    }
  }

  private async storeAndAck(stream: RedisStream, entries: StreamEntry[], signal: AbortSignal): Promise<void> {
    for (const e of entries) this.inFlight.add(e.id);
    try {
      this.stats.entriesRead += entries.length;
      const classified = classifyEntries(entries, stream.key);
      const tally = await ingestBatchWithRetry(classified.items, {
        deps: this.deps.ingest,
        stats: this.stats,
        logger: this.deps.logger,
        signal,
      });
      if (!tally) return; // stopped before JetStream confirmed: the entries stay pending
      await stream.ack(entries.map((e) => e.id));
      this.stats.skippedOtherType += classified.otherType;
      if (classified.trimmed.length > 0) this.trimmed(classified.trimmed);
      this.stats.success();
    } finally {
      for (const e of entries) this.inFlight.delete(e.id);
    }
  }

  /** On a clean stop: out of the group unless entries are pending (then another instance claims them). */
  private async leaveGroup(stream: RedisStream): Promise<void> {
    const { logger } = this.deps;
    const consumer = this.settings.consumer;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("no answer within 2 s")), 2000);
    });
    try {
      const removed = await Promise.race([stream.removeConsumerIfIdle(), timeout]);
      if (!removed)
        logger.info({ consumer }, "event bus: consumer kept in the group, it has pending entries (claimed by another instance)");
    } catch (e) {
      logger.warn({ consumer, err: (e as Error)?.message ?? String(e) }, "event bus: could not remove this consumer from the group");
    } finally {
      clearTimeout(timer);
    }
  }

  private trimmed(ids: string[]): void {
    this.stats.trimmed += ids.length;
    this.deps.logger.error(
      { stream: this.settings.streamKey, ids },
      "event bus: pending entries were trimmed from the stream before they could be stored (raise EVENT_BUS_REDIS_STREAM_MAX_LEN on the LMS)",
    );
  }
}
