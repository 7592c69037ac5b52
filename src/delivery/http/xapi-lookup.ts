/**
 * Does the LRS hold this statement? One GET of the xAPI statements resource by id (xAPI 1.0.3 Communication
 * §2.1.3: `GET statements?statementId=<id>` answers the statement, or 404 when the LRS has no statement with that
 * id), with exactly the credentials and headers delivery sends (the router's headers, and its credentials through
 * the same authorizer as delivery and TestRouter: authorizer.ts, so an OAuth 2 router gets and renews its token
 * the same way), so a router that delivers can be checked. The answer is read in three ways and only these: 200 = held, 404 = missing, anything
 * else (or no answer) = unknown, with the reason redacted (redact.ts): an error page may echo the Authorization
 * header. A voided statement answers 404 here (it is only served as voidedStatementId), so it shows as missing.
 *
 * The reading of the answer is pure (judgeLookup); createStatementLookup is the thin I/O. Redirects are not followed
 * (as in delivery): a 3xx is unknown.
 */
import http from "node:http";
import https from "node:https";
import type { RouterConfig } from "../../routing/router-model.js";
import { createAuthorizer } from "./authorizer.js";
import { HttpClient, RequestNotSentError } from "./http-send.js";
import { createRedactor, type Redactor } from "./redact.js";
import { USER_AGENT, xapiStatementsUrl } from "./senders.js";

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
  /** Closes the kept-alive connections. */
  close(): void;
}

/** Bytes of an answer read at most: a statement with its LRS additions is far smaller; a bigger answer is unknown. */
const BODY_MAX = 1024 * 1024;

/**
 * Look-ups for one router's LRS, each with the router's http timeout, over keep-alive connections (at most
 * `sockets`). node:http rather than fetch: fetch managed about 600 look-ups a second where node:http did 4,000
 * on the same loopback LRS (measured for the reconcile benchmark), and 100k look-ups must take minutes.
 */
export function createStatementLookup(router: RouterConfig, opts: { timeoutMs: number; sockets: number }): StatementLookup {
  const base = xapiStatementsUrl(router.endpointUrl);
  const headers = { "User-Agent": USER_AGENT, ...router.headers, "X-Experience-API-Version": "1.0.3" };
  // Only an OAuth 2 router uses it (its token requests).
  const tokenClient = new HttpClient();
  const auth = createAuthorizer(router.auth, { client: tokenClient, timeoutMs: opts.timeoutMs, userAgent: USER_AGENT });
  const redact: Redactor = createRedactor(router, REASON_MAX, () => auth.changingSecrets());
  const mod = base.protocol === "https:" ? https : http;
  const agent = new mod.Agent({ keepAlive: true, maxSockets: opts.sockets });
  return {
    async lookup(statementId, signal) {
      const url = new URL(base);
      url.searchParams.set("statementId", statementId);
      try {
        const { status, body } = await auth.send(
          (authorization) => get(mod, url, { headers: { ...headers, ...authorization }, agent, timeoutMs: opts.timeoutMs, signal }),
          signal,
        );
        return redacted(judgeLookup(statementId, status, body), redact);
      } catch (e) {
        if (signal?.aborted) throw e;
        const why = e instanceof RequestNotSentError ? `no OAuth 2 access token: ${e.message}` : (e as Error).message;
        return { kind: "unknown", reason: redact(why) };
      }
    },
    close: () => {
      agent.destroy();
      tokenClient.close();
    },
  };
}

interface GetOptions {
  readonly headers: Record<string, string>;
  readonly agent: http.Agent;
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
}

/** One GET; rejects on no complete answer within the timeout, a connection error, or the caller's abort. */
function get(mod: typeof http | typeof https, url: URL, o: GetOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let why: string | undefined;
    const req = mod.get(url, { headers: o.headers, agent: o.agent }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size <= BODY_MAX) chunks.push(c);
      });
      res.on("end", () => {
        done();
        if (size > BODY_MAX) reject(new Error(`HTTP ${res.statusCode}: an answer over ${BODY_MAX} bytes`));
        else resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") });
      });
      res.on("error", fail);
    });
    // A timer and one listener on the caller's signal, removed when done: AbortSignal.any per request would keep
    // every combined signal reachable from the call's signal on Node 20 (see http-send.ts).
    const giveUp = (reason: string) => {
      why ??= reason;
      req.destroy();
    };
    const timer = setTimeout(() => giveUp(`no answer within ${o.timeoutMs} ms (the router's http_timeout)`), o.timeoutMs);
    const onAbort = () => giveUp("aborted: the reconcile stopped");
    o.signal?.addEventListener("abort", onAbort, { once: true });
    function done(): void {
      clearTimeout(timer);
      o.signal?.removeEventListener("abort", onAbort);
    }
    function fail(e: Error): void {
      done();
      const code = (e as NodeJS.ErrnoException).code;
      reject(new Error(why ?? (code ? `${code}: ${e.message}` : e.message)));
    }
    req.on("error", fail);
  });
}

function redacted(r: LookupResult, redact: Redactor): LookupResult {
  return r.kind === "unknown" ? { kind: "unknown", reason: redact(r.reason) } : r;
}
