/**
 * Delivers one batch with as many requests as the endpoint's answers require and returns the fate of every
 * statement: 413 halves the request, 400/409/422 bisect it to isolate the bad statement(s) (LRS batches are
 * atomic, so the good ones were not stored), and transient failures mark only the affected part for retry.
 * A single statement answered 409 is already stored with the same id: delivered.
 * An answer about the router itself (401/403/404/410), or no OAuth 2 token to send with (its token endpoint
 * failed), marks the part `paused` (no attempt counted); a part never sent because delivery stopped is `unsent`.
 * Every error text is redacted by the sender's redactor here, where it is made, so stats, logs and the failed
 * stream only ever see the clean text.
 */
import { classifyStatus, type ItemOutcome } from "./delivery-outcome.js";
import { HttpSendError, RequestNotSentError } from "./http-send.js";
import type { BatchSender } from "./senders.js";

export interface BatchItem {
  /** Unique within the batch (statement id). */
  readonly key: string;
  /** The statement's JSON as JetStream stored it (UTF-8). */
  readonly body: Uint8Array;
}

export interface BatchReport {
  readonly outcomes: Map<string, ItemOutcome>;
  readonly requests: number;
  /** An answer about the request's form (3xx, 415...), retried with attempts counted, so the caller logs an error. */
  readonly configProblem?: { status: number; error: string };
  /** The endpoint refused the router (401/403/404/410): the caller pauses it. */
  readonly paused?: { status: number; error: string };
  /** Requests that got an HTTP answer or a network error (attempts made), as opposed to parts never sent. */
  readonly attempted: boolean;
}

export async function deliverBatch(items: readonly BatchItem[], sender: BatchSender, signal?: AbortSignal): Promise<BatchReport> {
  const outcomes = new Map<string, ItemOutcome>();
  let requests = 0;
  let configProblem: { status: number; error: string } | undefined;
  let paused: { status: number; error: string } | undefined;
  const setAll = (part: readonly BatchItem[], o: ItemOutcome) => part.forEach((i) => outcomes.set(i.key, o));

  const run = async (part: readonly BatchItem[]): Promise<void> => {
    if (part.length === 0) return;
    if (signal?.aborted) {
      setAll(part, { kind: "unsent" });
      return;
    }
    requests++;
    let answer;
    try {
      answer = await sender.send(
        part.map((i) => i.body),
        signal,
      );
    } catch (e) {
      if (e instanceof RequestNotSentError) {
        // Nothing reached the endpoint: not a request, and no attempt for these statements.
        requests--;
        if (e.pause) paused = { status: 0, error: sender.redact(e.message) };
        setAll(part, paused && e.pause ? { kind: "paused", ...paused } : { kind: "unsent" });
        return;
      }
      const error = sender.redact(e instanceof HttpSendError ? e.message : `send failed: ${(e as Error).message}`);
      setAll(part, { kind: "retry", status: 0, error });
      return;
    }
    const verdict = classifyStatus(answer.status, answer.retryAfter);
    const error = sender.redact(`HTTP ${answer.status}${answer.bodySnippet ? `: ${answer.bodySnippet}` : ""}`);
    switch (verdict.kind) {
      case "delivered":
        setAll(part, { kind: "delivered" });
        return;
      case "pause":
        paused = { status: answer.status, error };
        setAll(part, { kind: "paused", status: answer.status, error });
        return;
      case "retry":
        if (verdict.configProblem) configProblem = { status: answer.status, error };
        setAll(part, {
          kind: "retry",
          status: answer.status,
          error,
          ...(verdict.delayMs === undefined ? {} : { delayMs: verdict.delayMs }),
        });
        return;
      case "halve":
      case "isolate":
        if (part.length === 1) {
          setAll(part, answer.status === 409 ? { kind: "delivered" } : { kind: "failed", status: answer.status, error });
          return;
        }
        {
          const mid = Math.ceil(part.length / 2);
          // Sequential: halves of a 413 must not be sent at once, and order within a batch is kept.
          await run(part.slice(0, mid));
          await run(part.slice(mid));
        }
        return;
    }
  };

  await run(items);
  return { outcomes, requests, attempted: requests > 0, ...(configProblem ? { configProblem } : {}), ...(paused ? { paused } : {}) };
}
