/**
 * Real HTTP receivers for delivery tests, on random loopback ports:
 * - FaultEndpoint: an xAPI-like statements endpoint whose answer to each request is scripted (status,
 *   Retry-After, delay, dropped connection, no answer at all, a reset half-way through the answer), with atomic
 *   batches like a real LRS, and exact records of which statement ids were stored how many times. It can be
 *   closed (connection refused) and reopened on the same port.
 * - CaliperReceiver: enforces Caliper 1.2 §6.1 (one envelope per POST, application/json -> else 415, malformed ->
 *   400, bad dataVersion -> 422, bearer token -> else 401) and validates envelopes with the Caliper schemas.
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { CALIPER_V1P2_CONTEXT, validateCaliperEnvelope } from "./caliper-validator.js";

export interface ReceivedRequest {
  readonly n: number;
  readonly at: number;
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly ids: string[];
  status: number;
}

export interface ScriptedAnswer {
  readonly status?: number;
  readonly retryAfter?: string;
  /** Answer after this long (a timeout when above the client's HTTP timeout). */
  readonly delayMs?: number;
  /** Destroy the socket without answering. */
  readonly destroy?: boolean;
  /** Never answer: the request stays open until the client gives up (its HTTP timeout) or the endpoint closes. */
  readonly hang?: boolean;
  /** Store the statements (a 2xx), send the status line and half the body, then reset the connection. */
  readonly resetMidResponse?: boolean;
  /** Answer body instead of the default (e.g. an echo of the request, as some 401 pages do). */
  readonly body?: string;
}

export type Script = (req: {
  n: number;
  path: string;
  ids: string[];
  statements: Record<string, unknown>[];
  headers: http.IncomingHttpHeaders;
  body: string;
}) => ScriptedAnswer | undefined;

/** Polls `cond` until true or the deadline; for conditions that no event can signal (remote HTTP state). */
export async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

abstract class LoopbackServer {
  protected server: http.Server | undefined;
  port = 0;

  protected abstract handle(req: IncomingMessage, res: ServerResponse): Promise<void>;

