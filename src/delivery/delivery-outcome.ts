/**
 * Classifies one HTTP answer (or the lack of one) from an LRS or Caliper endpoint into what the worker does next.
 * Pure and synchronous so every rule of XAPI-CALIPER-VALIDATION.md §5 is unit-tested without a network.
 */

export type Verdict =
  /** Stored (any 2xx, whatever the body: Ralph answers 204 or a partial id list). */
  | { readonly kind: "delivered" }
  /**
   * Try the same statements later. `delayMs` is set when the endpoint said when (Retry-After). `configProblem`
   * marks answers about the router itself (credentials, URL, redirects, content type) that an operator must fix:
   * they are retried too (attempts are bounded by max_deliver) and logged as errors.
   */
  | { readonly kind: "retry"; readonly delayMs?: number; readonly configProblem?: boolean }
  /** 400/409/422: some statement in the request is bad (batches are atomic): bisect; a single one is final. */
  | { readonly kind: "isolate" }
  /** 413: the request is too large; halve it. */
  | { readonly kind: "halve" };

/** Longest Retry-After honoured; a broken endpoint must not park a statement for days. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

export function classifyStatus(status: number, retryAfter: string | null | undefined, now = Date.now()): Verdict {
  if (status >= 200 && status < 300) return { kind: "delivered" };
  if (status === 429 || status === 503) {
    const delayMs = parseRetryAfter(retryAfter, now);
    return delayMs === undefined ? { kind: "retry" } : { kind: "retry", delayMs };
  }
  if (status >= 500) return { kind: "retry" };
  if (status === 408 || status === 425) return { kind: "retry" };
  if (status === 413) return { kind: "halve" };
  // About the statements: batches are atomic, so find the bad one(s); a single one fails without retry.
  if (status === 400 || status === 409 || status === 422) return { kind: "isolate" };
  // About the router (401/403 credentials, 404/410 URL, 3xx redirect not followed, 415 content type...): the
  // same answer would come for every statement, so failing them at once would drop every non-critical event
  // while an operator fixes the router. Retry on the normal schedule and log an error.
  return { kind: "retry", configProblem: true };
}

/** Retry-After as delta-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when absent or unparsable. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (v === "") return undefined;
  if (/^\d+$/.test(v)) return Math.min(Number(v) * 1000, MAX_RETRY_AFTER_MS);
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.min(Math.max(0, t - now), MAX_RETRY_AFTER_MS);
}

/** What happens to one statement after all the requests of a batch. */
export type ItemOutcome =
  | { readonly kind: "delivered" }
  | { readonly kind: "retry"; readonly delayMs?: number; readonly status: number; readonly error: string }
  | { readonly kind: "failed"; readonly status: number; readonly error: string };
