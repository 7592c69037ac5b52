/**
 * Write-only secrets on UpdateRouter: the password or token, and every custom header value (headers such as
 * X-Api-Key carry keys). Get and List never return them, so a client editing other fields cannot send them back:
 * an empty value in an update keeps the stored one.
 *
 * That convenience must never send stored secrets somewhere new. When endpoint_url changes, every secret the
 * router keeps has to come again in the same request, or be dropped; otherwise an admin token (or a stolen one)
 * could point a school's LRS credentials at any host. The refusal names the field and never echoes a value.
 * An OAuth 2 client secret goes to the token endpoint, not to endpoint_url, so it is bound to both: a change of
 * either URL needs it again.
 */
import { ValidationError } from "../errors.js";
import type { RouterAuth } from "../routing/router-model.js";
import { endpointUrlProblem, type RouterInput } from "../routing/router-validation.js";

/** Which of the merged router's secret-bearing fields came from the request (the rest are the stored ones). */
export interface SecretSources {
  /** The mask is empty or names "auth". */
  readonly authFromRequest: boolean;
  /** The mask is empty or names "headers". */
  readonly headersFromRequest: boolean;
}

const RESEND = "stored secrets are never sent to a new host";

/** `next` (stored router with the request applied) with stored secrets filled in where the rules allow it. */
export function carrySecrets(stored: RouterInput, next: RouterInput, from: SecretSources, root = "router"): RouterInput {
  const moved = next.endpointUrl !== stored.endpointUrl;
  // A bad new URL is the admin's first problem to hear about, before which secrets it would need.
  const urlProblem = moved ? endpointUrlProblem(next.endpointUrl) : undefined;
  if (urlProblem) throw new ValidationError(`${root}.endpoint_url`, urlProblem);
  return {
    ...next,
    auth: from.authFromRequest ? mergeAuth(stored.auth, next.auth, moved, root) : keepAuth(stored.auth, moved, root),
    headers: from.headersFromRequest ? mergeHeaders(stored.headers, next.headers, moved, root) : keepHeaders(stored.headers, moved, root),
  };
}

function hasSecret(a: RouterAuth): boolean {
  return (
    (a.kind === "basic" && a.password !== "") || (a.kind === "bearer" && a.token !== "") || (a.kind === "oauth2" && a.clientSecret !== "")
  );
}

function keepAuth(stored: RouterAuth, moved: boolean, root: string): RouterAuth {
  if (moved && hasSecret(stored)) {
    throw new ValidationError(
      `${root}.auth`,
      `endpoint_url changes, so the credentials must be supplied again in this update (add "auth" to update_mask) or cleared; ${RESEND}`,
    );
  }
  return stored;
}

function mergeAuth(stored: RouterAuth, next: RouterAuth, moved: boolean, root: string): RouterAuth {
  const keep = (field: string, why = moved ? "endpoint_url" : undefined): void => {
    if (why) throw new ValidationError(`${root}.${field}`, `is required again because ${why} changes; ${RESEND}`);
  };
  if (stored.kind === "basic" && next.kind === "basic" && next.password === "" && stored.password !== "") {
    keep("auth.basic.password");
    return { ...next, password: stored.password };
  }
  if (stored.kind === "bearer" && next.kind === "bearer" && next.token === "" && stored.token !== "") {
    keep("auth.bearer.token");
    return { ...next, token: stored.token };
  }
  if (stored.kind === "oauth2" && next.kind === "oauth2" && next.clientSecret === "" && stored.clientSecret !== "") {
    keep("auth.oauth2.client_secret", moved ? "endpoint_url" : next.tokenUrl !== stored.tokenUrl ? "token_url" : undefined);
    return { ...next, clientSecret: stored.clientSecret };
  }
  return next;
}

function keepHeaders(stored: Readonly<Record<string, string>>, moved: boolean, root: string): Readonly<Record<string, string>> {
  if (moved && Object.keys(stored).length > 0) {
    throw new ValidationError(
      `${root}.headers`,
      `endpoint_url changes, so the header values must be supplied again in this update (add "headers" to update_mask) ` +
        `or removed; ${RESEND}`,
    );
  }
  return stored;
}

/** Empty values take the stored value of the same header (names compare case-insensitively, as in HTTP). */
function mergeHeaders(
  stored: Readonly<Record<string, string>>,
  next: Readonly<Record<string, string>>,
  moved: boolean,
  root: string,
): Readonly<Record<string, string>> {
  const byName = new Map(Object.entries(stored).map(([k, v]) => [k.toLowerCase(), v]));
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(next)) {
    const kept = value === "" ? byName.get(name.toLowerCase()) : undefined;
    if (kept !== undefined && moved) {
      const field = `${root}.headers[${JSON.stringify(name)}]`;
      throw new ValidationError(field, `needs its value again because endpoint_url changes; ${RESEND}`);
    }
    // A still-empty value (nothing stored under that name) is refused by validation: "expected a value".
    out[name] = kept ?? value;
  }
  return out;
}
