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
  /**
   * 401/403/404/410: the endpoint refused the router itself (credentials, URL). Every statement would get the same
   * answer, so the worker pauses the router instead of spending attempts (router-worker.ts): nothing is dropped
   * while an operator rotates a password or fixes a URL.
   */
  | { readonly kind: "pause" }
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
  // About the router: credentials (401, 403) or URL (404, 410). An answer about the router, not the statement.
  if (status === 401 || status === 403 || status === 404 || status === 410) return { kind: "pause" };
  // Other answers about the request's form (3xx redirect not followed, 405, 415 content type...): retried on the
  // normal schedule (attempts count) and logged as errors; failing them at once would drop every statement.
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

/**
 * What happens to one statement after all the requests of a batch. `error` texts are already redacted
 * (redact.ts). `paused`: the endpoint refused the router; the attempt does not count. `unsent`: never sent
 * because delivery stopped; it must not lose an attempt either.
 */
export type ItemOutcome =
  | { readonly kind: "delivered" }
  | { readonly kind: "retry"; readonly delayMs?: number; readonly status: number; readonly error: string }
  | { readonly kind: "failed"; readonly status: number; readonly error: string }
  | { readonly kind: "paused"; readonly status: number; readonly error: string }
  | { readonly kind: "unsent" };