  async listen(port = 0): Promise<void> {
    const server = http.createServer((req, res) => {
      this.handle(req, res).catch((e: Error) => {
        if (!res.headersSent) res.writeHead(500).end(e.message);
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Stops listening and drops kept-alive sockets: the next request gets ECONNREFUSED. */
  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  reopen(): Promise<void> {
    return this.listen(this.port);
  }
}

export class FaultEndpoint extends LoopbackServer {
  readonly requests: ReceivedRequest[] = [];
  /** statement id -> times stored (a 2xx answer to a request that contained it). */
  readonly stored = new Map<string, number>();
  readonly statements = new Map<string, Record<string, unknown>>();
  script: Script = () => undefined;

  static async start(script?: Script): Promise<FaultEndpoint> {
    const e = new FaultEndpoint();
    if (script) e.script = script;
    await e.listen();
    return e;
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const parsed = JSON.parse(body) as unknown;
    const statements = (Array.isArray(parsed) ? parsed : [parsed]) as Record<string, unknown>[];
    const ids = statements.map((s) => String(s["id"]));
    const rec: ReceivedRequest = {
      n: this.requests.length + 1,
      at: Date.now(),
      method: req.method ?? "",
      path: req.url ?? "",
      headers: req.headers,
      ids,
      status: 0,
    };
    this.requests.push(rec);
    const a = this.script({ n: rec.n, path: rec.path, ids, statements, headers: req.headers, body }) ?? {};
    if (a.hang) return;
    if (a.delayMs) await new Promise((r) => setTimeout(r, a.delayMs));
    if (a.destroy) {
      req.socket.destroy();
      return;
    }
    const status = a.resetMidResponse ? 200 : (a.status ?? 200);
    rec.status = status;
    if (status >= 200 && status < 300) {
      // Stored even if the client gave up waiting (timeout): like a real LRS, hence at-least-once.
      for (const [i, id] of ids.entries()) {
        this.stored.set(id, (this.stored.get(id) ?? 0) + 1);
        this.statements.set(id, statements[i]!);
      }
    }
    const headers: Record<string, string> = { "Content-Type": "application/json", "X-Experience-API-Version": "1.0.3" };
    if (a.retryAfter) headers["Retry-After"] = a.retryAfter;
    if (a.resetMidResponse) {
      const body = Buffer.from(JSON.stringify(ids));
      res.writeHead(status, { ...headers, "Content-Length": String(body.length) });
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => req.socket.destroy());
      return;
    }
    res.writeHead(status, headers).end(a.body ?? (status < 300 ? JSON.stringify(ids) : JSON.stringify({ message: `scripted ${status}` })));
  }

  storedIds(): Set<string> {
    return new Set(this.stored.keys());
  }

  /** Ids stored more than once. */
  duplicates(): string[] {
    return [...this.stored].filter(([, n]) => n > 1).map(([id]) => id);
  }
}

export class CaliperReceiver extends LoopbackServer {
  readonly envelopes: Record<string, unknown>[] = [];
  readonly events = new Map<string, Record<string, unknown>>();
  readonly rejections: { status: number; errors: string[] }[] = [];

  constructor(private readonly token: string | undefined) {
    super();
  }

  static async start(opts: { token?: string } = {}): Promise<CaliperReceiver> {
    const r = new CaliperReceiver(opts.token);
    await r.listen();
    return r;
  }

  private reject(res: ServerResponse, status: number, errors: string[]): void {
    this.rejections.push({ status, errors });
    // RFC 7807 problem details, as §6.1 allows.
    res
      .writeHead(status, { "Content-Type": "application/problem+json" })
      .end(JSON.stringify({ status, title: errors[0] ?? "error", errors }));
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    if (req.method !== "POST") return this.reject(res, 405, ["POST only"]);
    if (this.token && req.headers.authorization !== `Bearer ${this.token}`) return this.reject(res, 401, ["bad or missing bearer token"]);
    const ct = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    if (ct !== "application/json") return this.reject(res, 415, [`content type ${ct || "(none)"} is not application/json`]);
    let env: unknown;
    try {
      env = JSON.parse(body);
    } catch {
      return this.reject(res, 400, ["body is not JSON"]);
    }
    if (typeof env !== "object" || env === null || Array.isArray(env))
      return this.reject(res, 400, ["exactly one envelope object per request"]);
    const dv = (env as Record<string, unknown>)["dataVersion"];
    if (typeof dv === "string" && dv !== CALIPER_V1P2_CONTEXT) return this.reject(res, 422, [`unsupported dataVersion ${dv}`]);
    const errors = validateCaliperEnvelope(env);
    if (errors.length > 0) return this.reject(res, 400, errors);
    const e = env as { data: Record<string, unknown>[] };
    this.envelopes.push(e as Record<string, unknown>);
    for (const ev of e.data) this.events.set(String(ev["id"]), ev);
    res.writeHead(200).end();
  }
}

/**
 * A forwarding proxy in front of a real endpoint (the LRS) that can fail a request AFTER the endpoint stored it:
 * the worst case for duplicates (stored, but the sender thinks it failed and retries).
 */
export class FailingProxy extends LoopbackServer {
  readonly requests: { n: number; upstreamStatus: number; answered: number }[] = [];

  constructor(
    private readonly target: string,
    /** For request n: answer this status instead of the upstream's (after forwarding), or undefined to pass through. */
    public override: (n: number) => number | undefined,
  ) {
    super();
  }

  static async start(target: string, override: (n: number) => number | undefined): Promise<FailingProxy> {
    const p = new FailingProxy(target, override);
    await p.listen();
    return p;
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers))
      if (typeof v === "string" && !["host", "connection", "content-length"].includes(k)) headers[k] = v;
    const up = await fetch(`${this.target.replace(/\/+$/, "")}${req.url ?? ""}`, { method: req.method ?? "POST", headers, body });
    const text = await up.text();
    const n = this.requests.length + 1;
    const forced = this.override(n);
    this.requests.push({ n, upstreamStatus: up.status, answered: forced ?? up.status });
    if (forced !== undefined) {
      res.writeHead(forced, { "Content-Type": "application/json" }).end(JSON.stringify({ message: "forced failure after forwarding" }));
      return;
    }
    res.writeHead(up.status, { "Content-Type": up.headers.get("content-type") ?? "application/json" }).end(text);
  }
}
