/**
 * Removes a router's own secrets from error texts built from its endpoint's answers. Endpoints often echo the
 * request (a 401 page quoting the Authorization header, a debug proxy returning the body), and those texts are
 * kept in stats (GetRouterStatus last_error / state_reason), logs and the failed stream's Er-Last-Error header.
 * Redacting where the text is made (batch-delivery.ts) means every place that keeps or shows it gets the clean
 * text.
 *
 * Secrets: the password, the token, the Basic credential in base64 (and "user:password"), the whole
 * Authorization value, and every router header value (tenant keys, API keys), each also in its JSON-escaped and
 * URL-encoded forms, since an echo may quote them that way. After redaction the text is capped; a tail that
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
  }
  const all = new Set<string>();
  for (const s of raw) {
    if (s.length < MIN_SECRET) continue;
    all.add(s);
    all.add(JSON.stringify(s).slice(1, -1));
    all.add(encodeURIComponent(s));
  }
  return [...all].filter((s) => s.length >= MIN_SECRET).sort((a, b) => b.length - a.length);
}

export function createRedactor(router: RouterSecrets, max = ERROR_TEXT_MAX): Redactor {
  const secrets = secretsOf(router);
  return (text) => {
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
