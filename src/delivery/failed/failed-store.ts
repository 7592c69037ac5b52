/**
 * The failed stream's JetStream shell: statements that exhausted their delivery attempts (or were refused for
 * good), kept until an operator retries or purges them; those of non-critical events may be discarded when the
 * stream is over FAILED_MAX_BYTES (failed-trim.ts). The message format is
 * failed-codec.ts, filters and paging failed-query.ts, the retry/purge steps failed-retry.ts; this file only
 * talks to NATS.
 *
 * Errors: "no such message" is an answer (null / false / a not_found id). Every other NATS or JetStream failure
 * (no connection, timeout, no responders, the stream missing) is UnavailableError: the caller may retry, and a
 * failure is never turned into an empty list, a zero count or a not-found id. Writes go through the one JetStream
 * writer (nats/jetstream-writer.ts), whose error is already that.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { UnavailableError } from "../../errors.js";
import { isMessageNotFound, isStreamNotFound } from "../../nats/jetstream-errors.js";
import { jetStreamWriter, type JetStreamWriter } from "../../nats/jetstream-writer.js";
import type { NatsNames } from "../../nats/names.js";
import type { RouterConfig } from "../../routing/router-model.js";
import {
  decodeFailedEntry,
  encodeFailureHeaders,
  failedMsgId,
  retryPublication,
  type FailedEntry,
  type FailureRecord,
} from "./failed-codec.js";
import { listPage, querySubject, type FailedPage, type FailedQuery, type FailedSelection } from "./failed-query.js";
import { purgeFailed, retryFailed, type FailedOps, type PurgeOutcome, type RetryOutcome } from "./failed-retry.js";

export type { FailedEntry, FailureRecord } from "./failed-codec.js";
export type { FailedPage, FailedQuery, FailedSelection } from "./failed-query.js";

export class FailedStore implements FailedOps {
  private readonly writer: JetStreamWriter;

  constructor(
    /** Writes wait for PubAcks as long as its requests do. */
    js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly names: NatsNames,
    /**
     * The router as currently configured, or undefined when deleted. Retrying for a deleted router would park
     * the statement where no consumer reads it: such entries stay. A retry goes to the router's current
     * incarnation (nats/names.ts), also for entries its deleted predecessor left.
     */
    private readonly routerOf: (routerId: string) => Pick<RouterConfig, "incarnation"> | undefined = () => ({}),
    /** Called after a discardable (non-critical) entry was stored: the stream may now be over its byte limit. */
    private readonly onDiscardableStored: () => void = () => {},
  ) {
    this.writer = jetStreamWriter(js);
  }

  routerExists(routerId: string): boolean {
    return this.routerOf(routerId) !== undefined;
  }

  /**
   * Runs one NATS request; any failure becomes UnavailableError naming what could not be done. The writer's
   * errors are that already and pass unchanged.
   */
  private async nats<T>(what: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (e) {
      if (e instanceof UnavailableError) throw e;
      const why = isStreamNotFound(e) ? `stream ${this.names.failedStream} does not exist` : (e as Error)?.message || String(e);
      throw new UnavailableError(`NATS could not ${what}: ${why}`, { cause: e });
    }
  }

  /** Stores a failure; resolves only once JetStream confirmed (or reported a duplicate of) it. */
  async record(rec: FailureRecord, body: Uint8Array | string): Promise<void> {
    await this.nats("store the failed statement", () =>
      this.writer.publish(
        [
          {
            subject: this.names.failedSubject(rec.routerId),
            body,
            msgId: failedMsgId(this.names, rec),
            headers: encodeFailureHeaders(rec),
          },
        ],
        { stream: this.names.failedStream, what: "failed-statement stores" },
      ),
    );
    if (rec.discardable) this.onDiscardableStored();
  }

  async get(id: number): Promise<FailedEntry | null> {
    const m = await this.nats("read the failed stream", () => this.jsm.direct.getMessage(this.names.failedStream, { seq: id }));
    return m && m.seq === id ? decodeFailedEntry(m) : null;
  }

  async nextOnSubject(subject: string, seq: number): Promise<FailedEntry | null> {
    const m = await this.nats("read the failed stream", () =>
      this.jsm.direct.getMessage(this.names.failedStream, { seq, next_by_subj: subject }),
    );
    return m ? decodeFailedEntry(m) : null;
  }

  async lastSeq(): Promise<number> {
    const info = await this.nats("read the failed stream's state", () => this.jsm.streams.info(this.names.failedStream));
    return info.state.last_seq;
  }

  async republish(entry: FailedEntry): Promise<void> {
    await this.nats("re-publish the statement for delivery", () =>
      this.writer.publish([retryPublication(this.names, entry, this.routerOf(entry.routerId)?.incarnation)], {
        stream: this.names.deliveryStream,
        what: "re-publishes for delivery",
      }),
    );
  }

  async remove(id: number): Promise<boolean> {
    return this.nats("delete from the failed stream", async () => {
      try {
        return await this.jsm.streams.deleteMessage(this.names.failedStream, id);
      } catch (e) {
        if (isMessageNotFound(e)) return false;
        throw e;
      }
    });
  }

  async purgeUpTo(lastSeq: number, subject?: string): Promise<number> {
    // `seq` purges below it: entries stored after the call began stay.
    const r = await this.nats("purge the failed stream", () =>
      this.jsm.streams.purge(this.names.failedStream, { seq: lastSeq + 1, ...(subject ? { filter: subject } : {}) }),
    );
    return r.purged;
  }

  /** One page, in failed-stream order, starting at sequence `fromSeq`. */
  list(query: FailedQuery, pageSize: number, fromSeq = 1, signal?: AbortSignal): Promise<FailedPage> {
    return listPage(this, querySubject(this.names, query), query, pageSize, fromSeq, signal);
  }

  /** See failed-retry.ts; throws IncompleteError when it could not finish. */
  retry(sel: FailedSelection, signal?: AbortSignal): Promise<RetryOutcome> {
    return retryFailed(this, this.names, sel, signal);
  }

  purge(sel: FailedSelection, signal?: AbortSignal): Promise<PurgeOutcome> {
    return purgeFailed(this, this.names, sel, signal);
  }

  /** How many failed statements are stored for a router; UnavailableError when NATS cannot say. */
  async count(routerId: string): Promise<number> {
    const subject = this.names.failedSubject(routerId);
    const info = await this.nats("count the failed statements", () =>
      this.jsm.streams.info(this.names.failedStream, { subjects_filter: subject }),
    );
    return info.state.subjects?.[subject] ?? 0;
  }
}
