/**
 * Pulls one router's messages from its durable consumer and hands each to `onMessage`, for as long as the worker
 * runs, whatever happens to the consumer.
 *
 * nats.js 3.x `consume()` never ends by itself when its consumer disappears (deleted by an operator, lost with a
 * stream restore, an R1 stream on a lost node): it keeps retrying and only says so through `status()`. So the
 * loop consumes with `abort_on_missing_resource` (the iterator then ends with the error), reads the status events
 * (logged), and on "consumer not found" recreates the consumer from the router's configuration (`recreate`) and
 * consumes again. When it cannot (stream missing, JetStream refusing), it reports the router unhealthy through
 * `onProblem`, logs at error and keeps trying with backoff; the first good consume clears the problem.
 *
 * Stopping: `stop()` aborts a signal checked after every await, so a stop while `consume()` is still pending closes
 * the iterator as soon as it exists instead of leaving it running (the old loop nak'd its messages at once, got
 * them again, and never ended), and a backoff sleep ends at once.
 */
import type { ConsumerMessages, ConsumerNotification, JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { Backoff, sleep } from "../../backoff.js";
import { isConsumerNotFound, isPermanentJetStreamError, isStreamNotFound } from "../../nats/jetstream-errors.js";

export interface ConsumeLoopDeps {
  readonly js: JetStreamClient;
  readonly streamName: string;
  readonly consumerName: string;
  readonly routerId: string;
  readonly logger: Logger;
  /** Most messages pulled ahead (the server's max_ack_pending bounds what is held anyway). */
  readonly maxMessages: number;
  /** Creates the consumer again from the router's configuration; rejects when it cannot. */
  recreate(): Promise<void>;
  onMessage(m: JsMsg): void;
  /** A reason while this instance cannot consume for the router; undefined once it can again. */
  onProblem(reason: string | undefined): void;
}

/**
 * Pull requests expire after 10 s (nats.js default 30 s), so the idle heartbeats (half of it) notice a consumer
 * or stream that vanished without a "consumer deleted" notice (a deleted stream, a lost node) within about 10 s
 * instead of 30 s. One pull request per 10 s per router and instance is nothing for the server.
 */
const PULL_EXPIRES_MS = 10_000;

/** How many consecutive failures of a reachable JetStream before the router is reported unhealthy. */
const UNHEALTHY_AFTER = 3;

export class ConsumeLoop {
  private readonly stopping = new AbortController();
  private messages: ConsumerMessages | undefined;
  private done: Promise<void> | undefined;

  constructor(private readonly deps: ConsumeLoopDeps) {}

  start(): void {
    this.done = this.run();
  }

  private get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  private async run(): Promise<void> {
    const { js, streamName, consumerName, routerId, logger } = this.deps;
    const backoff = new Backoff(250, 10_000);
    let failures = 0;
    while (!this.stopped) {
      try {
        const consumer = await js.consumers.get(streamName, consumerName);
        if (this.stopped) return;
        const messages = await consumer.consume({
          max_messages: Math.max(this.deps.maxMessages, 1),
          expires: PULL_EXPIRES_MS,
          abort_on_missing_resource: true,
        });
        this.messages = messages;
        // Stopped while consume() was pending: close at once. close() only takes effect as the iterator is read,
        // so the loop below still runs: it ends at once and hands over what arrived before (the worker returns it).
        if (this.stopped) void messages.close().catch(() => undefined);
        else {
          void this.watchStatus(messages);
          failures = 0;
          backoff.reset();
          this.deps.onProblem(undefined);
        }
        for await (const m of messages) this.deps.onMessage(m);
        if (this.stopped) return;
        const err = await messages.closed();
        throw err instanceof Error ? err : new Error("consumer stopped");
      } catch (e) {
        if (this.stopped) return;
        failures++;
        if (isConsumerNotFound(e)) {
          // Recreated: consume again at once. Not recreated: the reason is reported; try again after a pause.
          if (await this.recreateConsumer()) continue;
          await sleep(backoff.next(), this.stopping.signal);
          continue;
        }
        const reason = isStreamNotFound(e)
          ? `delivery stream ${streamName} not found`
          : `delivery consumer unavailable: ${(e as Error).message}`;
        if (isStreamNotFound(e) || isPermanentJetStreamError(e) || failures >= UNHEALTHY_AFTER) {
          this.deps.onProblem(reason);
          logger.error({ routerId, err: (e as Error).message, failures }, "cannot consume for this router; retrying");
        } else {
          logger.warn({ routerId, err: (e as Error).message }, "delivery consumer unavailable; retrying");
        }
        await sleep(backoff.next(), this.stopping.signal);
      }
    }
  }

  /** True when the consumer exists again. */
  private async recreateConsumer(): Promise<boolean> {
    const { routerId, consumerName, logger } = this.deps;
    logger.warn({ routerId, consumer: consumerName }, "delivery consumer is gone; recreating it from the router's configuration");
    try {
      await this.deps.recreate();
      logger.warn({ routerId, consumer: consumerName }, "delivery consumer recreated; delivery resumes");
      return true;
    } catch (e) {
      const reason = `delivery consumer ${consumerName} is missing and could not be recreated: ${(e as Error).message}`;
      this.deps.onProblem(reason);
      logger.error({ routerId, err: (e as Error).message }, "delivery consumer is missing and could not be recreated; retrying");
      return false;
    }
  }

  /** The library's notifications; the ones that matter end the iterator (abort_on_missing_resource) or are logged. */
  private async watchStatus(messages: ConsumerMessages): Promise<void> {
    const { routerId, logger } = this.deps;
    try {
      for await (const s of messages.status()) {
        const note = describe(s);
        if (note) logger.warn({ routerId, event: s.type, ...note }, "delivery consumer status");
      }
    } catch {
      // The status iterator ends with the messages; nothing to do.
    }
  }

  /** Stops pulling. Messages already handed to onMessage stay the caller's. */
  async stop(): Promise<void> {
    this.stopping.abort();
    // Not awaited: close() resolves only once the loop has read the iterator to its end, which `done` covers.
    void this.messages?.close().catch(() => undefined);
    await this.done;
  }
}

/** The notifications worth a log line, with their details; heartbeats, pulls and discards are routine. */
function describe(s: ConsumerNotification): Record<string, unknown> | undefined {
  switch (s.type) {
    case "consumer_not_found":
      return { count: s.count };
    case "stream_not_found":
      return { stream: s.name };
    case "consumer_deleted":
    case "exceeded_limits":
      return { code: s.code, description: s.description };
    case "heartbeats_missed":
      return { count: s.count };
    case "no_responders":
      return { code: s.code };
    default:
      return undefined;
  }
}
