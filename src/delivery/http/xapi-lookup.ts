/**
 * Does the LRS hold this statement? One GET of the xAPI statements resource by id (xAPI 1.0.3 Communication
 * §2.1.3: `GET statements?statementId=<id>` answers the statement, or 404 when the LRS has no statement with that
 * id), with exactly the credentials and headers delivery sends (router-probe.ts's headers), so a router that
 * delivers can be checked. The answer is read in three ways and only these: 200 = held, 404 = missing, anything
 * else (or no answer) = unknown, with the reason redacted (redact.ts): an error page may echo the Authorization
 * header. A voided statement answers 404 here (it is only served as voidedStatementId), so it shows as missing.
 *
 * The reading of the answer is pure (judgeLookup); lookupStatement is the thin I/O. Requests go through the fetch
 * dispatcher's keep-alive pool, so a run of look-ups reuses its connections.
 */
import type { RouterConfig } from "../../routing/router-model.js";
import { createRedactor, type Redactor } from "./redact.js";
import { routerHeaders } from "./router-probe.js";
import { xapiStatementsUrl } from "./senders.js";

export type LookupResult =
  | { readonly kind: "found" }
  | { readonly kind: "missing" }
  | { readonly kind: "unknown"; readonly reason: string };

const REASON_MAX = 200;

/** An answer's meaning. A 200 must be the statement asked for: a web page at the wrong URL answers 200 too. */
export function judgeLookup(statementId: string, status: number, body: string): LookupResult {
  if (status === 404) return { kind: "missing" };
  if (status === 200) {
    let id: unknown;
    try {
      id = (JSON.parse(body) as { id?: unknown }).id;
    } catch {
      id = undefined;
    }
    if (typeof id === "string" && id.toLowerCase() === statementId.toLowerCase()) return { kind: "found" };
    return { kind: "unknown", reason: "HTTP 200 without the statement asked for: check endpoint_url (the LRS base URL)" };
  }
  return { kind: "unknown", reason: `HTTP ${status}: ${body.trim().replace(/\s+/g, " ")}` };
}

export interface StatementLookup {
  lookup(statementId: string, signal?: AbortSignal): Promise<LookupResult>;
}

/** Look-ups for one router's LRS; each request has the router's http timeout. */
export function createStatementLookup(router: RouterConfig, opts: { timeoutMs: number }): StatementLookup {
  const base = xapiStatementsUrl(router.endpointUrl);
  const headers = { ...routerHeaders(router), "X-Experience-API-Version": "1.0.3" };
  const redact: Redactor = createRedactor(router, REASON_MAX);
  return {
    async lookup(statementId, signal) {
      const url = new URL(base);
      url.searchParams.set("statementId", statementId);
      // A timer and one listener on the caller's signal, removed when done: AbortSignal.any per request would
      // keep every combined signal reachable from the call's signal on Node 20 (see http-send.ts).
      const abort = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        abort.abort();
      }, opts.timeoutMs);
      const onAbort = () => abort.abort();
      signal?.addEventListener("abort", onAbort, { once: true });
      try {
        const res = await fetch(url, { headers, redirect: "manual", signal: abort.signal });
        return redacted(judgeLookup(statementId, res.status, await res.text()), redact);
      } catch (e) {
        if (signal?.aborted) throw e;
        const err = e as Error & { cause?: { code?: string; message?: string } };
        const why = timedOut
          ? `no answer within ${opts.timeoutMs} ms (the router's http_timeout)`
          : `${err.cause?.code ?? err.name}: ${err.cause?.message ?? err.message}`;
        return { kind: "unknown", reason: redact(why) };
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      }
    },
  };
}

function redacted(r: LookupResult, redact: Redactor): LookupResult {
  return r.kind === "unknown" ? { kind: "unknown", reason: redact(r.reason) } : r;
}
