/**
 * One HTTP client per router: keep-alive agents (a batch every few seconds should not pay a TCP/TLS handshake
 * each time) and a hard timeout per request, so a stalled endpoint can never hold a batch past its ack deadline.
 * ERB sends without any timeout; this is the fix.
 *
 * The timeout is a plain timer and the caller's (long-lived) stop signal gets one listener that is removed when
 * the request settles. AbortSignal.any([timeout, stop]) per request is NOT used: on Node 20 every combined
 * signal stays reachable from the long-lived one (nodejs/node#55351), so the heap grows with the request count
 * (bench/http-client-heap.bench.ts: +10.6 MB per 100k requests before, flat now).
 */
import http from "node:http";
import https from "node:https";

export interface HttpAnswer {
  readonly status: number;
  readonly retryAfter: string | undefined;
  /** First bytes of the body, for error messages only. */
  readonly bodySnippet: string;
}

export class HttpSendError extends Error {
  override name = "HttpSendError";
  constructor(
    message: string,
    readonly timedOut: boolean,
  ) {
    super(message);
  }
}

/**
 * The request to the endpoint was never sent, so no delivery attempt was made. `pause`: the router cannot
 * authenticate (its OAuth 2 token endpoint failed; the message says why) and is PAUSED like on a 401; otherwise
 * delivery stopped first (the statements are handed back).
 */
export class RequestNotSentError extends Error {
  override name = "RequestNotSentError";
  constructor(
    message: string,
    readonly pause: boolean,
  ) {
    super(message);
  }
}

const SNIPPET_BYTES = 512;

export class HttpClient {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 8 });

  /**
   * POSTs `body`; resolves with any HTTP status, rejects with HttpSendError on timeout or connection failure.
   * `keepBytes`: how much of the answer's body to keep (a token response is read whole; delivery keeps a snippet).
   */
  post(
    url: URL,
    headers: Record<string, string>,
    body: string | Uint8Array,
    timeoutMs: number,
    signal?: AbortSignal,
    keepBytes = SNIPPET_BYTES,
  ): Promise<HttpAnswer> {
    if (signal?.aborted) return Promise.reject(new HttpSendError("aborted: delivery stopped", false));
    const mod = url.protocol === "https:" ? https : http;
    const agent = url.protocol === "https:" ? this.httpsAgent : this.httpAgent;
    const payload = typeof body === "string" ? Buffer.from(body, "utf8") : body;
    return new Promise<HttpAnswer>((resolve, reject) => {
      let cause: "timeout" | "aborted" | undefined;
      const req = mod.request(url, { method: "POST", agent, headers: { ...headers, "Content-Length": String(payload.length) } }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          // Keep reading to the end (so the socket can be reused) but store only the start.
          if (size < keepBytes) chunks.push(c);
          size += c.length;
        });
        res.on("end", () => {
          settle();
          const ra = res.headers["retry-after"];
          resolve({
            status: res.statusCode ?? 0,
            retryAfter: Array.isArray(ra) ? ra[0] : ra,
            bodySnippet: Buffer.concat(chunks).subarray(0, keepBytes).toString("utf8"),
          });
        });
        res.on("error", fail);
        res.on("close", () => {
          if (!res.complete) fail(new Error("connection closed before the answer was complete"));
        });
      });
      const giveUp = (why: "timeout" | "aborted") => {
        cause ??= why;
        req.destroy();
      };
      const timer = setTimeout(() => giveUp("timeout"), timeoutMs);
      const onAbort = () => giveUp("aborted");
      signal?.addEventListener("abort", onAbort, { once: true });
      function settle(): void {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      }
      function fail(e: Error): void {
        settle();
        reject(toSendError(e, cause));
      }
      req.on("error", fail);
      req.end(payload);
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

function toSendError(e: Error, cause: "timeout" | "aborted" | undefined): HttpSendError {
  if (cause === "timeout") return new HttpSendError("timeout: no complete answer in time", true);
  if (cause === "aborted") return new HttpSendError("aborted: delivery stopped", false);
  const code = (e as NodeJS.ErrnoException).code;
  return new HttpSendError(code ? `${code}: ${e.message}` : e.message, false);
}
