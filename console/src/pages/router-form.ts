/**
 * Create or edit a router. The form sends what the RPCs take and shows their InvalidArgument message under the
 * field it names (the service is the one place that validates; the form repeats none of its rules). Secrets are
 * write-only: a stored password, token, OAuth 2 client secret or header value is never shown; left empty on edit
 * it is kept, as UpdateRouter documents (an endpoint or token URL change needs it again, and the RPC says so
 * under the field).
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Backend } from "../../../gen/eventrouting/v1/event_pb.js";
import type { Router, RouterSchema } from "../../../gen/eventrouting/v1/router_admin_service_pb.js";
import { describeError } from "../api.js";
import { clear, field, h, select, setFieldError, statusLine } from "../dom.js";
import type { PageContext } from "../page.js";

type RouterInit = MessageInitShape<typeof RouterSchema>;

/** The fields this form edits, as update_mask paths; the rest (override_args, timings) stay as stored. */
const MASK = [
  "display_name",
  "backend",
  "endpoint_url",
  "enabled",
  "auth",
  "match_params",
  "headers",
  "delivery.batch_size",
  "delivery.max_retries",
  "delivery.rate_limit",
];

/** Every field that can show an error: cleared before each save. */
const FIELD_NAMES = [
  "id",
  "display_name",
  "backend",
  "endpoint_url",
  "auth_kind",
  "username",
  "password",
  "token",
  "token_url",
  "client_id",
  "client_secret",
  "scope",
  "audience",
  "match_params",
  "headers",
  "batch_size",
  "max_retries",
  "rate_limit",
];

/** An error path from the RPC ("auth.basic.password", "headers[\"X\"]", "match_params[0].patterns[1]") to a form field. */
function formFieldFor(path: string): string {
  if (path.startsWith("auth.basic.username")) return "username";
  if (path.startsWith("auth.basic.password")) return "password";
  if (path.startsWith("auth.bearer")) return "token";
  if (path.startsWith("auth.oauth2.")) return path.slice("auth.oauth2.".length);
  if (path.startsWith("auth")) return "auth_kind";
  if (path.startsWith("match_params")) return "match_params";
  if (path.startsWith("headers")) return "headers";
  if (path.startsWith("delivery.max_retries") || path.startsWith("delivery.backoff")) return "max_retries";
  if (path.startsWith("delivery.batch_size")) return "batch_size";
  if (path.startsWith("delivery.rate_limit")) return "rate_limit";
  return path;
}

/** "path = pattern" per line; the same path on several lines is one entry with several patterns. */
function parseMatchParams(text: string): Array<{ path: string; patterns: string[] }> {
  const byPath = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const eq = line.indexOf("=");
    const path = (eq < 0 ? line : line.slice(0, eq)).trim();
    const pattern = eq < 0 ? "" : line.slice(eq + 1).trim();
    byPath.set(path, [...(byPath.get(path) ?? []), pattern]);
  }
  return [...byPath].map(([path, patterns]) => ({ path, patterns }));
}

/** "Name: value" per line; an empty value on edit keeps the stored one. */
function parseHeaders(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const colon = line.indexOf(":");
    out[(colon < 0 ? line : line.slice(0, colon)).trim()] = colon < 0 ? "" : line.slice(colon + 1).trim();
  }
  return out;
}

const input = (name: string, type = "text", value = "", extra: Record<string, string | boolean> = {}): HTMLInputElement =>
  h("input", { name, type, value, ...extra });

export const routerFormPage = (main: HTMLElement, ctx: PageContext, editId?: string): undefined => {
  const title = editId ? `Edit router ${editId}` : "New router";
  const status = statusLine();
  const holder = h("div", {}, h("p", {}, "Loading…"));
  clear(main, h("h1", { tabindex: -1 }, title), holder);
  const render = (existing: Router | undefined): void => clear(holder, routerForm(ctx, existing, status));
  if (editId) {
    ctx.api.routers.getRouter({ id: editId }).then(
      (r) => render(r.router),
      (e: unknown) => clear(holder, h("p", { class: "error", role: "alert" }, describeError(e).message)),
    );
  } else render(undefined);
  return undefined;
};

