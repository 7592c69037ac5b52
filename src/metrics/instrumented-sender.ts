/**
 * Counts every HTTP delivery request of a router (answer class, statements carried, time taken) by wrapping its
 * BatchSender, so the sender and the batch logic stay free of metrics code. Bisection (batch-delivery.ts) sends
 * smaller requests after a 413/400: each one is counted, as it is one request the endpoint saw.
 */
import { performance } from "node:perf_hooks";
import { HttpSendError, RequestNotSentError } from "../delivery/http/http-send.js";
import type { BatchSender } from "../delivery/http/senders.js";
import { answerClass, type MetricsRecorder } from "./metrics.js";

export function instrumentSender(sender: BatchSender, routerId: string, metrics: MetricsRecorder | undefined): BatchSender {
  if (!metrics) return sender;
  return {
    redact: sender.redact,
    async send(bodies, signal) {
      const start = performance.now();
      const seconds = () => (performance.now() - start) / 1000;
      try {
        const answer = await sender.send(bodies, signal);
        metrics.attempt(routerId, answerClass(answer.status), bodies.length, seconds());
        return answer;
      } catch (e) {
        // An abort at stop is not an answer from the endpoint, and a request never sent (no OAuth 2 token) is none.
        if (!signal?.aborted && !(e instanceof RequestNotSentError))
          metrics.attempt(routerId, answerClass(undefined, e instanceof HttpSendError && e.timedOut), bodies.length, seconds());
        throw e;
      }
    },
  };
}
