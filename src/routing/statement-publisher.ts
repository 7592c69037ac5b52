/**
 * Stores delivery messages in JetStream. Publishes are pipelined (one round trip for a whole event or batch, not
 * one per message) and every PubAck is awaited: if any is missing the caller gets UnavailableError and reports
 * nothing as accepted. Retrying is safe because Nats-Msg-Id de-duplicates within the stream's window.
 */
import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
import { UnavailableError } from "../errors.js";
import type { DeliveryMessage } from "./statement-routing.js";

export interface StatementPublisherOptions {
  /** How long to wait for each PubAck. */
  readonly timeoutMs: number;
  /** Stream the subjects must land in; a mismatch means a misconfigured prefix. */
  readonly streamName: string;
  /** Statement log hook (src/output/statement-log.ts): the messages JetStream newly stored (not duplicates). */
  readonly onStored?: (messages: readonly DeliveryMessage[]) => void;
}

export class StatementPublisher {
  constructor(
    private readonly js: JetStreamClient,
    private readonly opts: StatementPublisherOptions,
  ) {}

  async publish(messages: readonly DeliveryMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const results = await Promise.allSettled(
      messages.map((m) =>
        this.js.publish(m.subject, m.body, {
          msgID: m.msgId,
          headers: m.headers,
          timeout: this.opts.timeoutMs,
          expect: { streamName: this.opts.streamName },
        }),
      ),
    );
    // Statement log hook: also when another publish failed, because these ARE stored.
    this.opts.onStored?.(messages.filter((_, i) => isNewlyStored(results[i]!)));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed.length > 0) {
      const reason = (failed[0]!.reason as Error)?.message ?? "unknown error";
      throw new UnavailableError(`JetStream did not confirm ${failed.length} of ${messages.length} publishes (${reason}); retry the call: stored statements are de-duplicated`);
    }
  }
}

const isNewlyStored = (r: PromiseSettledResult<PubAck>) => r.status === "fulfilled" && !r.value.duplicate;
