/**
 * Turns a batch of stored statement bodies into ONE HTTP request to a router's endpoint. xAPI: POST
 * {url}/statements with a JSON array (xAPI 1.0.3 Communication §2.1). Caliper: POST one envelope whose `data`
 * holds the batch (Caliper 1.2 §5-6), with the router's override_args merged into the envelope at send time.
 */
import type { RouterConfig } from "../../routing/router-model.js";
import type { JsonObject } from "../../transform/edx-event.js";
import { applyEnvelopeOverrides, caliperEnvelope } from "../../transform/caliper/envelope.js";
import { createAuthorizer, type Authorizer } from "./authorizer.js";
import type { HttpAnswer, HttpClient } from "./http-send.js";
import { createRedactor, type Redactor } from "./redact.js";
import { PACKAGE_VERSION } from "../../version.js";

const utf8 = new TextDecoder();
const OPEN = Buffer.from("[");
const COMMA = Buffer.from(",");
const CLOSE = Buffer.from("]");

/** `[b1,b2,...]` from JSON texts in bytes. */
export function jsonArrayOf(bodies: readonly Uint8Array[]): Buffer {
  const parts: Uint8Array[] = [OPEN];
  for (let i = 0; i < bodies.length; i++) {
    if (i > 0) parts.push(COMMA);
    parts.push(bodies[i]!);
  }
  parts.push(CLOSE);
  return Buffer.concat(parts);
}

/** Sent with every delivery request. */
export const USER_AGENT = `event-routing/${PACKAGE_VERSION}`;

export interface BatchSender {
  /**
   * One request for these bodies (each a statement / event as UTF-8 JSON). Rejects with HttpSendError (sent, no
   * answer) or RequestNotSentError (never sent: no OAuth 2 token, or delivery stopped first).
   */
  send(bodies: readonly Uint8Array[], signal?: AbortSignal): Promise<HttpAnswer>;
  /** Removes this router's secrets (auth, header values) from a text about one of its answers, and caps it. */
  readonly redact: Redactor;
}

export interface SenderOptions {
  readonly client: HttpClient;
  readonly timeoutMs: number;
  /** Caliper envelope `sensor` (CALIPER_SENSOR_ID, else LMS_ROOT_URL). */
  readonly caliperSensorId: string;
  /**
   * Waits before each request to the endpoint (the router's rate limit, worker/rate-limiter.ts), including the
   * one repeated with a new OAuth 2 token; rejects with RequestNotSentError when delivery stops first.
   */
  readonly pace?: (signal?: AbortSignal) => Promise<void>;
}

export function createSender(router: RouterConfig, opts: SenderOptions): BatchSender {
  const auth = createAuthorizer(router.auth, { client: opts.client, timeoutMs: opts.timeoutMs, userAgent: USER_AGENT });
  const redact = createRedactor(router, undefined, () => auth.changingSecrets());
  return router.backend === "caliper" ? caliperSender(router, opts, auth, redact) : xapiSender(router, opts, auth, redact);
}

/**
 * Headers common to both backends: the router's own, then the protocol's (which win); the Authorization header
 * is added per request by the authorizer (an OAuth 2 token changes).
 */
function baseHeaders(router: RouterConfig): Record<string, string> {
  // Endpoints' logs can tell our requests apart; a router's own User-Agent header still wins.
  return { "User-Agent": USER_AGENT, ...router.headers, "Content-Type": "application/json" };
}

export function xapiStatementsUrl(endpointUrl: string): URL {
  return new URL(`${endpointUrl.replace(/\/+$/, "")}/statements`);
}

function xapiSender(router: RouterConfig, opts: SenderOptions, auth: Authorizer, redact: Redactor): BatchSender {
  const url = xapiStatementsUrl(router.endpointUrl);
  const headers = { ...baseHeaders(router), "X-Experience-API-Version": "1.0.3" };
  return {
    redact,
    // Bodies are already UTF-8 JSON: one copy of their bytes into the request, with no parse, decode or
    // re-encode per statement (those were a tenth of the drain's CPU, docs/benchmarks.md).
    send: (bodies, signal) => {
      const body = jsonArrayOf(bodies);
      return auth.send(
        paced(opts, signal, (a) => opts.client.post(url, { ...headers, ...a }, body, opts.timeoutMs, signal)),
        signal,
      );
    },
  };
}

/** `request` after the rate limiter's wait, when the router has a limit. */
function paced(
  opts: SenderOptions,
  signal: AbortSignal | undefined,
  request: (auth: Record<string, string>) => Promise<HttpAnswer>,
): (auth: Record<string, string>) => Promise<HttpAnswer> {
  const pace = opts.pace;
  if (!pace) return request;
  return async (auth) => {
    await pace(signal);
    return request(auth);
  };
}

function caliperSender(router: RouterConfig, opts: SenderOptions, auth: Authorizer, redact: Redactor): BatchSender {
  const url = new URL(router.endpointUrl);
  const headers = baseHeaders(router);
  return {
    redact,
    send: (bodies, signal) => {
      const events = bodies.map((b) => JSON.parse(utf8.decode(b)) as JsonObject);
      const envelope = JSON.stringify(applyEnvelopeOverrides(caliperEnvelope(opts.caliperSensorId, events), router.overrideArgs));
      return auth.send(
        paced(opts, signal, (a) => opts.client.post(url, { ...headers, ...a }, envelope, opts.timeoutMs, signal)),
        signal,
      );
    },
  };
}