/** The form for a new router (`existing` undefined) or for editing `existing`, saving on submit. */
function routerForm(ctx: PageContext, existing: Router | undefined, status: HTMLElement): HTMLFormElement {
  const controls: Controls = { ...routerControls(existing), ...authControls(existing), ...deliveryControls(existing) };
  const formError = h("p", { class: "error", role: "alert" });
  const form = formLayout(controls, existing, formError, status);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    save(ctx, form, formError, controls, existing);
  });
  return form;
}

interface RouterControls {
  readonly id: HTMLInputElement;
  readonly displayName: HTMLInputElement;
  readonly backend: HTMLSelectElement;
  readonly endpoint: HTMLInputElement;
  readonly enabled: HTMLInputElement;
}

interface AuthControls {
  readonly authKind: HTMLSelectElement;
  readonly username: HTMLInputElement;
  readonly password: HTMLInputElement;
  readonly token: HTMLInputElement;
  readonly oauth: OAuthControls;
  /** Username and password, shown for "basic" only. */
  readonly basicFields: HTMLElement;
  /** The token, shown for "bearer" only. */
  readonly bearerFields: HTMLElement;
  /** The client credentials grant's settings, shown for "oauth2" only. */
  readonly oauthFields: HTMLElement;
}

interface OAuthControls {
  readonly tokenUrl: HTMLInputElement;
  readonly clientId: HTMLInputElement;
  readonly clientSecret: HTMLInputElement;
  readonly scope: HTMLInputElement;
  readonly audience: HTMLInputElement;
}

interface DeliveryControls {
  readonly matchParams: HTMLTextAreaElement;
  readonly headers: HTMLTextAreaElement;
  readonly batchSize: HTMLInputElement;
  readonly maxRetries: HTMLInputElement;
  /** "N/DURATION" as the CLI's --rate-limit takes it, e.g. 3000/60s; empty: no limit. */
  readonly rateLimit: HTMLInputElement;
}

type Controls = RouterControls & AuthControls & DeliveryControls;

/** Id (read-only on edit), display name, backend, endpoint and enabled, filled from `existing`. */
function routerControls(existing: Router | undefined): RouterControls {
  const id = input(
    "id",
    "text",
    existing?.id ?? "",
    existing ? { readonly: true } : { required: true, pattern: "[a-z0-9][a-z0-9_-]{0,63}" },
  );
  const backend = select("backend", [
    [String(Backend.XAPI), "xAPI (LRS)"],
    [String(Backend.CALIPER), "Caliper"],
  ]);
  if (existing) backend.value = String(existing.backend);
  const endpoint = input("endpoint_url", "text", existing?.endpointUrl ?? "", {
    inputmode: "url",
    placeholder: "https://lrs.example.org/xapi",
  });
  const enabled = input("enabled", "checkbox", "", existing ? (existing.enabled ? { checked: true } : {}) : { checked: true });
  enabled.id = "f-enabled";
  return { id, displayName: input("display_name", "text", existing?.displayName ?? ""), backend, endpoint, enabled };
}

/**
 * The authentication kind and its write-only secrets: never filled from `existing`; a stored one is named in the
 * placeholder, and left empty it is kept.
 */
function authControls(existing: Router | undefined): AuthControls {
  const authKind = select("auth_kind", [
    ["none", "None"],
    ["basic", "Basic (username and password)"],
    ["bearer", "Bearer token"],
    ["oauth2", "OAuth 2 client credentials"],
  ]);
  authKind.value = existing?.auth?.kind.case ?? "none";
  const keep: Record<string, string> = existing?.auth?.hasSecret ? { placeholder: "stored: leave empty to keep" } : {};
  const username = input("username", "text", existing?.auth?.kind.case === "basic" ? existing.auth.kind.value.username : "", {
    autocomplete: "off",
  });
  const password = input("password", "password", "", { autocomplete: "new-password", ...keep });
  const token = input("token", "password", "", { autocomplete: "new-password", ...keep });
  const basicFields = h(
    "div",
    { class: "auth-basic" },
    field("Username", username),
    field("Password", password, "Write-only: never shown again."),
  );
  const bearerFields = h("div", { class: "auth-bearer" }, field("Token", token, "Write-only: never shown again."));
  const { oauth, oauthFields } = oauthControls(existing, keep);
  const showAuth = (): void => {
    basicFields.hidden = authKind.value !== "basic";
    bearerFields.hidden = authKind.value !== "bearer";
    oauthFields.hidden = authKind.value !== "oauth2";
  };
  authKind.addEventListener("change", showAuth);
  showAuth();
  return { authKind, username, password, token, oauth, basicFields, bearerFields, oauthFields };
}

