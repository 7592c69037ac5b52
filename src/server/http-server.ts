/**
 * One TCP port for HTTP/2 cleartext and HTTP/1.1: without TLS there is no ALPN, so each connection's first bytes
 * decide (the HTTP/2 preface starts with "PRI"). Tracks connections so close() can drain them gracefully.
 */
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { NodeHandler } from "./connect-handler.js";

export interface HttpServerOptions {
  handler: NodeHandler;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** A connection that sends nothing this long is dropped before any HTTP server sees it. */
  sniffTimeoutMs?: number;
}

export interface RunningHttpServer {
  readonly port: number;
  /**
   * Stops accepting connections, lets in-flight requests finish for up to graceMs, then calls onGraceExpired
   * (e.g. abort the handlers' shutdown signal) and destroys whatever is still open after forceAfterMs more.
   * Resolves when every connection is closed.
   */
  close(graceMs: number, onGraceExpired?: () => void, forceAfterMs?: number): Promise<void>;
}

export async function startHttpServer(opts: HttpServerOptions): Promise<RunningHttpServer> {
  let closing = false;
  const sessions = new Set<http2.ServerHttp2Session>();
  const sockets = new Set<net.Socket>();
  const unsniffed = new Set<net.Socket>();

  const h2 = http2.createServer({}, opts.handler);
  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    // A connection sniffed after close() began gets GOAWAY at once.
    if (closing) session.close();
  });
  const h1Active = new Set<http.ServerResponse>();
  const h1 = http.createServer((req, res) => {
    h1Active.add(res);
    res.once("close", () => h1Active.delete(res));
    // While draining, answer but do not keep the connection for another request.
    if (closing) res.shouldKeepAlive = false;
    opts.handler(req, res);
  });
  const drainH1 = (): void => {
    h1.closeIdleConnections();
    for (const res of h1Active) {
      if (!res.headersSent) res.shouldKeepAlive = false;
      // Headers already out with keep-alive: the connection turns idle after this response; close it then.
      else res.once("finish", () => setImmediate(() => h1.closeIdleConnections()));
    }
  };

  const front = net.createServer((socket) => {
    sockets.add(socket);
    unsniffed.add(socket);
    socket.once("close", () => {
      sockets.delete(socket);
      unsniffed.delete(socket);
    });
    // Resets before hand-over would otherwise be unhandled 'error' events; after it, the HTTP servers handle them.
    socket.on("error", () => {});
    const silent = (): void => void socket.destroy();
    socket.setTimeout(opts.sniffTimeoutMs ?? 10_000, silent);
    let head = Buffer.alloc(0);
    const sniff = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      // Three bytes tell "PRI" (HTTP/2 preface) from every HTTP/1.1 method, including POST, PUT and PATCH.
      if (head.length < 3) return;
      socket.off("data", sniff);
      socket.setTimeout(0);
      socket.off("timeout", silent);
      unsniffed.delete(socket);
      socket.pause();
      socket.unshift(head);
      (head.subarray(0, 3).toString("latin1") === "PRI" ? h2 : h1).emit("connection", socket);
      process.nextTick(() => socket.resume());
    };
    socket.on("data", sniff);
  });

  await new Promise<void>((resolve, reject) => {
    front.once("error", reject);
    front.listen(opts.port, opts.host, () => {
      front.off("error", reject);
      resolve();
    });
  });
  const address = front.address();
  const port = typeof address === "object" && address !== null ? address.port : opts.port;

  let closed: Promise<void> | undefined;
  const close = (graceMs: number, onGraceExpired?: () => void, forceAfterMs = 500): Promise<void> => {
    closed ??= new Promise<void>((resolve) => {
      closing = true;
      const timers: NodeJS.Timeout[] = [];
      // net.Server's callback fires once every connection it accepted has closed, whichever server served it.
      front.close(() => {
        for (const t of timers) clearTimeout(t);
        resolve();
      });
      for (const s of unsniffed) s.destroy();
      for (const s of sessions) s.close();
      drainH1();
      timers.push(
        setTimeout(() => {
          onGraceExpired?.();
          timers.push(
            setTimeout(() => {
              for (const s of sessions) s.destroy();
              for (const s of sockets) s.destroy();
            }, forceAfterMs),
          );
        }, graceMs),
      );
    });
    return closed;
  };

  return { port, close };
}
