/**
 * Feeds a statement log from what the delivery stream holds, not from PubAcks. A PubAck that arrives after the
 * publish timeout (a paused or overloaded nats-server, a reconnect, a leader election) leaves the caller with an
 * error although the statements ARE stored; the retry then only sees duplicates. Logging on PubAcks lost exactly
 * those statements. Reading the stream back logs what was stored, however the publish ended.
 *
 * How:
 * - One durable pull consumer per logged backend (`statement-log-<backend>`) on the whole delivery stream, shared
 *   by every instance that logs that backend: each stored message is logged by one instance, and what was stored
 *   while no instance ran is logged at the next start. It starts at the messages stored after its creation
 *   (deliver New); it is removed by the server after the stream's age limit without a reader (inactive_threshold),
 *   when nothing it could still read is left.
 * - Only messages the emit path stored are logged: their Nats-Msg-Id is the router:statement id. A hand-back
 *   (requeue.ts) and a RetryFailed copy carry other ids and were logged when first stored.
 * - A fetched batch (at most DEFAULT_BATCH messages and FETCH_MAX_BYTES) is grouped into lines (statement-log.ts),
 *   written, and only then acknowledged. A failed write is retried in place with backoff (the messages are kept
 *   alive with working()), logged at error at most every ERROR_LOG_INTERVAL_MS and counted: memory stays one
 *   batch, and nothing is lost while the disk is full.
 * - De-duplicated by router and statement id over the last RECENT_KEYS messages: a redelivery (an ack lost, a
 *   crash between the write and the ack) is not logged again by this instance. Across instances a redelivery
 *   after such a crash may give a second line: log shippers see at least once, as with any tailed log.
 */
import {
  AckPolicy,
  DeliverPolicy,
  ReplayPolicy,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { Backoff, sleep } from "../backoff.js";
import { isConsumerNotFound } from "../nats/jetstream-errors.js";
import type { NatsNames } from "../nats/names.js";
import { readDeliveryHeaders } from "../routing/delivery-message.js";
import { statementLogLines, type LogBackend, type StatementLog, type StoredStatement } from "./statement-log.js";

/** Counts for /metrics (src/metrics/output-metrics.ts); absent without METRICS_PORT. */
export interface StatementLogObserver {
  written(backend: LogBackend, lines: number): void;
  writeFailed(backend: LogBackend): void;
}

export interface StatementLogReaderOptions {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly names: NatsNames;
  readonly backend: LogBackend;
  readonly log: StatementLog;
  readonly logger: Logger;
  /** The delivery stream's age limit: after that long without a reader, the consumer has nothing left to read. */
  readonly inactiveThresholdMs: number;
  readonly observer?: StatementLogObserver | undefined;
  /** The server's max_payload now (a fetch's byte limit must leave room for one message of that size). */
  readonly maxPayload?: () => number | undefined;
}

/** Messages per fetch: what nats.js takes for a fetch with a byte limit. */
const DEFAULT_BATCH = 100;
/** Bytes per fetch, so a batch of large statements does not hold more than this in memory while it is written. */
const FETCH_MAX_BYTES = 8 * 1024 * 1024;
/** How long a fetch waits for a full batch: bounds how late a line is written when traffic is light. */
const FETCH_EXPIRES_MS = 1000;
/**
 * Messages come back after this when no ack came: this instance died, or the server handed them to a pull
 * request the client had already given up on (a paused or stalled server answers old pull requests when it
 * resumes). So short: those lines are written at most this late. A write retried longer is kept with working().
 */
const ACK_WAIT_MS = 30_000;
const ERROR_LOG_INTERVAL_MS = 10_000;
const RECENT_KEYS = 100_000;
const MSG_ID = "Nats-Msg-Id";

export function statementLogConsumerName(backend: LogBackend): string {
  return `statement-log-${backend}`;
}

/** Pure: the consumer's configuration. */
export function statementLogConsumerConfig(
  backend: LogBackend,
  inactiveThresholdMs: number,
  batchSize = DEFAULT_BATCH,
): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: statementLogConsumerName(backend),
    description: `${backend} statement log (XAPI_STATEMENT_LOG / CALIPER_STATEMENT_LOG)`,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    replay_policy: ReplayPolicy.Instant,
    ack_wait: nanos(ACK_WAIT_MS),
    // Every instance holds at most one batch; this leaves room for a few.
    max_ack_pending: batchSize * 8,
    inactive_threshold: nanos(inactiveThresholdMs),
  };
}

/**
 * Pure: a delivery message as the log sees it, or undefined when it is not a first store by the emit path (a
 * hand-back or RetryFailed copy: its Nats-Msg-Id is not router:statement) or lacks the delivery headers.
 */
export function storedStatement(m: Pick<JsMsg, "headers" | "data" | "info">, names: NatsNames): StoredStatement | undefined {
  const h = readDeliveryHeaders(m.headers);
  if (!h.routerId || !h.statementId) return undefined;
  if (m.headers?.get(MSG_ID) !== names.deliveryMsgId(h.routerId, h.statementId)) return undefined;
  return {
    backend: h.backend,
    routerId: h.routerId,
    statementId: h.statementId,
    eventName: h.eventName,
    body: m.data,
    storedAt: new Date(Math.floor(Number(m.info.timestampNanos) / 1_000_000)),
  };
}

export class StatementLogReader {
  private readonly stopping = new AbortController();
  private fetching: ConsumerMessages | undefined;
  private done: Promise<void> | undefined;
  /** Router + statement ids logged lately, oldest first (a Set keeps insertion order). */
  private readonly recent = new Set<string>();
  private lastErrorLog = 0;
  private failuresSinceLog = 0;