/** Token URL, client id, the write-only client secret, scope and audience, filled from `existing` (but the secret). */
function oauthControls(existing: Router | undefined, keep: Record<string, string>): { oauth: OAuthControls; oauthFields: HTMLElement } {
  const o = existing?.auth?.kind.case === "oauth2" ? existing.auth.kind.value : undefined;
  const oauth: OAuthControls = {
    tokenUrl: input("token_url", "text", o?.tokenUrl ?? "", { inputmode: "url", placeholder: "https://idp.example.org/oauth/token" }),
    clientId: input("client_id", "text", o?.clientId ?? "", { autocomplete: "off" }),
    clientSecret: input("client_secret", "password", "", { autocomplete: "new-password", ...keep }),
    scope: input("scope", "text", o?.scope ?? "", { placeholder: "optional" }),
    audience: input("audience", "text", o?.audience ?? "", { placeholder: "optional" }),
  };
  const oauthFields = h(
    "div",
    { class: "auth-oauth2" },
    field("Token URL", oauth.tokenUrl, "The authorization server's token endpoint (client credentials grant, HTTP Basic)."),
    field("Client id", oauth.clientId),
    field("Client secret", oauth.clientSecret, "Write-only: never shown again; needed again when a URL changes."),
    field("Scope", oauth.scope, "Space-separated; empty: the server's default."),
    field("Audience", oauth.audience, "The API the token is for (sent as audience and resource); empty: none."),
  );
  return { oauth, oauthFields };
}

/** Match params and headers as text (header values are write-only: only the names are filled), batch size, retries. */
function deliveryControls(existing: Router | undefined): DeliveryControls {
  const matchParams = h(
    "textarea",
    { name: "match_params", rows: 3, spellcheck: "false", placeholder: "context.org_id = ^edX$" },
    (existing?.matchParams ?? []).flatMap((m) => m.patterns.map((p) => `${m.path} = ${p}`)).join("\n"),
  );
  const headers = h(
    "textarea",
    { name: "headers", rows: 2, spellcheck: "false", placeholder: "X-Api-Key: value" },
    Object.keys(existing?.headers ?? {})
      .map((n) => `${n}: `)
      .join("\n"),
  );
  const batchSize = input("batch_size", "number", existing?.delivery?.batchSize ? String(existing.delivery.batchSize) : "", {
    min: "0",
    placeholder: "service default",
  });
  const maxRetries = input(
    "max_retries",
    "number",
    existing?.delivery?.maxRetries !== undefined ? String(existing.delivery.maxRetries) : "",
    {
      min: "0",
      placeholder: "service default",
    },
  );
  const limit = existing?.delivery?.rateLimit;
  const rateLimit = input("rate_limit", "text", limit ? `${limit.requests}/${Number(limit.period?.seconds ?? 0n)}s` : "", {
    placeholder: "no limit, e.g. 3000/60s",
  });
  return { matchParams, headers, batchSize, maxRetries, rateLimit };
}

/** The controls in three fieldsets (router, credentials, events and delivery), then Save/Create and Cancel. */
function formLayout(c: Controls, existing: Router | undefined, formError: HTMLElement, status: HTMLElement): HTMLFormElement {
  return h(
    "form",
    { class: "router-form", novalidate: true },
    h(
      "fieldset",
      {},
      h("legend", {}, "Router"),
      field("Router id", c.id, "Lower-case letters, digits, - and _. Names the NATS subject and consumer; cannot change."),
      field("Display name", c.displayName),
      field("Backend", c.backend),
      field("Endpoint URL", c.endpoint, "xAPI: the LRS base URL (/statements is appended). Caliper: the endpoint itself."),
      h("div", { class: "field checkbox", "data-field": "enabled" }, c.enabled, h("label", { for: "f-enabled" }, "Enabled")),
    ),
    h("fieldset", {}, h("legend", {}, "Credentials"), field("Authentication", c.authKind), c.basicFields, c.bearerFields, c.oauthFields),
    h(
      "fieldset",
      {},
      h("legend", {}, "Events and delivery"),
      field("Match params", c.matchParams, 'One "path = regex" per line; all paths must match, any regex per path. Empty: every event.'),
      field("Headers", c.headers, 'One "Name: value" per line. Values are write-only: empty keeps the stored value.'),
      field("Batch size", c.batchSize),
      field("Max retries", c.maxRetries),
      field("Rate limit", c.rateLimit, "Requests per period across every instance, as N/seconds (3000/60s); empty: none."),
    ),
    h(
      "div",
      { class: "form-actions" },
      h("button", { type: "submit" }, existing ? "Save" : "Create router"),
      h("a", { href: existing ? `#/routers/${existing.id}` : "#/routers", class: "button secondary" }, "Cancel"),
    ),
    formError,
    status,
  );
}

