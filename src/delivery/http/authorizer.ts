/**
 * Puts a router's credentials on its requests, the one place that knows every auth kind: basic and bearer are a
 * fixed Authorization header; oauth2 a bearer token from the router's token source (oauth-token.ts), fetched when
 * needed. A 401 to an OAuth 2 token means the token was revoked or expired early (clocks apart): the request is
 * sent once more with a new token before its answer counts, so a token lapse never costs a delivery attempt. A
 * second 401 is the answer (the worker pauses the router). Delivery (senders.ts) and TestRouter
 * (router-probe.ts) both send through this, so a probe authenticates exactly as delivery does.
 */
import type { RouterAuth } from "../../routing/router-model.js";
import type { HttpClient } from "./http-send.js";
import { OAuthTokenSource } from "./oauth-token.js";

export interface Authorizer {
  /**
   * Runs `request` with the Authorization header (none for auth "none"). Rejects with RequestNotSentError when
   * no token could be had (the request was not sent).
   */
  send<T extends { readonly status: number }>(request: (auth: Record<string, string>) => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** Secrets that change over the router's life (issued access tokens), for the redactor. */
  changingSecrets(): readonly string[];
}

export interface AuthorizerOptions {
  readonly client: HttpClient;
  /** Bounds each token request (the router's http_timeout). */
  readonly timeoutMs: number;
  readonly userAgent: string;
}

export function createAuthorizer(auth: RouterAuth, opts: AuthorizerOptions): Authorizer {
  if (auth.kind === "oauth2") return oauthAuthorizer(new OAuthTokenSource(auth, opts));
  const header = fixedHeader(auth);
  return { send: (request) => request(header), changingSecrets: () => [] };
}

function fixedHeader(auth: RouterAuth): Record<string, string> {
  if (auth.kind === "basic")
    return { Authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`, "utf8").toString("base64")}` };
  if (auth.kind === "bearer") return { Authorization: `Bearer ${auth.token}` };
  return {};
}

function oauthAuthorizer(tokens: OAuthTokenSource): Authorizer {
  return {
    async send(request, signal) {
      const token = await tokens.token(signal);
      const answer = await request({ Authorization: `Bearer ${token}` });
      if (answer.status !== 401) return answer;
      const fresh = await tokens.refresh(token, signal);
      return request({ Authorization: `Bearer ${fresh}` });
    },
    changingSecrets: () => tokens.secrets(),
  };
}
