/**
 * The NATS ingest input: any producer publishes raw events (one JSON object per message, either ERB shape, as
 * Emit's `json` takes them) to `<prefix>.ingest.<anything>`; the ingest stream stores them and the durable pull
 * consumer `ingest`, shared by every instance, feeds them through the Emit path.
 *
 * - A fetch takes up to `batchSize` messages (waiting at most a second for the batch to fill), and the whole
 *   batch is stored with one pipelined publish; each message is acknowledged only after that (statements and
 *   rejected copies confirmed). A crash before the ack redelivers after ack_wait; ids de-duplicate.
 * - Parsing is exactly Emit's (eventFromInput with `json`, UTF-8 decoded strictly), so the limits Emit enforces
 *   apply here too; an unparsable message is copied with the reason to the rejected stream and acknowledged.
 * - While a batch waits for JetStream to come back, its messages are marked in progress so they are not
 *   redelivered to another instance meanwhile; max_deliver is unlimited: nothing is dropped for being slow.
 */
import { create } from "@bufbuild/protobuf";
import {
  AckPolicy,
  DeliverPolicy,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { EventInputSchema } from "../../gen/eventrouting/v1/event_pb.js";
import { isConsumerNotFound } from "../nats/jetstream-errors.js";
import type { IngestNames } from "../nats/names.js";
import { eventFromInput } from "./event-input.js";
import type { IngestDeps, IngestItem } from "./ingest-batch.js";
import { InputStats, ingestBatchWithRetry } from "./ingest-stats.js";
import { InputLoop, type InputSession } from "./input-loop.js";

/** Long enough for a full batch to be stored; a crashed instance's messages come back after this. */
export const INGEST_ACK_WAIT_MS = 60_000;
const FETCH_EXPIRES_MS = 1000;

export function ingestConsumerConfig(names: IngestNames, batchSize: number): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: names.ingestConsumer,
    description: "raw events from the NATS ingest subject, through the Emit path",
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(INGEST_ACK_WAIT_MS),
    max_deliver: -1,
    // A few batches per instance in flight; more would only sit waiting behind the publish.
    max_ack_pending: Math.max(1000, batchSize * 10),
  };
}

/**
 * Strict, as Emit's request decoding is (connect-handler.ts): invalid UTF-8 is refused, never turned into U+FFFD.
 * A lenient decode would hash the replacement characters into the statement ids, so the same bytes would get
 * other ids here than through Emit (which refuses them), and the event would be stored altered.
 */
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function messageText(data: Uint8Array): string {
  try {
    return strictUtf8.decode(data);
  } catch {
    throw new Error("message.json: not valid UTF-8 (refused, as Emit refuses it)");
  }
}

/** Messages to items: the Emit path's own parsing, a reject with the reason otherwise. Pure. */
export function itemsFromMessages(msgs: readonly Pick<JsMsg, "subject" | "seq" | "data">[]): IngestItem[] {
  return msgs.map((m) => {
    const ref = { origin: m.subject, sourceId: String(m.seq), raw: m.data };
    try {
      const event = eventFromInput(create(EventInputSchema, { event: { case: "json", value: messageText(m.data) } }), "message");
      return { kind: "event", ref, event };
    } catch (e) {
      return { kind: "reject", ref, reason: (e as Error)?.message ?? String(e) };
    }
  });
}

export interface NatsIngestDeps {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly names: IngestNames;
  readonly ingest: IngestDeps;
  readonly logger: Logger;
  readonly batchSize: number;
  readonly onHealth: (serving: boolean) => void;
}

export interface NatsIngestStatus {
  readonly serving: boolean;
  readonly source: string;
  readonly stats: InputStats;
  /** Undefined when the consumer info could not be read. */
  readonly backlog: { readonly pending: number; readonly lag: number } | undefined;
}

export class NatsIngest {
  readonly stats = new InputStats();
  private readonly loop: InputLoop;
  private fetching: ConsumerMessages | undefined;

  constructor(private readonly deps: NatsIngestDeps) {
    this.loop = new InputLoop({
      stats: this.stats,
      onHealth: deps.onHealth,
      session: (s) => this.session(s),
      onFailure: async ({ error, message, retryInMs }) => {
        deps.logger.warn({ err: message, retryInMs }, "NATS ingest consumer unavailable; retrying");
        // A consumer deleted by hand is recreated, as at start-up.
        if (isConsumerNotFound(error)) await this.ensureConsumer().catch(() => {});
      },
    });
  }

  get source(): string {
    const { names } = this.deps;
    return `subject ${names.ingestSubjects().join(",")}, stream ${names.ingestStream}, consumer ${names.ingestConsumer}`;
  }

  /** Creates (or updates) the durable consumer, then consumes in the background. */
  async start(): Promise<void> {
    this.deps.onHealth(false);
    await this.ensureConsumer();
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop(() => this.fetching?.stop());
  }

  async status(): Promise<NatsIngestStatus> {
    const { jsm, names } = this.deps;
    let backlog: NatsIngestStatus["backlog"];
    try {
      const info = await jsm.consumers.info(names.ingestStream, names.ingestConsumer);
      backlog = { pending: info.num_ack_pending, lag: info.num_pending };
    } catch {
      backlog = undefined;
    }
    return { serving: this.loop.isServing, source: this.source, stats: this.stats, backlog };
  }

  private async ensureConsumer(): Promise<void> {
    const { jsm, names } = this.deps;
    const cfg = ingestConsumerConfig(names, this.deps.batchSize);
    try {
      await jsm.consumers.info(names.ingestStream, names.ingestConsumer);
      const { ack_wait, max_ack_pending, max_deliver } = cfg;
      await jsm.consumers.update(names.ingestStream, names.ingestConsumer, { ack_wait, max_ack_pending, max_deliver });
    } catch (e) {
      if (!isConsumerNotFound(e)) throw e;
      await jsm.consumers.add(names.ingestStream, cfg);
    }
  }

  /** Fetches batch after batch until stopped; rejects when the consumer cannot be read. */
  private async session({ signal, connected }: InputSession): Promise<void> {
    const { js, names } = this.deps;
    const consumer = await js.consumers.get(names.ingestStream, names.ingestConsumer);
    connected();
    while (!signal.aborted) {
      this.fetching = await consumer.fetch({ max_messages: this.deps.batchSize, expires: FETCH_EXPIRES_MS });
      const msgs: JsMsg[] = [];
      for await (const m of this.fetching) msgs.push(m);
      if (msgs.length > 0) await this.storeAndAck(msgs);
    }
  }

  private async storeAndAck(msgs: JsMsg[]): Promise<void> {
    this.stats.entriesRead += msgs.length;
    const tally = await ingestBatchWithRetry(itemsFromMessages(msgs), {
      deps: this.deps.ingest,
      stats: this.stats,
      logger: this.deps.logger,
      signal: this.loop.signal,
      onRetry: () => msgs.forEach((m) => m.working()),
    });
    if (!tally) {
      // Stopping before JetStream confirmed: hand the messages back now rather than after ack_wait.
      for (const m of msgs) m.nak();
      return;
    }
    for (const m of msgs) m.ack();
    this.stats.success();
  }
}