/** The router the controls describe; on edit with the revision it was read at, so a change meanwhile is refused. */
function routerFromForm(c: Controls, existing: Router | undefined): RouterInit {
  return {
    id: c.id.value.trim(),
    displayName: c.displayName.value,
    backend: Number(c.backend.value) as Backend,
    endpointUrl: c.endpoint.value.trim(),
    enabled: c.enabled.checked,
    auth: authFromForm(c),
    matchParams: parseMatchParams(c.matchParams.value),
    headers: parseHeaders(c.headers.value),
    delivery: {
      batchSize: c.batchSize.value === "" ? 0 : Number(c.batchSize.value),
      ...(c.maxRetries.value === "" ? {} : { maxRetries: Number(c.maxRetries.value) }),
      ...rateLimitFromForm(c.rateLimit.value),
    },
    ...(existing ? { revision: existing.revision } : {}),
  };
}

function authFromForm(c: AuthControls): RouterInit["auth"] {
  if (c.authKind.value === "basic") return { kind: { case: "basic", value: { username: c.username.value, password: c.password.value } } };
  if (c.authKind.value === "bearer") return { kind: { case: "bearer", value: { token: c.token.value } } };
  if (c.authKind.value === "oauth2") {
    const o = c.oauth;
    const value = {
      tokenUrl: o.tokenUrl.value.trim(),
      clientId: o.clientId.value,
      clientSecret: o.clientSecret.value,
      scope: o.scope.value.trim(),
      audience: o.audience.value.trim(),
    };
    return { kind: { case: "oauth2", value } };
  }
  return {};
}

/**
 * "N/60s" (or "N/60") as a RateLimit; anything else is sent as it reads, so the service's message names the field
 * (a missing period: "expected 1s to 1h"). Empty: no limit.
 */
function rateLimitFromForm(text: string): { rateLimit?: { requests: number; period?: { seconds: bigint } } } {
  const t = text.trim();
  if (t === "") return {};
  const m = /^(\d+)\s*\/\s*(\d+)\s*s?$/.exec(t);
  if (!m) return { rateLimit: { requests: Number.parseInt(t, 10) || 0 } };
  return { rateLimit: { requests: Number(m[1]), period: { seconds: BigInt(m[2]!) } } };
}

/** CreateRouter or UpdateRouter; on success the router's page (with the RPC's warnings), else the error at its field. */
function save(ctx: PageContext, form: HTMLFormElement, formError: HTMLElement, c: Controls, existing: Router | undefined): void {
  formError.textContent = "";
  for (const n of FIELD_NAMES) setFieldError(form, n, undefined);
  const router = routerFromForm(c, existing);
  const call = existing ? ctx.api.routers.updateRouter({ router, updateMask: { paths: MASK } }) : ctx.api.routers.createRouter({ router });
  call.then(
    (res) => ctx.go(`#/routers/${res.router?.id ?? router.id}`, res.warnings),
    (e: unknown) => showSaveError(form, formError, e),
  );
}

/** The RPC's message under the field it names (and focus there), or only at the form's foot when it names none. */
function showSaveError(form: HTMLFormElement, formError: HTMLElement, e: unknown): void {
  const d = describeError(e);
  if (d.field && setFieldError(form, formFieldFor(d.field.path), d.field.message)) {
    formError.textContent = `Not saved: ${d.message}`;
    const name = formFieldFor(d.field.path);
    form
      .querySelector<HTMLElement>(`[data-field="${name}"] input, [data-field="${name}"] select, [data-field="${name}"] textarea`)
      ?.focus();
  } else formError.textContent = `Not saved: ${d.message}`;
}
