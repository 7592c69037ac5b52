/**
 * The admin console's own port (CONSOLE_PORT): the built browser assets plus the service's Connect handler, so
 * the page calls the existing RPCs on its own origin. Same origin means no CORS on the main port (and no
 * preflight to get right), `connect-src 'self'` in the CSP, and the RPCs keep their one auth path: the bearer
 * token the page sends on every call, checked by the same interceptors as on PORT. No cookie is ever set, so a
 * foreign page cannot make calls with an operator's credentials. A separate port can be firewalled or left off
 * (the default) without touching the API port. TLS, when configured, applies here as on the main port.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { NodeHandler } from "../server/connect-handler.js";
import { startHttpServer, type HttpServerOptions, type RunningHttpServer } from "../server/http-server.js";
import { loadStaticFiles, SECURITY_HEADERS, type StaticFile } from "./static-files.js";

export interface ConsoleServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The main port's Connect handler: same services, interceptors and auth. */
  rpcHandler: NodeHandler;
  assetsDir: string;
  /** Shown to the page (the NATS names it prints for the nats CLI); nothing secret. */
  settings: { readonly natsPrefix: string };
  http?: Omit<HttpServerOptions, "handler" | "host" | "port">;
}

/** "/package.Service/Method": a Connect, gRPC or gRPC-Web call. */
const PROCEDURE_PATH = /^\/[A-Za-z_][\w.]*\/[A-Za-z_]\w*$/;

type Req = IncomingMessage | Http2ServerRequest;
type Res = ServerResponse | Http2ServerResponse;

export function consoleHandler(rpcHandler: NodeHandler, files: ReadonlyMap<string, StaticFile>): NodeHandler {
  return (req: Req, res: Res) => {
    const url = new URL(req.url ?? "/", "http://console.invalid");
    if (PROCEDURE_PATH.test(url.pathname)) {
      rpcHandler(req, res);
      return;
    }
    const send = (status: number, headers: Record<string, string>, body?: Buffer | string): void => {
      res.writeHead(status, { ...SECURITY_HEADERS, ...headers });
      if (req.method === "HEAD" || body === undefined) res.end();
      else res.end(body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" }, "method not allowed\n");
      return;
    }
    const file = files.get(url.pathname === "/" ? "/index.html" : url.pathname);
    if (!file) {
      send(404, { "content-type": "text/plain; charset=utf-8" }, "not found\n");
      return;
    }
    // The page itself is always revalidated, so an upgrade's new asset names are picked up at once.
    send(200, { "content-type": file.contentType, "content-length": String(file.body.length), "cache-control": "no-cache" }, file.body);
  };
}

export async function startConsoleServer(opts: ConsoleServerOptions): Promise<RunningHttpServer> {
  const files = new Map(loadStaticFiles(opts.assetsDir));
  files.set("/console-config.json", {
    body: Buffer.from(JSON.stringify({ natsPrefix: opts.settings.natsPrefix })),
    contentType: "application/json; charset=utf-8",
  });
  return startHttpServer({ ...opts.http, handler: consoleHandler(opts.rpcHandler, files), host: opts.host, port: opts.port });
}
