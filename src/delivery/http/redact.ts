/**
 * Removes a router's own secrets from error texts built from its endpoint's answers. Endpoints often echo the
 * request (a 401 page quoting the Authorization header, a debug proxy returning the body), and those texts are
 * kept in stats (GetRouterStatus last_error / state_reason), logs and the failed stream's Er-Last-Error header.
 * Redacting where the text is made (batch-delivery.ts) means every place that keeps or shows it gets the clean
 * text.
 *
 * Secrets: the password, the token, the Basic credential in base64 (and "user:password"), the whole
 * Authorization value, and every router header value (tenant keys, API keys), each also in its JSON-escaped and
 * URL-encoded forms, since an echo may quote them that way. OAuth 2: the client secret (also form-encoded, as in
 * a token request body), the client's Basic credential sent to the token endpoint, and the access tokens issued
 * to the router (they change, so the caller passes a function that lists the current ones). After redaction the text is capped; a tail that
 * starts a secret is cut too, so a cap or a body snippet ending mid-secret never shows its first characters.
 */
import type { RouterAuth } from "../../routing/router-model.js";

/** Most characters of an endpoint's answer kept in an error text. */
export const ERROR_TEXT_MAX = 200;
export const REDACTED = "[redacted]";
/** Shorter values (e.g. a header "1") would redact ordinary text everywhere; they carry no secret anyway. */
const MIN_SECRET = 3;
/** A trailing fragment this long that starts a secret is cut (shorter ones are too common to mean anything). */
const MIN_TAIL = 3;

export interface RouterSecrets {
  readonly auth: RouterAuth;
  readonly headers: Readonly<Record<string, string>>;
}

export type Redactor = (text: string) => string;

/** The literal strings to remove, longest first (so a value containing another is removed whole). */
export function secretsOf(router: RouterSecrets): string[] {
  const raw: string[] = [...Object.values(router.headers)];
  if (router.auth.kind === "basic") {
    const pair = `${router.auth.username}:${router.auth.password}`;
    const b64 = Buffer.from(pair, "utf8").toString("base64");
    raw.push(router.auth.password, pair, b64, `Basic ${b64}`);
  } else if (router.auth.kind === "bearer") {
    raw.push(router.auth.token, `Bearer ${router.auth.token}`);
  } else if (router.auth.kind === "oauth2") {
    const basic = oauthClientBasic(router.auth.clientId, router.auth.clientSecret);
    raw.push(router.auth.clientSecret, new URLSearchParams({ s: router.auth.clientSecret }).toString().slice(2), basic, `Basic ${basic}`);
  }
  return variants(raw);
}

/** Each secret with its JSON-escaped and URL-encoded forms, longest first. */
function variants(raw: readonly string[]): string[] {
  const all = new Set<string>();
  for (const s of raw) {
    if (s.length < MIN_SECRET) continue;
    all.add(s);
    all.add(JSON.stringify(s).slice(1, -1));
    all.add(encodeURIComponent(s));
  }
  return [...all].filter((s) => s.length >= MIN_SECRET).sort((a, b) => b.length - a.length);
}

/**
 * The client's credential for the token endpoint (client_secret_basic): RFC 6749 section 2.3.1 form-encodes the id
 * and the secret before joining them with ":", so a ":" in an id cannot be misread.
 */
export function oauthClientBasic(clientId: string, clientSecret: string): string {
  const form = (s: string) => new URLSearchParams({ s }).toString().slice(2);
  return Buffer.from(`${form(clientId)}:${form(clientSecret)}`, "utf8").toString("base64");
}

/**
 * `changing` lists secrets that are not part of the router's configuration and change over its life (OAuth 2
 * access tokens); they are looked up on every call.
 */
export function createRedactor(router: RouterSecrets, max = ERROR_TEXT_MAX, changing?: () => readonly string[]): Redactor {
  const fixed = secretsOf(router);
  return (text) => {
    const extra = changing?.() ?? [];
    const secrets =
      extra.length > 0 ? [...variants(extra.flatMap((t) => [t, `Bearer ${t}`])), ...fixed].sort((a, b) => b.length - a.length) : fixed;
    let out = text;
    for (const s of secrets) out = out.split(s).join(REDACTED);
    out = out.replace(/[\r\n]+/g, " ");
    if (out.length > max) out = out.slice(0, max);
    return cutSecretTail(out, secrets);
  };
}

/** Removes a trailing fragment that is the start of a secret (the text was cut in the middle of it). */
function cutSecretTail(text: string, secrets: readonly string[]): string {
  for (const s of secrets) {
    for (let n = Math.min(s.length - 1, text.length); n >= MIN_TAIL; n--) {
      if (text.endsWith(s.slice(0, n))) return `${text.slice(0, text.length - n)}${REDACTED}`;
    }
  }
  return text;
}