  constructor(private readonly o: StatementLogReaderOptions) {}

  /** Creates (or updates) the consumer, so statements stored from now on are logged; then reads in the background. */
  async start(): Promise<void> {
    const { names, backend } = this.o;
    try {
      await this.ensureConsumer();
    } catch (e) {
      // Start-up fails rather than running with a log that silently stays empty.
      const consumer = `${statementLogConsumerName(backend)} on ${names.deliveryStream}`;
      throw new Error(`the ${backend} statement log's consumer ${consumer} could not be created: ${(e as Error).message}`, {
        cause: e,
      });
    }
    this.done = this.run();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    void this.fetching?.close().catch(() => undefined);
    await this.done;
  }

  private get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  private async ensureConsumer(): Promise<void> {
    const { jsm, names, backend } = this.o;
    const cfg = statementLogConsumerConfig(backend, this.o.inactiveThresholdMs);
    try {
      await jsm.consumers.add(names.deliveryStream, cfg);
    } catch (e) {
      // Already there with other settings (the age limit changed): deliver_policy cannot change, the rest can.
      const { deliver_policy: _fixed, ...mutable } = cfg;
      await jsm.consumers.update(names.deliveryStream, cfg.durable_name, mutable).catch(() => {
        throw e;
      });
    }
  }

  private async run(): Promise<void> {
    const { js, names, backend, logger } = this.o;
    const backoff = new Backoff(250, 15_000);
    while (!this.stopped) {
      // Filled as messages arrive: a fetch that ends with an error (a paused or lost server) may have yielded some,
      // and those are written and acknowledged, not left to come back after ack_wait.
      const batch: JsMsg[] = [];
      let failure: unknown;
      try {
        const consumer = await js.consumers.get(names.deliveryStream, statementLogConsumerName(backend));
        // Room for at least one message of the largest size the server takes, or the server would never hand it out.
        const maxBytes = Math.max(FETCH_MAX_BYTES, 2 * (this.o.maxPayload?.() ?? 0) + 64 * 1024);
        // A byte limit only: nats.js refuses both limits together and then takes at most 100 messages per fetch.
        const fetched = await consumer.fetch({ max_bytes: maxBytes, expires: FETCH_EXPIRES_MS });
        this.fetching = fetched;
        if (this.stopped) void fetched.close().catch(() => undefined);
        for await (const m of fetched) batch.push(m);
      } catch (e) {
        failure = e;
      }
      this.fetching = undefined;
      if (batch.length > 0) await this.handle(batch);
      if (failure === undefined) {
        backoff.reset();
        continue;
      }
      if (this.stopped) return;
      if (isConsumerNotFound(failure)) {
        logger.warn({ backend, consumer: statementLogConsumerName(backend) }, "statement log consumer is gone; recreating it");
        await this.ensureConsumer().catch(() => undefined);
      } else {
        logger.warn({ backend, err: (failure as Error).message }, "cannot read the delivery stream for the statement log; retrying");
      }
      await sleep(backoff.next(), this.stopping.signal);
    }
  }

  /** Writes the batch's new statements, retrying until written or stopped; acknowledges only what is written. */
  private async handle(batch: readonly JsMsg[]): Promise<void> {
    const { names, backend, log, observer } = this.o;
    const fresh: StoredStatement[] = [];
    const inBatch = new Set<string>();
    for (const m of batch) {
      const s = storedStatement(m, names);
      if (!s || s.backend !== backend || this.recent.has(key(s)) || inBatch.has(key(s))) continue;
      inBatch.add(key(s));
      fresh.push(s);
    }
    const lines = statementLogLines(fresh).get(backend) ?? [];
    const backoff = new Backoff(250, 15_000);
    while (lines.length > 0) {
      try {
        await log.write(backend, lines);
        observer?.written(backend, lines.length);
        this.recovered();
        break;
      } catch (e) {
        observer?.writeFailed(backend);
        this.writeFailed(e, lines.length);
        if (this.stopped) {
          // Back to the stream at once, for another instance or the next start.
          for (const m of batch) m.nak();
          return;
        }
        for (const m of batch) m.working();
        await sleep(backoff.next(), this.stopping.signal);
      }
    }
    for (const m of batch) m.ack();
    for (const s of fresh) this.remember(key(s));
  }

  private remember(k: string): void {
    this.recent.add(k);
    if (this.recent.size > RECENT_KEYS) this.recent.delete(this.recent.values().next().value as string);
  }

  /** At error, at most once per interval (a full disk fails every retry), with how many failures it stands for. */
  private writeFailed(e: unknown, lines: number): void {
    this.failuresSinceLog++;
    const now = Date.now();
    if (now - this.lastErrorLog < ERROR_LOG_INTERVAL_MS) return;
    this.o.logger.error(
      { backend: this.o.backend, err: (e as Error)?.message ?? String(e), lines, failures: this.failuresSinceLog },
      "cannot write the statement log; retrying (nothing acknowledged, nothing lost; statements are delivered regardless)",
    );
    this.lastErrorLog = now;
    this.failuresSinceLog = 0;
  }

  private recovered(): void {
    if (this.lastErrorLog === 0) return;
    this.o.logger.warn({ backend: this.o.backend }, "statement log written again");
    this.lastErrorLog = 0;
    this.failuresSinceLog = 0;
  }
}

function key(s: StoredStatement): string {
  return `${s.routerId}\u0000${s.statementId}`;
}
