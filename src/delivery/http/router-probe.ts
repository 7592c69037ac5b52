/**
 * TestRouter: ONE request to a router's endpoint with exactly the credentials and headers delivery sends, and the
 * answer told the way delivery would take it (delivery-outcome.ts), so an operator can check an LRS before any
 * statement waits on it. The probe stores nothing: xAPI GET <endpoint>/about (xAPI 1.0.3 §7.7: every LRS serves
 * it and lists its versions, which also tells an LRS from a web page at the wrong URL); Caliper POST an envelope
 * whose data is empty. Redirects are not followed, as in delivery, so credentials never go to another host. Every
 * text from the endpoint is redacted (redact.ts): a 401 page may quote the Authorization header. Credentials come
 * from the same authorizer as delivery's (authorizer.ts): an OAuth 2 router first gets a token, and a token
 * endpoint that refuses it is reported as such.
 *
 * The request and the reading of the answer are pure (probeRequest, judgeProbe); probeRouter is the thin I/O.
 */
import type { RouterConfig } from "../../routing/router-model.js";
import { applyEnvelopeOverrides, caliperEnvelope } from "../../transform/caliper/envelope.js";
import { createAuthorizer } from "./authorizer.js";
import { classifyStatus } from "./delivery-outcome.js";
import { HttpClient, RequestNotSentError } from "./http-send.js";
import { createRedactor } from "./redact.js";
import { USER_AGENT, xapiStatementsUrl } from "./senders.js";

export interface ProbeRequest {
  readonly method: "GET" | "POST";
  readonly url: URL;
  readonly headers: Record<string, string>;
  readonly body?: string;
}

export interface ProbeResult {
  readonly method: string;
  readonly url: string;
  /** 0: no answer. */
  readonly httpStatus: number;
  readonly ok: boolean;
  readonly verdict: string;
  /** Redacted start of the body, or the connection error. */
  readonly detail: string;
  readonly xapiVersions: readonly string[];
  readonly latencyMs: number;
}

const DETAIL_MAX = 300;

/** The request without its Authorization header, which the authorizer adds when sending. */
export function probeRequest(router: RouterConfig, caliperSensorId: string): ProbeRequest {
  if (router.backend === "xapi") {
    // The /about resource sits next to /statements under the LRS base URL.
    const url = new URL(xapiStatementsUrl(router.endpointUrl).href.replace(/\/statements$/, "/about"));
    return { method: "GET", url, headers: { "User-Agent": USER_AGENT, ...router.headers, "X-Experience-API-Version": "1.0.3" } };
  }
  return {
    method: "POST",
    url: new URL(router.endpointUrl),
    headers: { "User-Agent": USER_AGENT, ...router.headers, "Content-Type": "application/json" },
    body: JSON.stringify(applyEnvelopeOverrides(caliperEnvelope(caliperSensorId, []), router.overrideArgs)),
  };
}

/** The answer in delivery's terms, and for xAPI whether it really is an LRS's /about. */
export function judgeProbe(
  backend: RouterConfig["backend"],
  status: number,
  body: string,
  location: string | undefined,
): { ok: boolean; verdict: string; xapiVersions: string[] } {
  const verdict = classifyStatus(status, undefined);
  if (verdict.kind === "delivered") {
    if (backend === "caliper") return { ok: true, verdict: "accepted: delivery can send here", xapiVersions: [] };
    let versions: unknown;
    try {
      versions = (JSON.parse(body) as { version?: unknown }).version;
    } catch {
      versions = undefined;
    }
    if (Array.isArray(versions) && versions.every((v) => typeof v === "string"))
      return { ok: true, verdict: "an xAPI LRS answered: delivery can send here", xapiVersions: versions };
    return {
      ok: false,
      verdict: "answered 2xx but not as an LRS's /about (no version list): check endpoint_url, the LRS base URL",
      xapiVersions: [],
    };
  }
  if (status >= 300 && status < 400)
    return {
      ok: false,
      verdict: `redirected${location ? ` to ${location}` : ""}: delivery does not follow redirects; use the final URL`,
      xapiVersions: [],
    };
  if (verdict.kind === "pause")
    return {
      ok: false,
      verdict:
        status === 401 || status === 403
          ? "credentials refused: delivery would pause the router until they are fixed"
          : "not found: check endpoint_url (xAPI: the LRS base URL, without /statements); delivery would pause the router",
      xapiVersions: [],
    };
  if (verdict.kind === "retry" && !verdict.configProblem)
    return { ok: false, verdict: "not available now: delivery would retry later", xapiVersions: [] };
  return { ok: false, verdict: "refused the request: see the answer", xapiVersions: [] };
}

export async function probeRouter(router: RouterConfig, opts: { timeoutMs: number; caliperSensorId: string }): Promise<ProbeResult> {
  const req = probeRequest(router, opts.caliperSensorId);
  // Only an OAuth 2 router uses it (its token request); closed when the probe is done.
  const client = new HttpClient();
  const auth = createAuthorizer(router.auth, { client, timeoutMs: opts.timeoutMs, userAgent: USER_AGENT });
  const redact = createRedactor(router, DETAIL_MAX, () => auth.changingSecrets());
  const start = performance.now();
  const base = { method: req.method, url: req.url.href };
  try {
    const res = await auth.send((authorization) =>
      fetch(req.url, {
        method: req.method,
        headers: { ...req.headers, ...authorization },
        ...(req.body !== undefined ? { body: req.body } : {}),
        redirect: "manual",
        signal: AbortSignal.timeout(opts.timeoutMs),
      }),
    );
    const body = await res.text();
    const judged = judgeProbe(router.backend, res.status, body, res.headers.get("location") ?? undefined);
    return {
      ...base,
      httpStatus: res.status,
      ...judged,
      detail: redact(body.trim()),
      latencyMs: performance.now() - start,
    };
  } catch (e) {
    if (e instanceof RequestNotSentError) {
      const verdict = "no OAuth 2 access token: delivery would pause the router until the token endpoint issues one";
      return {
        ...base,
        httpStatus: 0,
        ok: false,
        verdict,
        detail: redact(e.message),
        xapiVersions: [],
        latencyMs: performance.now() - start,
      };
    }
    const err = e as Error & { cause?: { code?: string; message?: string } };
    const why =
      err.name === "TimeoutError"
        ? `no answer within ${opts.timeoutMs} ms (the router's http_timeout)`
        : `${err.cause?.code ?? err.name}: ${err.cause?.message ?? err.message}`;
    return {
      ...base,
      httpStatus: 0,
      ok: false,
      verdict: "no answer: check the URL, DNS, the network and TLS; delivery would retry later",
      detail: redact(why),
      xapiVersions: [],
      latencyMs: performance.now() - start,
    };
  } finally {
    client.close();
  }
}
