/**
 * OAuth 2 access tokens for a router whose auth is `oauth2`: the client credentials grant (RFC 6749 section 4.4),
 * the client authenticating with HTTP Basic (client_secret_basic, section 2.3.1; the method every authorization
 * server must support for clients with a password). The token is cached and shared by the router's requests, one
 * fetch in flight at a time, and replaced shortly before it expires (REFRESH_MARGIN), so a request never carries a
 * token that lapses on its way. A token the endpoint refuses anyway (401: revoked, or clocks apart) is replaced
 * through `refresh(stale)` (the sender retries once with the new one: authorizer.ts).
 *
 * Anything but a usable token from the token endpoint (a refusal such as invalid_client, a 5xx, no answer) is a
 * RequestNotSentError with `pause`: the delivery request was never sent, so no attempt is spent, and the worker
 * PAUSES the router with the reason until the token endpoint answers or the router changes (router-worker.ts).
 *
 * The request and the reading of the answer are pure (tokenRequest, readTokenAnswer); OAuthTokenSource holds the
 * cache and does the I/O.
 */
import type { OAuth2Auth } from "../../routing/router-model.js";
import { HttpSendError, RequestNotSentError, type HttpClient } from "./http-send.js";
import { oauthClientBasic } from "./redact.js";

/** A token response is a small JSON object; a JWT access token is a few kilobytes at most. */
const TOKEN_ANSWER_MAX_BYTES = 64 * 1024;
/** Used for at most this long when the answer gives no expires_in (RFC 6749 section 5.1 only RECOMMENDS it). */
export const DEFAULT_TOKEN_LIFETIME_MS = 3_600_000;
/** Replaced this share of its lifetime before it expires, at most REFRESH_MARGIN_MAX_MS before. */
const REFRESH_MARGIN = 0.1;
const REFRESH_MARGIN_MAX_MS = 60_000;
/** Most of the token endpoint's own words kept in a reason. */
const DESCRIPTION_MAX = 160;

export interface TokenRequest {
  readonly url: URL;
  readonly headers: Record<string, string>;
  readonly body: string;
}

export interface AccessToken {
  readonly value: string;
  /** When to stop using it (ms since the epoch): its expiry less the refresh margin. */
  readonly useUntil: number;
}

/**
 * The token request. `audience` is sent as `audience` (Auth0, Okta and others read it) and, when it is an absolute
 * URI, also as `resource` (RFC 8707), which servers that do not know one of them ignore.
 */
export function tokenRequest(auth: OAuth2Auth, userAgent: string): TokenRequest {
  const form = new URLSearchParams({ grant_type: "client_credentials" });
  if (auth.scope !== "") form.set("scope", auth.scope);
  if (auth.audience !== "") {
    form.set("audience", auth.audience);
    if (URL.canParse(auth.audience)) form.set("resource", auth.audience);
  }
  return {
    url: new URL(auth.tokenUrl),
    headers: {
      Authorization: `Basic ${oauthClientBasic(auth.clientId, auth.clientSecret)}`,
      "Content-Type": "application/x-www-form-urlencoded",
      Accept: "application/json",
      "User-Agent": userAgent,
    },
    body: form.toString(),
  };
}

/** The token in a 200 answer (RFC 6749 section 5.1), or why there is none (section 5.2 errors included). */
export function readTokenAnswer(status: number, body: string, sentAt: number): AccessToken | { readonly problem: string } {
  let json: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  if (status !== 200) return { problem: refusal(status, json, body) };
  const token = json?.["access_token"];
  if (typeof token !== "string" || token === "") return { problem: "token endpoint answered 200 without an access_token" };
  const type = json?.["token_type"];
  // Section 7.1: a client must not use a token whose type it does not understand (DPoP, MAC...).
  if (type !== undefined && (typeof type !== "string" || type.toLowerCase() !== "bearer"))
    return { problem: `token endpoint issued a ${JSON.stringify(type)} token; only Bearer tokens can be sent` };
  const seconds = Number(json?.["expires_in"]);
  const lifetime = Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : DEFAULT_TOKEN_LIFETIME_MS;
  return { value: token, useUntil: sentAt + lifetime - Math.min(lifetime * REFRESH_MARGIN, REFRESH_MARGIN_MAX_MS) };
}

/** "HTTP 401 invalid_client: client authentication failed", the start of the body when it is not an OAuth error. */
function refusal(status: number, json: Record<string, unknown> | undefined, body: string): string {
  const error = typeof json?.["error"] === "string" ? json["error"] : undefined;
  const description = typeof json?.["error_description"] === "string" ? json["error_description"] : undefined;
  const words = error ? `${error}${description ? `: ${description}` : ""}` : body.trim();
  const what =
    status >= 500 ? "token endpoint unavailable" : status >= 300 && status < 400 ? "token endpoint redirected" : "token endpoint refused";
  return `${what}: HTTP ${status}${words ? ` ${words.slice(0, DESCRIPTION_MAX)}` : ""}`;
}

export interface TokenSourceOptions {
  readonly client: HttpClient;
  /** The router's http_timeout: the token request gets the same bound. */
  readonly timeoutMs: number;
  readonly userAgent: string;
  readonly now?: () => number;
}

/** One router's tokens: cached, fetched once at a time, replaced before expiry or when refused. */
export class OAuthTokenSource {
  private current: AccessToken | undefined;
  private fetching: Promise<AccessToken> | undefined;
  /** Tokens issued to this router that may still appear in an answer (the current and the one before). */
  private readonly issued: string[] = [];
  private readonly now: () => number;

  constructor(
    private readonly auth: OAuth2Auth,
    private readonly opts: TokenSourceOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** A token to send now. Rejects with RequestNotSentError (pause when the token endpoint failed). */
  async token(signal?: AbortSignal): Promise<string> {
    const c = this.current;
    if (c && this.now() < c.useUntil) return c.value;
    return (await this.fetchOnce(signal)).value;
  }

  /** The endpoint refused `stale`: a new token, unless another request already replaced it. */
  async refresh(stale: string, signal?: AbortSignal): Promise<string> {
    if (this.current?.value === stale) this.current = undefined;
    return this.token(signal);
  }

  /** For the redactor: the access tokens that an answer might echo. */
  secrets(): readonly string[] {
    return this.issued;
  }

  private fetchOnce(signal?: AbortSignal): Promise<AccessToken> {
    this.fetching ??= this.fetch(signal).finally(() => {
      this.fetching = undefined;
    });
    return this.fetching;
  }

  private async fetch(signal?: AbortSignal): Promise<AccessToken> {
    const req = tokenRequest(this.auth, this.opts.userAgent);
    const sentAt = this.now();
    let answer;
    try {
      answer = await this.opts.client.post(req.url, req.headers, req.body, this.opts.timeoutMs, signal, TOKEN_ANSWER_MAX_BYTES);
    } catch (e) {
      if (signal?.aborted) throw new RequestNotSentError("aborted: delivery stopped", false);
      const why = e instanceof HttpSendError ? e.message : (e as Error).message;
      throw new RequestNotSentError(`OAuth 2 token request failed: token endpoint unreachable: ${why}`, true);
    }
    const read = readTokenAnswer(answer.status, answer.bodySnippet, sentAt);
    if ("problem" in read) throw new RequestNotSentError(`OAuth 2 token request failed: ${read.problem}`, true);
    this.current = read;
    this.issued.unshift(read.value);
    this.issued.length = Math.min(this.issued.length, 2);
    return read;
  }
}
